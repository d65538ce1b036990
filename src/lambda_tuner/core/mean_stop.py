"""An experiment's cost guard: the mean duration at which it is stopped.

An experiment is limited in time (its days) and in cost. A call costs its duration times its memory,
so a trial costs more than the model promised exactly when its mean duration is longer than promised
at the size tried. The stop sits at the upper end of the model's interval for that mean (EDGE), widened
by MARGIN_SD sampling errors of one alarm window's mean, so that a trial the model got right is
rarely stopped and one it got wrong is ended within hours, not after its day.

A canary is judged as the ratio of its mean to the live version's in the same hours (the day's drift
cancels); a trial on all traffic against a fixed duration, the model's interval there including the
day-to-day noise.
"""

from __future__ import annotations

import math

import numpy as np

from lambda_tuner.core.cost import MONTH_DAYS
from lambda_tuner.core.fitting import DurationFit
from lambda_tuner.core.memory_types import Evaluation

EDGE = 97.5  # percentile of the model's draws the stop starts from
MARGIN_SD = 2.0  # sampling errors of one window's mean added above it
WINDOW_SHARE = 0.25  # the alarms judge six-hour windows: a quarter of a day's calls
P99_Z = 2.326  # the standard normal's 99th percentile (a lognormal tail's p99 over its median)
UNKNOWN_CV = 1.0  # coefficient of variation assumed when no p99 was measured at the size in force


def log_spread(p99_over_mean: float) -> float:
    """The log-spread (sigma) of a lognormal tail whose p99 is `p99_over_mean` x the mean."""
    return math.log(max(p99_over_mean, 1.0)) / P99_Z


def duration_cv(fit: DurationFit, memory_mb: int) -> float:
    """The spread of single calls' durations (sd over mean) at a measured size, from its p99 over its
    mean read as a lognormal tail; UNKNOWN_CV when the size's p99 was not measured."""
    size = fit.size(memory_mb)
    if size is None or size.p99_ratio is None:
        return UNKNOWN_CV
    sigma = log_spread(size.p99_ratio)
    return math.sqrt(math.expm1(sigma * sigma))


def _window_calls(ev: Evaluation) -> float:
    return ev.invocations_per_month / MONTH_DAYS * WINDOW_SHARE


def canary_mean_ratio_stop(ev: Evaluation, fit: DurationFit, index: int, weight: float) -> float:
    """A canary on `weight` of the calls at size `index`: stop when its mean over the live version's
    (the size in force), in one window, passes this."""
    ratio = ev.draws.mean[:, index] / ev.draws.mean[:, ev.current]
    calls = _window_calls(ev)
    cv = duration_cv(fit, int(ev.memory_mb[ev.current]))
    se = cv * math.sqrt(1 / max(weight * calls, 1.0) + 1 / max((1 - weight) * calls, 1.0))
    return float(np.percentile(ratio, EDGE)) * math.exp(MARGIN_SD * se)


def mean_stop_ms(ev: Evaluation, fit: DurationFit, index: int, weight: float | None) -> float:
    """A trial at size `index` on `weight` of the calls (None: all): stop when one window's mean
    passes this (ms). A canary's own stop is the ratio above; this one serves it only when the live
    version is unpublished ($LATEST), which no metric tells apart from the canary's calls."""
    cv = duration_cv(fit, int(ev.memory_mb[ev.current]))
    se = cv / math.sqrt(max(_window_calls(ev) * (weight or 1.0), 1.0))
    return float(np.percentile(ev.draws.mean_noisy[:, index], EDGE)) * math.exp(MARGIN_SD * se)


def extra_cost_limit(ev: Evaluation, index: int, days: int, weight: float | None) -> float:
    """What the trial may cost over the size in force, in USD over its days on its share of the calls:
    the same upper end of the model's interval the stop starts from."""
    extra = float(np.percentile(ev.cost_noisy[:, index] - ev.cost_noisy[:, ev.current], EDGE))
    return max(0.0, extra) / MONTH_DAYS * days * (weight or 1.0)
