"""What a memory size measured outlives the look-back.

Collection reads the last `lookback_days` (14: CloudWatch keeps its 1-minute data 15 days). A size the
function ran at before that, a trial's day, the size it started at, leaves the model with its day. On a
40-day soak of the demo fleet that undid every settled decision two weeks after it was made:
- trials came back, one step nearer the size in force each time, and were rolled back again (java-orders'
  canaries at 1,056, 1,248 and 1,440 MB from 2,048 MB, every 15 days; search-api, ml-batch-infer alike);
- moves came back and went again (recommendations 1,769 → 1,327 → 1,769 → 2,048 → 1,769 MB, every 15
  days; risk-engine 10,240 → 1,344 → 10,240 MB);
- once the size the `default` strategy's allowance is measured from had gone, the allowance was read
  from a fixed p99 instead of the sizes measured beside it, and a function settled at its edge was
  offered a canary at twice its size ($104 a month more, storefront-api).

So the agent remembers, per memory size it no longer runs at, the last stretch it ran there (its
epoch; a canary's window with the size in force beside it, whose shared day is what makes it a
same-day comparison), in the function's state, and the model sees it again once collection no longer
does: the decision after the look-back is the one made inside it, with the newer days at the size in
force. A remembered stretch is what was measured then, not a guess; it is kept REMEMBERED_FOR (as a
stopped trial is ruled out: long enough that a settled function is not tried again every few weeks,
short enough that a drift of its traffic or of Lambda's hardware gets a fresh look each quarter), and
dropped when the code changes (a deployment can behave differently; the stretch is filed under the code
in force when it was remembered, which a change in the look-back itself can misfile: the look-back
mixes both then, as the model does). A size measured anew in the look-back speaks for itself: what is
remembered of it is not used, and the newest stretch replaces it.

The size in force is not remembered while it is in force: its days are in every look-back. Only the
model's fit and what counts as tried use remembered stretches; traffic, cold starts and the memory floor
are read from the look-back alone (old calls say nothing about this month's bill).

Pure: the cycle keeps the state; `now` is a parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from lambda_tuner.core.models import Epoch, FunctionConfig, Observations

STATE_KEY = "measured_sizes"
REMEMBERED_FOR = timedelta(days=90)
MAX_SIZES = 24  # a settled function has a handful; a bound keeps the state item small whatever happens


def usable(fn: FunctionConfig, epochs: Sequence[Epoch]) -> list[Epoch]:
    """The epochs the duration model can use: the function's architecture, with calls and durations."""
    return [e for e in epochs if e.arch == fn.arch and e.invocations > 0 and e.duration_avg_ms]


def remember(state: Any, fn: FunctionConfig, obs: Observations, now: datetime) -> list[dict[str, Any]]:
    """The stretches to keep after this cycle: those kept before, with the look-back's stretches at sizes
    other than the one in force in their place (a newer stretch at a size replaces the older; the same
    stretch, cut by the look-back's start, does not replace its whole self), less the expired ones and
    those of other code. In the state's JSON form, sorted, so an unchanged memory is an unchanged state."""
    kept = {_key(g): g for g in _load(state) if _current(g, fn, now)}
    for epochs in _stretches(usable(fn, obs.epochs)):
        key = _key_of(epochs)
        if key == fn.memory_mb:
            continue
        group = {"code": fn.code_sha256, "epochs": epochs}
        old = kept.get(key)
        if old is None or _better(epochs, old["epochs"]):
            kept[key] = group
    latest = sorted(kept.values(), key=lambda g: _end(g["epochs"]), reverse=True)[:MAX_SIZES]
    return sorted(
        ({"code": g["code"], "epochs": [e.model_dump(mode="json") for e in g["epochs"]]} for g in latest),
        key=lambda g: (g["epochs"][0]["memory_mb"], g["epochs"][0]["start"]),
    )


def recall(state: Any, fn: FunctionConfig, obs: Observations, now: datetime) -> list[Epoch]:
    """The remembered stretches the look-back no longer holds: wholly before it, at a size it did not
    measure (a canary's window comes with the size in force beside it, its REPORT facts left to the
    look-back's own), within REMEMBERED_FOR, on the code in force."""
    fresh = {e.memory_mb for e in usable(fn, obs.epochs)}
    out: list[Epoch] = []
    for group in _load(state):
        epochs = group["epochs"]
        if not _current(group, fn, now) or _end(epochs) > obs.window_start or _key_of(epochs) in fresh:
            continue
        out += [e.model_copy(update={"reports": None}) if e.memory_mb in fresh else e for e in epochs]
    return sorted(out, key=lambda e: (e.start, e.end, e.memory_mb))


def _stretches(epochs: Sequence[Epoch]) -> list[list[Epoch]]:
    """The epochs as stretches: a canary's window (its epochs share start and end), or one epoch."""
    windows = {(e.start, e.end) for e in epochs if e.canary}
    shared = [[e for e in epochs if (e.start, e.end) == w] for w in sorted(windows)]
    return shared + [[e] for e in epochs if (e.start, e.end) not in windows]


def _key_of(epochs: Sequence[Epoch]) -> int:
    """The size a stretch measured: a canary's trial size, else its one epoch's."""
    return next((e.memory_mb for e in epochs if e.canary), epochs[0].memory_mb)


def _key(group: dict[str, Any]) -> int:
    return _key_of(group["epochs"])


def _end(epochs: Sequence[Epoch]) -> datetime:
    return max(e.end for e in epochs)


def _better(new: Sequence[Epoch], old: Sequence[Epoch]) -> bool:
    """A newer stretch, or the same one (its end) with more of it (the look-back's start cuts it)."""
    if _end(new) != _end(old):
        return _end(new) > _end(old)
    return sum(e.periods for e in new) > sum(e.periods for e in old)


def _current(group: dict[str, Any], fn: FunctionConfig, now: datetime) -> bool:
    """Not expired, and measured on the code in force (either unknown: kept)."""
    code = group["code"]
    same_code = code is None or fn.code_sha256 is None or code == fn.code_sha256
    return same_code and now - _end(group["epochs"]) < REMEMBERED_FOR


def _load(state: Any) -> list[dict[str, Any]]:
    """The remembered stretches in a state; what does not read as such is dropped (it was only a memory)."""
    out = []
    for raw in state if isinstance(state, list) else []:
        try:
            epochs = [Epoch.model_validate(e) for e in raw["epochs"]]
            code = raw.get("code")
        except (KeyError, TypeError, AttributeError, ValidationError):
            continue
        if epochs and (code is None or isinstance(code, str)):
            out.append({"code": code, "epochs": epochs})
    return out
