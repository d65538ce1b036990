"""Provisioned concurrency per alias: remove idle PC, a static level, a weekly/daily schedule, or a
within-hour schedule (the same 5-minute blocks every hour) for functions that burst at fixed minutes.

PC pays for itself only above 60 % utilisation; below that it buys latency, so each function's
cold-start objective (tag) sets λ, the dollar value of one avoided cold start, and every candidate is
scored by projected cost + λ × cold starts on the observed history (`core.pc_candidates`). A schedule
must beat the best static level by a margin to be worth its moving parts, and a within-hour schedule
must beat the better of those two by the same margin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from lambda_tuner.core.models import (
    AliasInfo,
    FunctionConfig,
    Observations,
    PcScheduledAction,
    Reason,
    Recommendation,
)
from lambda_tuner.core.pc_candidates import (
    LAMBDA_GRID,
    History,
    PlanScore,
    build_history,
    hour_lambdas,
    in_place_plan,
    level_plan,
    schedule_plan,
    static_plan,
    within_hour_plan,
)
from lambda_tuner.core.pc_model import ModelParams
from lambda_tuner.core.pc_objective import PcObjective
from lambda_tuner.core.pc_prices import PcPrices
from lambda_tuner.core.pc_reason import (
    burst_text,
    cold_text,
    model_text,
    observed_text,
    projection,
    saving,
)
from lambda_tuner.core.pc_schedule import (
    describe,
    describe_within_hour,
    plan_of,
    schedule_json,
    scheduled_actions,
    within_hour_actions,
)

MIN_HISTORY_HOURS = 24
SCHEDULE_MARGIN = (0.05, 1.0)  # a schedule must beat static by 5 % and $1 a month
CHANGE_MARGIN = (0.02, 1.0)  # below 2 % and $1 a month a change is not worth making
UNRESERVED_FLOOR = 100  # Lambda keeps this much account concurrency unreserved


@dataclass(frozen=True)
class Choice:
    plan: PlanScore
    lam: float
    decided_by: str


def decide_pc(  # noqa: PLR0917 - the signature the other modules were promised
    fn: FunctionConfig,
    alias: AliasInfo | None,
    obs: Observations,
    objective: PcObjective,
    prices: PcPrices,
    now: datetime,
    rec_id: str,
    tz: str = "UTC",
    *,
    unreserved_concurrency: int | None = None,
    keep_alive_min: int = 10,
    in_place: Sequence[PcScheduledAction] = (),
    in_place_on: str | None = None,
) -> Recommendation:
    """One recommendation for the alias (or the function when it has none) serving `obs`. `in_place`: the
    agent's own scheduled actions on that PC, the plan a new one is judged against (the alias reads only
    as the level the last of them set); `in_place_on`: the qualifier they are on (the alias, or the
    version it serves, which reads no PC at an hour when the schedule set 0)."""
    current = current_pc(fn, alias)
    base = _Base(fn, alias, obs, now, rec_id, current, in_place_on)
    mean_ms = mean_duration_ms(obs, fn.memory_mb)
    series = obs.concurrency
    if obs.status != "ok" or series is None or not series.invocations or mean_ms is None:
        why = obs.reason or "no concurrency series with invocation counts and durations"
        return base.insufficient(why)
    cap, cap_text = pc_cap(fn, unreserved_concurrency, current)
    params = ModelParams(memory_mb=fn.memory_mb, keep_alive_min=keep_alive_min)
    history = build_history(series, mean_ms, prices, params, tz=tz, cap=cap, current=current)
    if history.hours < MIN_HISTORY_HOURS:
        why = f"{history.hours} whole hours of concurrency data; PC planning needs {MIN_HISTORY_HOURS}"
        return base.insufficient(why)
    choice = choose(history, objective, prices)
    lam_h = hour_lambdas(history, objective, choice.lam)
    ours = plan_of(in_place, tz) if in_place else None
    placed = in_place_plan(history, ours, lam_h) if ours else None
    before = placed or level_plan(history, current, lam_h)
    ctx = _Texts(history, objective, prices, params, mean_ms, choice, before, cap_text, cap, tz)
    schedule = "read" if placed else "unread" if in_place else ""
    return _recommend(base, choice.plan, before, ctx, schedule=schedule)


def choose(history: History, objective: PcObjective, prices: PcPrices) -> Choice:
    """The plan for the objective; for a cold-start rate, the smallest λ on the grid that meets it."""
    if objective.kind != "max_rate":
        lam = objective.usd_per_cold_start if objective.kind == "usd" else 0.0
        by = objective.describe()
        if objective.kind == "cost":
            by += f": PC only where it pays, above {prices.break_even_utilisation:.0%} utilisation"
        return Choice(_best(history, hour_lambdas(history, objective, lam)), lam, by)
    target = objective.max_rate or 0.0
    plan = _best(history, hour_lambdas(history, objective, 0.0))
    for lam in LAMBDA_GRID:
        plan = _best(history, hour_lambdas(history, objective, lam))
        if plan.cold_rate <= target:
            by = f"{objective.describe()}: the cheapest plan meeting it values a cold start at ${lam:g}"
            return Choice(plan, lam, by)
    return Choice(
        plan, LAMBDA_GRID[-1], f"{objective.describe()}: not reachable (projected {plan.cold_rate:.2%}); "
        "the highest level allowed is proposed"
    )


def _best(history: History, lam_h: NDArray[np.float64]) -> PlanScore:
    static = static_plan(history, lam_h)
    sched = schedule_plan(history, lam_h)
    best = sched if not sched.constant and _beats(sched, static) else static
    within = within_hour_plan(history, lam_h)
    return within if within is not None and _beats(within, best) else best


def _beats(plan: PlanScore, simpler: PlanScore) -> bool:
    margin = max(SCHEDULE_MARGIN[0] * simpler.objective_month, SCHEDULE_MARGIN[1])
    return plan.objective_month < simpler.objective_month - margin


def current_pc(fn: FunctionConfig, alias: AliasInfo | None) -> int:
    if alias is None:
        return 0
    if alias.pc_status == "FAILED":  # nothing was allocated, nothing is billed or drawn from the account
        return alias.pc_allocated or 0
    if alias.pc_requested is not None or alias.pc_allocated is not None:
        return alias.pc_requested if alias.pc_requested is not None else alias.pc_allocated or 0
    return fn.pc_on_versions.get(alias.function_version, 0)


def pc_cap(fn: FunctionConfig, unreserved: int | None, current: int) -> tuple[int | None, str]:
    """PC may not exceed reserved concurrency, nor leave the account under 100 unreserved.

    With no reserved concurrency the function's PC draws on the unreserved pool; the PC it has now is
    assumed to be counted in that pool already, so it can be kept.
    """
    if fn.reserved_concurrency is not None:
        return fn.reserved_concurrency, f"reserved concurrency {fn.reserved_concurrency} caps PC"
    if unreserved is not None:
        cap = max(0, unreserved - UNRESERVED_FLOOR + current)
        return cap, f"account unreserved concurrency {unreserved} (keep {UNRESERVED_FLOOR}) caps PC at {cap}"
    return None, ""


def mean_duration_ms(obs: Observations, memory_mb: int) -> float | None:
    """Invocation-weighted mean duration of the epochs at the current memory (any epoch if none)."""
    epochs = [e for e in obs.epochs if e.duration_avg_ms and e.invocations > 0]
    same = [e for e in epochs if e.memory_mb == memory_mb] or epochs
    calls = sum(e.invocations for e in same)
    if not calls:
        return None
    return sum(e.duration_avg_ms * e.invocations for e in same if e.duration_avg_ms) / calls


@dataclass(frozen=True)
class _Base:
    fn: FunctionConfig
    alias: AliasInfo | None
    obs: Observations
    now: datetime
    rec_id: str
    current: int
    schedule_on: str | None = None

    def insufficient(self, why: str) -> Recommendation:
        reason = _reason("Not enough data to plan PC", why, "", why)
        return self.make("insufficient_data", {"pc": self.current}, reason)

    def make(
        self, kind: str, proposed: Mapping[str, int | float | str | None], reason: Reason, **extra: object
    ) -> Recommendation:
        return Recommendation.model_validate({
            "id": self.rec_id,
            "function": self.fn.name,
            "kind": kind,
            "created_at": self.now,
            "current": self.where(),
            "proposed": dict(proposed),
            "reason": reason,
            "revision_id": self.fn.revision_id,
            "qualifier": self.alias.name if self.alias else self.obs.qualifier,
            **extra,
        })

    def where(self) -> dict[str, int | float | str | None]:
        """The PC level now, and the version it sits on when that is the version the alias serves, not
        the alias: a change must be made there (alarms and metrics stay on the alias, which the traffic
        goes through). The agent's own schedule there counts even at an hour when it set 0."""
        alias = self.alias
        if alias is None or alias.pc_requested is not None or alias.pc_allocated is not None:
            return {"pc": self.current}
        version = alias.function_version
        on_version = self.fn.pc_on_versions.get(version) or self.schedule_on == version
        return {"pc": self.current, "pc_version": version} if on_version else {"pc": self.current}

    def target(self) -> str:
        """The PC a recommendation is about, in words."""
        if self.alias is None:
            return "the function"
        version = self.where().get("pc_version")
        return f"version {version} behind alias {self.alias.name}" if version else f"alias {self.alias.name}"


