"""What auto mode may do on its own, pure: mode resolution, step size, change budget, change window."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lambda_tuner.core.canary import canary_of
from lambda_tuner.core.models import EXPERIMENT_KEYS, FunctionPolicy, Mode, Recommendation

CHANGING_KINDS = frozenset({"memory", "provisioned_concurrency", "experiment"})
Route = Literal["skip", "record", "approve", "apply"]
RESUME = "resume"  # the actor of an approved change the cycle hands to the apply function again
# Memory sizes closer than this (log2, ~15 %) are one question to a person: exploration.NEAR_OBSERVED_LOG2,
# where a trial teaches little new (not imported: the apply function loads this module without numpy)
SAME_SIZE_LOG2 = 0.2


class Guardrails(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_step_factor: float = Field(default=2.0, ge=1.0)
    max_changes_per_cycle: int = Field(default=5, ge=0)
    change_window_utc: str | None = None


class RouteDecision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    recommendation_id: str
    route: Route
    reason: str


def resolve_mode(account: Mode, policy: FunctionPolicy | None, kill_switch: bool) -> Mode:
    """Account default, overridden by the function's tag; a bad tag or the kill switch stop changes."""
    mode = policy.mode if policy is not None and policy.mode is not None else account
    changes_blocked = kill_switch or (policy is not None and bool(policy.errors))
    if changes_blocked and mode in ("approve", "auto"):
        return "recommend"
    return mode


def apply_refusal(tagged_mode: Mode | None, actor: str, approver: str | None = None) -> str | None:
    """Why an approved change must not be made, judged by the function's `mode` tag as it is now (the
    apply function reads it just before the change; the collector re-reads tags only on its rolling
    refresh). No tag: the account mode, under which the change was proposed, stands.

    `actor` asks for the change now. The cycle re-sends approved changes whose apply never started as
    `RESUME`; then `approver`, who approved it in the first place, is what mode=approve judges (a
    person's approval stands, the agent's own does not; unknown counts as the agent's)."""
    if tagged_mode in ("off", "recommend"):
        return f"the function is now tagged mode={tagged_mode}: nothing was applied"
    approved_by = (approver or RESUME) if actor == RESUME else actor
    if tagged_mode == "approve" and approved_by in ("agent", RESUME):
        return "the function is now tagged mode=approve: it waits for a person's approval, not the agent's"
    return None


def approver(attrs: Mapping[str, object]) -> str:
    """Who approved a change, from what its stored item records (`attrs`): the approval page records
    `decided_by` (a person: "approval"), the apply function `approved_by` when auto mode approves its
    own pending change; the cycle stores auto-mode changes APPROVED with neither, so no mark means the
    agent."""
    if attrs.get("approved_by"):
        return str(attrs["approved_by"])
    return "approval" if attrs.get("decided_by") else "agent"


def parse_window(text: str) -> tuple[time, time]:
    """`"HH:MM-HH:MM"` (UTC) → (start, end); the window may wrap past midnight."""
    try:
        start_text, end_text = text.split("-")
        start, end = time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip())
    except ValueError as exc:
        raise ValueError(f"change window {text!r} is not of the form HH:MM-HH:MM (UTC)") from exc
    if start == end:
        raise ValueError(f"change window {text!r} is empty (start equals end)")
    return start, end


def in_window(window: str | None, now: datetime) -> bool:
    if window is None or not window.strip():
        return True
    start, end = parse_window(window)
    t = (now if now.tzinfo is None else now.astimezone(UTC)).time()  # naive times are taken as UTC
    return start <= t < end if start < end else (t >= start or t < end)


def step_factor(rec: Recommendation) -> float:
    """How far the proposal moves each changed number (≥ 1); counts from 1 so 0 → n is n×. An
    experiment's limits (its days, stops, share of an alias) bound the trial; they are not steps.

    A canary leaves the size in force alone: its size counts from the nearest size known, the size in
    force or the range of those measured so far (inside it, no step), as the optimizer bounds it (one step
    beyond the sizes measured: optimizer._trial_reach). Counted from the size in force alone, a canary the
    optimizer proposes one step beyond a size it measured was asked of a person every time it came up.
    A trial on all traffic moves the size in force, and counts from it like any change."""
    measured = _measured(rec) if canary_of(rec) is not None else ()
    factor = 1.0
    for key, new in rec.proposed.items():
        if key in EXPERIMENT_KEYS:
            continue
        old = rec.current.get(key)
        if isinstance(new, int | float) and isinstance(old, int | float):
            step = _ratio(float(old), float(new))
            if key == "memory_mb" and measured:  # how far beyond their range (1 inside it)
                size = max(float(new), 1.0)
                step = min(step, max(min(measured) / size, size / max(measured), 1.0))
            factor = max(factor, step)
        elif new != old:
            factor = float("inf")  # a schedule or other structured change is never "a small step"
    return factor


