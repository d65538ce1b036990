"""Sizes measured side by side: a canary's epoch and the main traffic's share one window.

Two epochs of one window (a canary day) see the same day: the same hosts, neighbours, downstream
latency and load. The ratio of their means is then known to within the sampling error of each, not to
the day-to-day drift twice over, which is what comparing two different days costs. This module
estimates, from the epochs alone, each observed size's mean relative to a reference size with a
small linear mixed model:

    log mean(epoch) = mu[size] + delta[window] + eps,   delta ~ N(0, day_sd^2),   eps ~ N(0, se_e^2)

solved by generalised least squares (flat prior on mu). Sizes joined to the reference by a chain of
shared windows get a contrast mu[size] - mu[ref] whose error excludes the shared day effects; other
sizes are left to the duration model (their contrast would carry the full drift of two days, which
the model already accounts for).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from lambda_tuner.core.models import Epoch

Window = tuple[datetime, datetime]


@dataclass(frozen=True)
class Contrast:
    memory_mb: int
    log_ratio: float  # log(mean at memory_mb / mean at the reference size)
    sd: float  # its standard error


def _components(epochs: Sequence[Epoch]) -> dict[int, int]:
    """Sizes joined by shared windows (union-find): size -> component label."""
    parent: dict[int, int] = {e.memory_mb: e.memory_mb for e in epochs}

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_window: dict[Window, list[int]] = {}
    for e in epochs:
        by_window.setdefault((e.start, e.end), []).append(e.memory_mb)
    for sizes in by_window.values():
        for other in sizes[1:]:
            parent[root(other)] = root(sizes[0])
    return {size: root(size) for size in parent}


def shared_window_contrasts(
    epochs: Sequence[Epoch], ref_mb: int, day_sd: float, rel_se: Sequence[float]
) -> list[Contrast]:
    """Contrasts against `ref_mb` for the sizes linked to it by shared windows (empty when none are).

    `rel_se[i]` is the relative standard error of `epochs[i]`'s mean from within its own window
    (sampling and hour-to-hour spread); `day_sd` the relative day-to-day drift of one window.
    """
    labels = _components(epochs)
    if ref_mb not in labels:
        return []
    linked = [e for e in epochs if labels[e.memory_mb] == labels[ref_mb]]
    sizes = sorted({e.memory_mb for e in linked})
    if len(sizes) < 2:
        return []
    se = [s for e, s in zip(epochs, rel_se, strict=True) if labels[e.memory_mb] == labels[ref_mb]]
    windows = sorted({(e.start, e.end) for e in linked})
    x = np.array([[float(e.memory_mb == m) for m in sizes] for e in linked])
    z = np.array([[float((e.start, e.end) == w) for w in windows] for e in linked])
    y = np.log([float(e.duration_avg_ms or 0.0) for e in linked])
    v = np.diag(np.square(se)) + day_sd**2 * (z @ z.T)
    v_inv = np.linalg.inv(v)
    info = x.T @ v_inv @ x
    cov = np.linalg.inv(info)
    mu = cov @ (x.T @ v_inv @ y)
    r = sizes.index(ref_mb)
    out = []
    for i, size in enumerate(sizes):
        if i == r:
            continue
        var = cov[i, i] + cov[r, r] - 2 * cov[i, r]
        out.append(Contrast(memory_mb=size, log_ratio=float(mu[i] - mu[r]), sd=math.sqrt(max(var, 0.0))))
    return out


def canary_epochs(epochs: Sequence[Epoch]) -> list[Epoch]:
    """The canaries beside the main traffic: epochs marked `canary`, and in a shared window with none
    marked (built by a caller that does not mark them), those beside one with more calls. Calls alone
    cannot tell them apart when a quiet function's canary takes half the traffic."""
    marked = {(e.start, e.end) for e in epochs if e.canary}
    most: dict[Window, int] = {}
    for e in epochs:
        most[(e.start, e.end)] = max(most.get((e.start, e.end), 0), e.invocations)
    seen: set[Window] = set()
    out = []
    for e in sorted(epochs, key=lambda e: (e.start, -e.invocations)):
        key = (e.start, e.end)
        if e.canary or (key not in marked and (key in seen or e.invocations < most[key])):
            out.append(e)
        seen.add(key)
    return out