def _reason(summary: str, observed: str, model: str, decided_by: str) -> Reason:
    return Reason(summary=summary, observed=observed, model=model, decided_by=decided_by)


@dataclass(frozen=True)
class _Texts:
    history: History
    objective: PcObjective
    prices: PcPrices
    params: ModelParams
    mean_ms: float
    choice: Choice
    before: PlanScore
    cap_text: str
    cap: int | None
    tz: str


def _recommend(
    base: _Base, plan: PlanScore, before: PlanScore, t: _Texts, *, schedule: str = ""
) -> Recommendation:
    """`schedule`: "read" when the agent's own schedule is on that PC and `before` is its plan, "unread"
    when it is on but could not be read back (another time zone, say): no saving is claimed then."""
    fn, alias, keep = base.fn, base.alias, base.where()
    series = base.obs.concurrency
    util = float(np.mean(series.pc_utilization_max)) if series and series.pc_utilization_max else None
    observed = observed_text(t.history, t.mean_ms, base.current, util)
    model = model_text(t.history, t.prices, t.params, t.choice.lam)
    decided_by = t.choice.decided_by + (f"; {t.cap_text}" if t.cap_text else "")
    if plan.within_hour:
        decided_by += f"; {burst_text(t.history)}: PC only in those 5-minute blocks, raised one block early"
    target = base.target()
    text = _plan_text(plan, t.tz)
    if fn.snapstart and plan.peak > 0:
        why = f"SnapStart and PC cannot be combined on one version; the plan would be {text}"
        return base.make("keep", keep, _reason(f"SnapStart is on: no PC for {target}", observed, model, why))
    if alias is None and plan.peak > 0:
        why = f"{decided_by}; the plan would be {text} once traffic goes through an alias"
        summary = "PC needs a published version or alias, and none serves this traffic"
        return base.make("keep", keep, _reason(summary, observed, model, why))
    gain = before.objective_month - plan.objective_month
    small = gain < max(CHANGE_MARGIN[0] * before.objective_month, CHANGE_MARGIN[1])
    over_cap = t.cap is not None and base.current > t.cap  # must come down whatever it costs
    same = plan.constant and plan.levels[0] == base.current and not schedule  # a schedule moves it
    if not over_cap and (same or (small and schedule != "unread")):
        why = f"{decided_by}; the best plan ({text}) improves the objective by ${gain:,.2f} a month only"
        what = f"the agent's PC schedule on {target}" if schedule else f"PC {base.current} on {target}"
        return base.make("keep", keep, _reason(f"Keep {what}", observed, model, why))
    proposed, actions = _proposal(plan, t.tz, fn.name)
    hours = t.history.hours
    extra: dict[str, object] = {
        "before": projection(fn.memory_mb, t.mean_ms, _p99(base.obs), before),
        "after": projection(fn.memory_mb, t.mean_ms, _p99(base.obs), plan),
        "monthly_saving_usd": saving(before, plan),
        "latency_effect": cold_text(before, plan),
        "cold_start_rate_after": plan.cold_rate,
        "confidence": "high" if hours >= 14 * 24 else "medium" if hours >= 7 * 24 else "low",
        "pc_schedule": actions,
    }
    money = f"${before.cost_month:,.2f} → ${plan.cost_month:,.2f} a month"
    if fn.iac and plan.lowest == 0:
        why = (
            f"{decided_by}; the alias is managed by {fn.iac}: setting or scheduling its PC to zero directly "
            "breaks later deploys, so the template should carry the change"
        )
        summary = f"Change PC of {target} to {text} in the template ({money})"
        return base.make("template_change", proposed, _reason(summary, observed, model, why), **extra)
    verb = "Remove idle PC from" if plan.peak == 0 else "Set PC of"
    summary = f"{verb} {target}" + ("" if plan.peak == 0 else f" to {text}") + f" ({money})"
    if schedule:
        summary = f"Replace the agent's PC schedule on {target}: {summary}"
    if schedule == "unread":  # `before` is the level the alias reads now, not what the schedule costs
        extra |= {"monthly_saving_usd": None, "before": None}
        summary = summary.rsplit(" (", 1)[0] + (
            f" (${plan.cost_month:,.2f} a month; what the schedule in place costs is not known)"
        )
    return base.make(
        "provisioned_concurrency", proposed, _reason(summary, observed, model, decided_by), **extra
    )


def _plan_text(plan: PlanScore, tz: str) -> str:
    if plan.within_hour:
        return describe_within_hour(plan.block_levels, tz)
    return str(plan.levels[0]) if plan.constant else describe(plan.levels, tz)


def _proposal(
    plan: PlanScore, tz: str, name: str
) -> tuple[dict[str, int | float | str | None], tuple[PcScheduledAction, ...]]:
    if plan.constant:
        return {"pc": plan.levels[0]}, ()
    prefix = f"lambda-tuner-pc-{name}"[:200]
    if plan.within_hour:
        actions = within_hour_actions(plan.block_levels, tz, prefix=prefix)
    else:
        actions = scheduled_actions(plan.levels, tz, prefix=prefix)
    return {"pc_schedule": schedule_json(actions)}, actions


def _p99(obs: Observations) -> float | None:
    p99 = [e.duration_p99_ms for e in obs.epochs if e.duration_p99_ms is not None]
    return p99[-1] if p99 else None