def _ratio(a: float, b: float) -> float:
    lo, hi = sorted((max(a, 1.0), max(b, 1.0)))
    return hi / lo


def _measured(rec: Recommendation) -> tuple[float, ...]:
    """The memory sizes the decision had measurements of: its chart marks every size of the fit it was
    made on (memory_reason.chart), the very sizes the optimizer bounds a canary by. None marked (no
    chart): only the size in force counts."""
    return tuple(float(p.memory_mb) for p in rec.chart if p.observed)


def _saving(rec: Recommendation) -> float:
    return rec.monthly_saving_usd.expected if rec.monthly_saving_usd is not None else 0.0


def takes_schedule_off(rec: Recommendation) -> bool:
    """Whether `rec` only takes the agent's own PC schedule off (core.decide: PC someone else scales)."""
    return rec.kind == "provisioned_concurrency" and rec.proposed == {"pc_schedule": "[]"}


def same_change(rec: Recommendation, earlier: Recommendation) -> bool:
    """Whether `rec` asks for what `earlier` asked for: the same kind of change to the same function and
    qualifier, from the same settings, to the same ones — a memory size within SAME_SIZE_LOG2 of it
    counts as the same (a move is proposed at 1 MB resolution and a trial's stops move a little with each
    day's data: a person who said no to 1,024 → 513 MB was not asked anything new by 1,024 → 509 MB), and
    so does a PC level one instance from it, or within SAME_SIZE_LOG2 (a static plan moves by an instance
    as the days' traffic does: 10 → 6 rejected is not a new question as 10 → 7). From the PC in force
    then: a level its team set since makes a new question."""
    if (rec.function, rec.kind, rec.qualifier) != (earlier.function, earlier.kind, earlier.qualifier):
        return False
    if any(rec.current.get(key) != earlier.current.get(key) for key in ("memory_mb", "pc")):
        return False
    if not _near(
        rec.proposed.get("memory_mb"), earlier.proposed.get("memory_mb"), rec.current.get("memory_mb")
    ):
        return False
    new_pc, old_pc, pc_now = rec.proposed.get("pc"), earlier.proposed.get("pc"), rec.current.get("pc")
    if not (_near(new_pc, old_pc, pc_now) or _one_instance_apart(new_pc, old_pc, pc_now)):
        return False
    return _settings(rec) == _settings(earlier)


def _near(new: object, old: object, current: object) -> bool:
    """Two proposed memory sizes close enough to be one question, on the same side of the size in force."""
    if not (
        isinstance(new, int | float) and isinstance(old, int | float) and isinstance(current, int | float)
    ):
        return new == old
    if min(new, old) <= 0:
        return new == old
    return abs(math.log2(new / old)) < SAME_SIZE_LOG2 and (new - current) * (old - current) > 0


SIZES = frozenset({"memory_mb", "pc"})  # compared as near, not equal (`same_change`)


def _one_instance_apart(new: object, old: object, current: object) -> bool:
    """Two proposed PC levels an instance apart, on the same side of the level in force."""
    if not (isinstance(new, int) and isinstance(old, int) and isinstance(current, int)):
        return False
    return abs(new - old) <= 1 and (new - current) * (old - current) > 0


def _settings(rec: Recommendation) -> dict[str, object]:
    """What a change sets besides memory and a PC level (a PC schedule, the version PC sits on), without a
    trial's stops and share."""
    return {k: v for k, v in rec.proposed.items() if k not in EXPERIMENT_KEYS and k not in SIZES}


def first_change(changes: Sequence[Recommendation]) -> Recommendation | None:
    """Of one function's changes in a cycle, the one to make first; the others wait for it (one change at
    a time per function: the apply step ends a running canary before any other change to its function,
    and a person approving a second change of the same email would find the function changed under it).
    Taking the agent's PC schedule off comes first, since it fights a team's scaling now; then the
    largest expected saving."""
    return max(changes, key=lambda r: (takes_schedule_off(r), _saving(r)), default=None)


def route(
    recs: Sequence[Recommendation],
    modes: Mapping[str, Mode],
    rails: Guardrails,
    now: datetime,
    *,
    made: int = 0,
    rejected_before: Mapping[str, datetime] | None = None,
) -> list[RouteDecision]:
    """Per recommendation: skip, record only, ask for approval, or apply now (auto, within guardrails).

    Auto-mode changes are budgeted largest expected saving first; whatever does not fit the step
    factor, the per-cycle budget or the change window becomes an approval request instead. `made`: the
    automatic changes this cycle has made already (its own approved earlier ones, sent again: see
    `resume_holds`), which the budget counts first. `rejected_before`: recommendation id -> when a person
    rejected a change like it (`same_change`); auto mode asks a person again rather than overrule them.
    """
    window_open = in_window(rails.change_window_utc, now)
    budget = rails.max_changes_per_cycle - made
    decisions: dict[str, RouteDecision] = {}
    for rec in sorted(recs, key=_saving, reverse=True):
        mode = modes.get(rec.function, "recommend")
        said_no = (rejected_before or {}).get(rec.id)
        decision = _route_one(rec, mode, rails, window_open, budget, said_no)
        if decision.route == "apply":
            budget -= 1
        decisions[rec.id] = decision
    return [decisions[r.id] for r in recs]


