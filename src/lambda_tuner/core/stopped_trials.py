"""What a memory change its guards rolled back rules out, and for how long.

A change of memory is undone when a rollback alarm of its fires. A trial (a canary, or one bounded step
on all traffic; kind "experiment") has its own stops: its p99 or its mean duration past them, or errors.
An ordinary move (kind "memory": the model's best estimate, on all traffic) has the guards of any change:
its p99 well above what it projected, errors, throttles, durations near the timeout. Either way that is
an answer: a trial too slow at 576 MB, tried from 1,141 MB, says less memory is no better; one too costly
above the size in force says more is no cheaper; a move to 1,408 MB its p99 alarm undid says the same of
1,408 MB. The model would not know it for long, or at all: the day a trial measured leaves the
decision's look-back after `lookback_days`, and a move, whose alarms judge minutes, is rolled back within
the hour it was made, an hour that straddles two changes and that collection drops (epochs.py): no epoch
at its size remains. The model would make the same change again, the next day or every few weeks, the
user paying for the slow hours and reading a rollback notice each time. So the agent remembers the
rollback itself: one its guards made (a person's revert, `reverted_by`, judges nothing about the size),
of memory (a provisioned concurrency change rolled back says nothing about where memory should go).

Where the observations hold what it measured (its calls at its size, from the change to its rollback:
`in_epochs`), the model weighs them as it weighs everything else (`optimizer.decide_memory`). Where they
do not, a change rolled back by its guards rules out its size, the sizes near it (within
`NEAR_OBSERVED_LOG2`, where a trial teaches little new: 608 MB after 576 MB) and every size beyond it,
away from the size it was made from, until `STOPPED_FOR` after its rollback: as the target of a trial or
of a move alike (never the size in force: a rule about where to go does not push a function away from
where it is). 90 days: long enough that a settled function is not tried again every few weeks (six
look-backs of 14 days), short enough that a slow drift of its traffic or of Lambda's hardware gets a
fresh look each quarter. A new deployment can behave differently: a change rolled back on other code
(its CodeSha256 differs from the one in force now) rules nothing out.

Pure: the cycle reads what the apply function stored when it rolled the change back (the recommendation
ROLLED_BACK by an alarm, with what it put back) and passes it in; `now` is a parameter. The names say
"trial" and "stop" for both kinds: the rule was made for trials first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from lambda_tuner.core.exploration import NEAR_OBSERVED_LOG2, BoolArray
from lambda_tuner.core.fitting import FloatArray
from lambda_tuner.core.models import Epoch, Frozen, Observations, Recommendation

STOPPED_FOR = timedelta(days=90)
# How long before its rollback a change may have been proposed (a trial's day, a wait for its hand-over
# or a person's approval): how far back the recommendations are read beyond STOPPED_FOR
PROPOSED_BEFORE_STOP = timedelta(days=14)
# the name of the constraint in the evaluation (and in a reason's `decided_by`, which a person reads)
MASK = "earlier rollback"
# The kinds whose rollback by their guards says something about memory: they change it on all traffic
# (or on a canary's share); the others (provisioned concurrency) leave memory where it is.
MEMORY_CHANGES = ("experiment", "memory")


class StoppedTrial(Frozen):
    """A memory change (an experiment, or an ordinary move) a rollback alarm undid: from `from_mb` (the
    size in force) to `trial_mb` (the size it set)."""

    function: str
    from_mb: int
    trial_mb: int
    stopped_at: datetime
    code_sha256: str | None = None  # the code in force at the trial (None: not recorded)
    alarm: str = ""
    tried_at: datetime | None = None  # when the change was made (None: not known, any time before its stop)
    recommendation_id: str | None = None  # the rolled-back change's (a verdict on it is remembered by it)

    @property
    def until(self) -> datetime:
        return self.stopped_at + STOPPED_FOR

    @property
    def less(self) -> bool:
        """Whether it tried less memory than the size in force."""
        return self.trial_mb < self.from_mb


def stopped_trial(
    rec: Recommendation, attrs: Mapping[str, Any], updated_at: datetime | None = None
) -> StoppedTrial | None:
    """The stopped trial a ROLLED_BACK recommendation records, or None when it is none: not a memory
    change (`MEMORY_CHANGES`), or undone by a person (a revert, `reverted_by`) rather than by its guards
    (`rolled_back_by`: the alarm). `attrs` are what its transitions stored (`before`: what the change
    found, its code among it; `applied_at`: when it was made; `rollback_claim`: the alarm event's time);
    rollbacks recorded before claims carried a time are dated by the item's last update, else by the
    recommendation's creation (which also stands for when it was made, where that is not stored)."""
    alarm = attrs.get("rolled_back_by")
    trial, start = rec.proposed.get("memory_mb"), rec.current.get("memory_mb")
    if rec.kind not in MEMORY_CHANGES or not alarm:
        return None
    if not isinstance(trial, int) or not isinstance(start, int) or trial == start:
        return None
    claim = attrs.get("rollback_claim")
    at = claim.get("at") if isinstance(claim, Mapping) else None
    when = datetime.fromisoformat(at) if isinstance(at, str) else updated_at or rec.created_at
    before = attrs.get("before")
    code = before.get("code_sha256") if isinstance(before, Mapping) else None
    applied = attrs.get("applied_at")
    return StoppedTrial(
        function=rec.function,
        from_mb=start,
        trial_mb=trial,
        stopped_at=when,
        code_sha256=code if isinstance(code, str) else None,
        alarm=str(alarm),
        tried_at=datetime.fromisoformat(applied) if isinstance(applied, str) else rec.created_at,
        recommendation_id=rec.id,
    )


def in_epochs(trial: StoppedTrial, obs: Observations) -> bool:
    """Whether the observations hold what the change measured: its rollback inside their window, and an
    epoch at its size from its time (from `tried_at` to its stop). The model weighs those; a stop whose
    calls they do not hold (rolled back within its first hour, or its day out of the look-back) is left
    to this module's rule."""
    if not obs.window_start <= trial.stopped_at <= obs.window_end:
        return False
    since = trial.tried_at or obs.window_start
    return any(
        e.memory_mb == trial.trial_mb and e.start < trial.stopped_at and e.end > since for e in obs.epochs
    )


def in_force(
    trials: Sequence[StoppedTrial], code_sha256: str | None, now: datetime
) -> tuple[StoppedTrial, ...]:
    """The stops that still rule something out: rolled back less than STOPPED_FOR ago, on the code in force
    now (where either code is unknown, the stop is honoured: caution costs a trial, a retry a rollback)."""
    return tuple(
        t
        for t in trials
        if t.stopped_at <= now < t.until
        and (t.code_sha256 is None or code_sha256 is None or t.code_sha256 == code_sha256)
    )


def ruled_out(memory_mb: FloatArray, trials: Sequence[StoppedTrial], current_mb: int) -> BoolArray:
    """Sizes a stop rules out: its own, those near it, all beyond it away from the size it was changed
    from (never that size, nor the size in force)."""
    out = np.zeros(memory_mb.shape, dtype=bool)
    margin = 2.0**NEAR_OBSERVED_LOG2
    for t in trials:
        if t.less:
            out |= (memory_mb <= t.trial_mb * margin) & (memory_mb < t.from_mb)
        else:
            out |= (memory_mb >= t.trial_mb / margin) & (memory_mb > t.from_mb)
    return np.asarray(out & (memory_mb != current_mb), dtype=bool)


def rules_out(trial: StoppedTrial, memory_mb: int) -> bool:
    """`ruled_out` for one trial and one size."""
    return bool(ruled_out(np.array([float(memory_mb)]), [trial], current_mb=0)[0])


def stopped_text(trial: StoppedTrial) -> str:
    """What the rollback said and until when it holds, in the words of a reason (the same words for a
    trial and a move: the user was told of both as "Rolled back")."""
    way = "less" if trial.less else "more"
    return (
        f"a change to {trial.trial_mb} MB was rolled back by its guards on {trial.stopped_at:%Y-%m-%d}: "
        f"it and {way} memory are ruled out until {trial.until:%Y-%m-%d} or a code change"
    )


def stops_said(trials: Sequence[StoppedTrial], instead_mb: int | None) -> str:
    """The stops a reason names: those that rule out `instead_mb` (where the decision would have gone
    without them), else every one in force; the latest first."""
    named = [t for t in trials if instead_mb is not None and rules_out(t, instead_mb)] or list(trials)
    return "; ".join(stopped_text(t) for t in sorted(named, key=lambda t: t.stopped_at, reverse=True))


# A rollback the size it restored did not end: at least this much slower there after it than before the
# change, in p99 or in mean duration (see `not_about_memory`)
SLOWER_AFTER = 1.5
MIN_AFTER_PERIODS = 6  # hourly periods at the restored size after the rollback before it is judged
# How soon after the rollback the epoch judged must begin: collection drops the hour it falls in, and the
# next begins within the hour. A later start: the hours right after it are not in the epochs
RIGHT_AFTER = timedelta(hours=2)
# Where the function's state keeps the stops set aside: recommendation id -> the last day it would hold
SET_ASIDE_KEY = "stops_set_aside"
# Where it keeps the code in force and since when the agent has seen it: {"code": ..., "since": ...}
CODE_SEEN_KEY = "code_seen"


def code_seen(remembered: Any, code: str | None, now: datetime) -> dict[str, str | None] | None:
    """What the state keeps of the code in force (CODE_SEEN_KEY): as before while it is unchanged; since
    `now` when it changed since the last cycle; since unknown (None) when first seen, for it may have run
    since before the look-back. None when the code is not known."""
    if code is None:
        return None
    last = remembered.get("code") if isinstance(remembered, Mapping) else None
    if last == code:
        since = remembered.get("since") if isinstance(remembered, Mapping) else None
        return {"code": code, "since": since if isinstance(since, str) else None}
    return {"code": code, "since": now.isoformat() if last else None}


def code_since(remembered: Any, code: str | None, now: datetime) -> datetime | None:
    """From when the epochs are surely on the code in force (`code_seen`'s `since`); None: not known to be
    newer than the look-back."""
    seen = code_seen(remembered, code, now)
    since = seen.get("since") if seen else None
    return datetime.fromisoformat(since) if since else None


def not_about_memory(trial: StoppedTrial, obs: Observations, since: datetime | None = None) -> bool:
    """Whether the rollback says nothing about memory: the size it restored (`from_mb`) stayed slow after
    it, at least SLOWER_AFTER x its p99 or its mean duration before the change. After it: the epoch that
    begins within RIGHT_AFTER of the rollback and runs to the next change (a later incident is no verdict
    on this one). Before it: every epoch at that size before the change in the window, weighted by calls,
    which is what the alarms' thresholds were set from (the model's fit of them, and the baseline p99).

    An alarm can fire for what happens beside the change: a bad dependency, a slow downstream, a surge.
    The rollback then restores the old size and the function stays as slow there; a rule out of the
    changed-to size for 90 days would be about that incident, not about memory. A rollback that did bring
    latency back (the usual case) stays a stop. The margin, against the alarms' own thresholds: a move's
    p99 alarm sits at 1.5 x the upper bound of the p99 it projected (adapters/alarms.py, P99_MARGIN), so
    an incident that trips it on its own has made the function at least about 1.5 x slower, and the
    restored size shows as much. An experiment's stops sit nearer (its p99 stop inside the 10 % allowance,
    its hourly gross alarm 1.25 x that, its cost stop at the top of the model's interval for the mean):
    an incident milder than 1.5 x can stop it, and is not told apart from a size that was too slow, so the
    stop is kept (caution: it costs a trial not made; a stop wrongly set aside costs another rollback). On
    the other side, day to day a function's mean moves by about 3 % (fitting.DAY_NOISE) and a day's p99 by
    a little more (MIN_P99_RATIO_SD, 5 %): 1.5 x (0.41 in logs) is some eight such deviations, so no
    ordinary day after a rollback passes for an incident. A short incident, over before most of the calls
    after the rollback, averages below the margin: kept too. The same holds for a canary: its ratio stops
    compare it with the live version in the same hours and do not fire when an incident slows both, but
    its hourly gross p99 alarm, its errors and its timeouts are absolute and can.

    Where the epochs cannot tell, the stop is kept: no epoch at the restored size before the change, or
    none right after the rollback (no calls then, or the changed size's epoch running on past it, which
    belies the rollback's time) at that size with MIN_AFTER_PERIODS hours of calls (six: the window of an
    experiment's stop). Once the rollback's day has left the look-back they cannot tell any more: the
    verdict is remembered (`set_aside`).

    Epochs do not know the code (collection splits them at memory changes only): `since`, when the code in
    force was first seen (`code_since`), leaves out the epochs that began before it. A deploy that made
    the function slower just before the change would otherwise read, after a rollback that rightly undid
    a size too slow, as an incident: the size restored as slow as since the deploy, but 1.5 x slower than
    weeks of the old code."""
    made = trial.tried_at or trial.stopped_at
    seen = [e for e in obs.epochs if not e.canary and e.invocations > 0]
    before = [e for e in seen if e.memory_mb == trial.from_mb and e.end <= made]
    before = [e for e in before if since is None or e.start >= since]
    after = next((e for e in seen if e.start >= trial.stopped_at), None)
    if not before or after is None or after.start - trial.stopped_at > RIGHT_AFTER:
        return False
    if after.memory_mb != trial.from_mb or after.periods < MIN_AFTER_PERIODS:
        return False
    for stat in ("duration_p99_ms", "duration_avg_ms"):
        was, then = _by_calls(before, stat), _by_calls([after], stat)
        if was is not None and then is not None and then >= SLOWER_AFTER * was:
            return True
    return False


def _by_calls(epochs: Sequence[Epoch], stat: str) -> float | None:
    """One statistic of the epochs (a duration), weighted by their calls; None where none has it."""
    valued = [(float(v), e.invocations) for e in epochs if (v := getattr(e, stat)) is not None]
    calls = sum(n for _, n in valued)
    return sum(v * n for v, n in valued) / calls if calls > 0 else None


def set_aside(
    trials: Sequence[StoppedTrial],
    obs: Observations,
    remembered: Mapping[str, Any] | None,
    since: datetime | None = None,
) -> tuple[StoppedTrial, ...]:
    """The stops among `trials` that are not held against memory: those the function's state remembers
    so (`remembered`: SET_ASIDE_KEY's value), and those the epochs show so now (`not_about_memory`, on
    the epochs from `since`)."""
    known = remembered if isinstance(remembered, Mapping) else {}
    return tuple(t for t in trials if t.recommendation_id in known or not_about_memory(t, obs, since))


def remember_set_aside(
    trials: Sequence[StoppedTrial],
    obs: Observations,
    remembered: Mapping[str, Any] | None,
    now: datetime,
    since: datetime | None = None,
) -> dict[str, str]:
    """What the state keeps (SET_ASIDE_KEY): the stops set aside, by the recommendation id of the change
    rolled back, with the last day the stop would have held; those past it are dropped."""
    kept = {
        str(k): str(v)
        for k, v in (remembered.items() if isinstance(remembered, Mapping) else ())
        if isinstance(v, str) and v >= f"{now:%Y-%m-%d}"
    }
    for t in set_aside(trials, obs, None, since):
        if t.recommendation_id and t.until > now:
            kept[t.recommendation_id] = f"{t.until:%Y-%m-%d}"
    return kept


def aside_text(trial: StoppedTrial) -> str:
    """What a reason says of a stop set aside."""
    return (
        f"the rollback of the change to {trial.trial_mb} MB on {trial.stopped_at:%Y-%m-%d} is not held "
        f"against {trial.trial_mb} MB: the function stayed as slow at {trial.from_mb} MB after it"
    )