def _route_one(  # noqa: PLR0917 - the routing's inputs, each needed
    rec: Recommendation,
    mode: Mode,
    rails: Guardrails,
    window_open: bool,
    budget: int,
    said_no: datetime | None = None,
) -> RouteDecision:
    def made(route: Route, reason: str) -> RouteDecision:
        return RouteDecision(recommendation_id=rec.id, route=route, reason=reason)

    if mode == "off":
        return made("skip", "mode is off for this function")
    if rec.kind not in CHANGING_KINDS:
        return made("record", f"{rec.kind}: nothing to apply")
    if mode != "auto":
        return (
            made("approve", "mode approve: a person decides")
            if mode == "approve"
            else made("record", "recommend-only")
        )
    if said_no is not None:
        return made("approve", f"a person rejected a change like it on {said_no:%Y-%m-%d}: a person decides")
    blocker = _auto_blocker(rec, rails, window_open, budget)
    return made("approve", blocker) if blocker else made("apply", "auto mode, within guardrails")


def _auto_blocker(rec: Recommendation, rails: Guardrails, window_open: bool, budget: int) -> str | None:
    factor = step_factor(rec)
    if factor == float("inf"):
        return "a schedule is not a step the auto mode measures: a person decides"
    if factor > rails.max_step_factor:
        # rounded up, to the hundredth: a 2.04x step shown as "2×" would read as within a 2x limit
        shown = math.ceil(round(factor * 100, 6)) / 100
        limit = f"exceeds the auto limit {rails.max_step_factor:g}×"
        if canary_of(rec) is not None:
            return f"a canary {shown:g}× from the nearest size measured or in force {limit}"
        return f"step {shown:g}× {limit}"
    return _timing_blocker(rails, window_open, budget)


def _timing_blocker(rails: Guardrails, window_open: bool, budget: int) -> str | None:
    """What keeps an automatic change out of this cycle: the hour, or the changes made already."""
    if not window_open:
        return f"outside the change window {rails.change_window_utc} UTC"
    if budget <= 0:
        return f"over the budget of {rails.max_changes_per_cycle} automatic changes per cycle"
    return None


def resume_holds(
    recs: Sequence[Recommendation], approvers: Mapping[str, str], rails: Guardrails, now: datetime
) -> dict[str, str]:
    """Of the approved changes a cycle sends to the apply function again (`recs`: the first hand-over
    failed), those that wait for a later cycle, each with why.

    The agent's own (auto mode; `approvers`: who approved each, see `approver`) keep to what auto mode
    keeps to whenever they are made: inside the change window, and within the cycle's budget of
    automatic changes, largest saving first, ahead of the cycle's new changes (which get what is left,
    see `route`'s `made`). Sent late at any hour, they would make the change the window exists to keep
    out of business hours. A person's approval waits for nothing: the window and the budget are auto
    mode's settings, a person decided when to approve, and the approval page says the next cycle
    retries it."""
    window_open = in_window(rails.change_window_utc, now)
    budget = rails.max_changes_per_cycle
    held: dict[str, str] = {}
    for rec in sorted(recs, key=_saving, reverse=True):
        if approvers.get(rec.id, "agent") == "approval":
            continue
        if blocker := _timing_blocker(rails, window_open, budget):
            held[rec.id] = blocker
        else:
            budget -= 1
    return held


def template_change(manager: str, rec: Recommendation) -> str:
    """The template edit that makes the recommendation stick (a direct change would drift)."""
    tool, _, stack = manager.partition(":")
    where = f" in stack {stack}" if stack else ""
    changes = []
    for key, value in rec.proposed.items():
        if key not in ("memory_mb", "pc", "pc_schedule"):
            continue  # an experiment's limits and other notes are not template properties
        if key == "memory_mb":
            prop = "memory_size" if tool == "terraform" else "MemorySize"
        elif key == "pc":
            prop = (
                "provisioned_concurrent_executions (aws_lambda_provisioned_concurrency_config)"
                if tool == "terraform"
                else "ProvisionedConcurrencyConfig.ProvisionedConcurrentExecutions"
            )
        else:
            prop = (
                "an Application Auto Scaling scheduled action (AWS::ApplicationAutoScaling::ScalableTarget)"
            )
        changes.append(f"set {prop} = {value}")
    resource = "aws_lambda_function" if tool == "terraform" else "the function's resource"
    return f"{rec.function} is managed by {tool}{where}: {'; '.join(changes)} on {resource}, then deploy."
