"""Per function: observations + tag policy + what the agent remembers -> the cycle's recommendations.

Pure: the clock and the id factory are parameters. Memory, provisioned concurrency and arm64 advice each
come from their own module; this one only builds their policies from tags and remembered state, and turns
a change to an infrastructure-as-code function into the template change a person makes instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from lambda_tuner.core.arm64 import decide_arm64
from lambda_tuner.core.canary import alias_of
from lambda_tuner.core.fitting import DurationFit
from lambda_tuner.core.guardrails import template_change
from lambda_tuner.core.models import (
    DEFAULT_P99_ALLOWANCE,
    AliasInfo,
    FunctionConfig,
    Observations,
    PcScaling,
    PcScheduledAction,
    Reason,
    Recommendation,
)
from lambda_tuner.core.optimizer import MemoryPolicy, decide_memory
from lambda_tuner.core.pc_objective import ObjectiveError, parse_objective
from lambda_tuner.core.pc_policy import decide_pc
from lambda_tuner.core.pc_prices import pc_prices
from lambda_tuner.core.pricing import PriceTable, default_prices
from lambda_tuner.core.remembered import STATE_KEY as MEASURED_KEY
from lambda_tuner.core.remembered import recall, remember
from lambda_tuner.core.stopped_trials import (
    CODE_SEEN_KEY,
    SET_ASIDE_KEY,
    StoppedTrial,
    aside_text,
    code_seen,
    code_since,
    in_force,
    remember_set_aside,
    rules_out,
    set_aside,
)

CHANGES = ("memory", "provisioned_concurrency", "experiment")
CANARY_WEIGHT = 0.1  # an experiment's least share of an alias's traffic (MemoryPolicy.canary_share)
NO_SCALING = PcScaling()  # nobody else scales any PC, and the agent has no schedule anywhere
ARM64_MIN_SAVING_USD = 1.0  # per month: below this the advice is noise in the digest


class Decider:
    def __init__(
        self,
        now: datetime,
        new_id: Callable[[], str],
        *,
        prices: PriceTable | None = None,
        allow_iac_changes: bool = False,
        max_step_factor: float = 2.0,
        time_zone: str = "UTC",
        unreserved_concurrency: int | None = None,
        p99_allowance: float = DEFAULT_P99_ALLOWANCE,
        pc_scaling: PcScaling | None = NO_SCALING,
    ) -> None:
        self.now = now
        # Who else scales which PC (Application Auto Scaling) and where the agent's own schedules are;
        # None: the cycle could not read it, so nobody's PC is known to be free of someone else's scaling
        self.pc_scaling = PcScaling() if pc_scaling is None else pc_scaling
        self.pc_scaling_known = pc_scaling is not None
        self.p99_allowance = p99_allowance  # the account's; a function's tag overrides it
        self.time_zone = time_zone
        self.unreserved_concurrency = unreserved_concurrency
        self.new_id = new_id
        self.prices = prices or default_prices()
        self.allow_iac_changes = allow_iac_changes
        self.max_step_factor = max_step_factor

    def memory_policy(self, fn: FunctionConfig, qualifier: str | None = None) -> MemoryPolicy:
        """The tags' policy; experiments become canaries where the traffic comes through an alias."""
        p = fn.policy
        strategy = p.strategy or "default"
        # The user's fraction (tag, else the account's) is the `default` strategy's goal; under the others
        # the allowance is only an experiment's guard against worse than now, and stays the fixed one.
        allowance = p.p99_allowance if p.p99_allowance is not None else self.p99_allowance
        return MemoryPolicy(
            canary_weight=CANARY_WEIGHT if alias_of(qualifier) else None,
            strategy=strategy,
            balanced_weight=p.balanced_weight if p.balanced_weight is not None else 0.5,
            p95_objective_ms=p.p95_ms,
            p99_objective_ms=p.p99_ms,
            p99_allowance=allowance if strategy == "default" else DEFAULT_P99_ALLOWANCE,
            min_mb=p.min_mb,
            max_mb=p.max_mb,
            max_step_factor=self.max_step_factor,
        )

    def decide(
        self,
        fn: FunctionConfig,
        obs: Observations,
        state: Mapping[str, Any],
        stopped: Sequence[StoppedTrial] = (),
    ) -> list[Recommendation]:
        """`stopped`: the function's memory changes (experiments, moves) its guards rolled back (those
        still in force on its code now rule sizes out: stopped_trials.py), less those set aside: the
        function stayed as slow at the size restored after the rollback (`stopped_trials.set_aside`)."""
        if obs.status != "ok":
            return [self._insufficient(fn, obs)]
        baseline = state.get("baseline_p99_ms")
        baseline_mb = state.get("baseline_memory_mb")
        fits: dict[str, DurationFit] = {}
        ruling = in_force(stopped, fn.code_sha256, self.now)
        since = code_since(state.get(CODE_SEEN_KEY), fn.code_sha256, self.now)
        aside = set_aside(ruling, obs, state.get(SET_ASIDE_KEY), since)
        rec = decide_memory(
            fn,
            obs,
            self.memory_policy(fn, obs.qualifier),
            self.prices,
            self.now,
            self.new_id(),
            baseline_p99_ms=float(baseline) if baseline is not None else None,
            baseline_memory_mb=int(baseline_mb) if baseline_mb is not None else None,
            fits=fits,
            stopped=[t for t in ruling if t not in aside],
            remembered=recall(state.get(MEASURED_KEY), fn, obs, self.now),
        )
        rec = _said_aside(rec, aside, state.get(SET_ASIDE_KEY))
        rec = rec.model_copy(update={"current": {**rec.current, "errors_per_min": _errors_per_min(fn, obs)}})
        return [
            self._respect_iac(fn, rec),
            *self._arm64(fn, obs, fits.get(fn.name)),
            *self._provisioned_concurrency(fn, obs),
        ]

    def _arm64(self, fn: FunctionConfig, obs: Observations, fit: DurationFit | None) -> list[Recommendation]:
        """Advice only (the architecture changes with a code deploy), and only when it is worth reading.
        It uses the duration fit the memory decision made on the same x86_64 epochs (there is one whenever
        the memory decision had the evidence to decide)."""
        if fn.arch != "x86_64" or fit is None:
            return []
        advice = decide_arm64(fn, obs, fit, self.prices, self.now, self.new_id())
        if advice is None or advice.monthly_saving_usd is None:
            return []
        return [advice] if advice.monthly_saving_usd.expected >= ARM64_MIN_SAVING_USD else []

    def _provisioned_concurrency(self, fn: FunctionConfig, obs: Observations) -> list[Recommendation]:
        """PC advice where PC is configured or a cold-start objective asks for it; elsewhere only when PC
        would actually pay (the collector reads per-minute concurrency only for such candidates)."""
        with_pc = [a for a in fn.aliases if a.pc_requested]
        asked = fn.policy.cold_start_objective is not None
        per_minute = obs.concurrency is not None and obs.concurrency.period_s <= 60
        if takeoff := self._take_ours_off(fn):
            return takeoff
        if not (with_pc or asked or per_minute):
            return []
        try:
            objective = parse_objective(fn.policy.cold_start_objective)
        except ObjectiveError as exc:
            return [self._note(fn, obs, f"provisioned concurrency not planned: {exc}")]
        alias = self._serving_alias(fn, obs, with_pc)
        on, ours = self._our_schedule(fn, alias)
        rec = decide_pc(
            fn,
            alias,
            obs,
            objective,
            pc_prices(fn.arch, self.prices),
            self.now,
            self.new_id(),
            self.time_zone,
            unreserved_concurrency=self.unreserved_concurrency,
            in_place=ours,
            in_place_on=on,
        )
        if not (with_pc or asked) and rec.kind != "provisioned_concurrency":
            return []
        return [self._respect_scalers(fn, self._respect_iac(fn, rec))]

    def _our_schedule(
        self, fn: FunctionConfig, alias: AliasInfo | None
    ) -> tuple[str | None, tuple[PcScheduledAction, ...]]:
        """Where the agent's own actions on the PC `alias` serves are (the alias, or the version it
        serves), and the actions."""
        for q in (alias.name, alias.function_version) if alias else ():
            if actions := self.pc_scaling.schedules.get(f"function:{fn.name}:{q}"):
                return q, actions
        return None, ()

    def _respect_scalers(self, fn: FunctionConfig, rec: Recommendation) -> Recommendation:
        """A PC change becomes a note where someone else's scaling moves that function's PC: its next
        activity would undo the level, and a schedule of ours would re-register the scalable target over
        its range. The plan stays in the reason, for the team to set in their own scaling."""
        # a template edit of the level (IaC-managed PC) would fight that scaling just as a direct change would
        if rec.kind not in ("provisioned_concurrency", "template_change"):
            return rec
        scaled = self._scaled_by_others(fn)
        if self.pc_scaling_known and not scaled:
            return rec
        why = (
            _scaled_text(scaled)
            if scaled
            else "Application Auto Scaling could not be read: whether someone else scales its PC is unknown"
        )
        return _kept(
            rec,
            f"Keep PC as is: {why}. The plan, for your own scaling: {rec.reason.summary}",
            f"{rec.reason.decided_by}; PC scaled elsewhere: a change would fight it",
        )

    def _scaled_by_others(self, fn: FunctionConfig) -> list[str]:
        prefix = f"function:{fn.name}:"
        others = self.pc_scaling.others.items()
        return sorted(f"{r[len(prefix) :]}: {who}" for r, who in others if r.startswith(prefix))

    def _take_ours_off(self, fn: FunctionConfig) -> list[Recommendation]:
        """Where someone else's scaling moves this function's PC and the agent's own schedule is still on
        it (put there before that scaling came): each of the agent's actions sets minimum = maximum, which
        pins the PC at its level and leaves the other scaling nothing to do. A change takes it off. Only
        where both are on the same PC (an alias, or a version and an alias serving it): elsewhere the
        agent's schedule fights nobody."""
        prefix, others = f"function:{fn.name}:", self.pc_scaling.others
        serves = {a.name: a.function_version for a in fn.aliases}
        scalers: dict[str, list[str]] = {}
        for resource in self.pc_scaling.ours:
            if not resource.startswith(prefix):
                continue
            q = resource[len(prefix) :]
            # the same PC: q itself, the aliases serving version q, or the version alias q serves
            on = [q, *(a for a, v in serves.items() if v == q), *([serves[q]] if serves.get(q) else [])]
            if who := [f"{o}: {others[prefix + o]}" for o in on if prefix + o in others]:
                scalers[q] = who
        levels = {a.name: a.pc_requested or 0 for a in fn.aliases} | dict(fn.pc_on_versions)
        return [
            self._schedule_off(fn, q, levels.get(q, 0), _scaled_text(who))
            for q, who in sorted(scalers.items())
        ]

    def _schedule_off(self, fn: FunctionConfig, qualifier: str, level: int, why: str) -> Recommendation:
        on = f"version {qualifier}" if qualifier.isdigit() else f"alias {qualifier}"
        return Recommendation(
            id=self.new_id(),
            function=fn.name,
            kind="provisioned_concurrency",
            created_at=self.now,
            current={"pc": level},
            proposed={"pc_schedule": "[]"},
            qualifier=qualifier,
            revision_id=fn.revision_id,
            latency_effect="the other scaling decides the PC level again",
            reason=Reason(
                summary=f"Take the agent's PC schedule off {on}: {why}, and each of the agent's "
                "actions pins it at its own level (minimum = maximum)",
                observed=f"the agent's scheduled actions on {on}; {why}",
                model="none",
                decided_by="PC scaled elsewhere: the agent's schedule fights it",
            ),
        )

    @staticmethod
    def _serving_alias(fn: FunctionConfig, obs: Observations, with_pc: list[AliasInfo]) -> AliasInfo | None:
        if with_pc:
            return with_pc[0]
        return next((a for a in fn.aliases if a.name == obs.qualifier), fn.aliases[0] if fn.aliases else None)

    def updated_state(
        self,
        fn: FunctionConfig,
        obs: Observations,
        state: Mapping[str, Any],
        stopped: Sequence[StoppedTrial] = (),
    ) -> dict[str, Any]:
        """Remember the p99 at the first observed configuration: the default strategy's allowance is
        measured from it, so repeated small steps cannot compound into a large slowdown; what the sizes
        the function no longer runs at measured, for after the look-back (remembered.py); and the stops
        set aside (`stopped`: as `decide` got them), which the epochs tell only while the rollback's
        day is in the look-back: after it, the stop must not come back; and the code in force, with when
        it was first seen, for those epochs to be read on it alone (`stopped_trials.code_seen`)."""
        new = dict(state)
        if obs.status == "ok":
            measured = remember(state.get(MEASURED_KEY), fn, obs, self.now)
            if measured:
                new[MEASURED_KEY] = measured
            else:
                new.pop(MEASURED_KEY, None)
        ruling = in_force(stopped, fn.code_sha256, self.now)
        since = code_since(state.get(CODE_SEEN_KEY), fn.code_sha256, self.now)
        if aside := remember_set_aside(ruling, obs, state.get(SET_ASIDE_KEY), self.now, since):
            new[SET_ASIDE_KEY] = aside
        else:
            new.pop(SET_ASIDE_KEY, None)
        if seen := code_seen(state.get(CODE_SEEN_KEY), fn.code_sha256, self.now):
            new[CODE_SEEN_KEY] = seen
        else:
            new.pop(CODE_SEEN_KEY, None)
        if "baseline_p99_ms" not in new:
            first = next((e for e in obs.epochs if e.duration_p99_ms and e.memory_mb == fn.memory_mb), None)
            if first is not None:
                new["baseline_p99_ms"] = first.duration_p99_ms
                new["baseline_memory_mb"] = fn.memory_mb
        return new

    def _respect_iac(self, fn: FunctionConfig, rec: Recommendation) -> Recommendation:
        if fn.iac is None or self.allow_iac_changes or rec.kind not in CHANGES:
            return rec
        if rec.kind == "experiment":  # a trial needs a direct, reversible change: not the template's job
            return _kept(
                rec,
                f"Keep: {fn.iac} manages this function, so the agent runs no trials on it "
                f"({rec.reason.summary})",
                "infrastructure as code: a direct change would drift",
            )
        change = template_change(fn.iac, rec)
        reason = rec.reason.model_copy(
            update={
                "summary": f"{rec.reason.summary} — managed by {fn.iac}: change the template ({change})",
                "decided_by": f"{rec.reason.decided_by}; infrastructure as code: a direct change would drift",
            }
        )
        return rec.model_copy(update={"kind": "template_change", "reason": reason, "status": "RECORDED"})

    def _insufficient(self, fn: FunctionConfig, obs: Observations) -> Recommendation:
        return self._note(
            fn,
            obs,
            f"Insufficient data: {obs.reason or f'collection status {obs.status}'}",
            kind="insufficient_data",
        )

    def _note(
        self,
        fn: FunctionConfig,
        obs: Observations,
        why: str,
        kind: Literal["insufficient_data", "keep"] = "keep",
    ) -> Recommendation:
        current: dict[str, int | float | str | None] = {"memory_mb": fn.memory_mb}
        return Recommendation(
            id=self.new_id(),
            function=fn.name,
            kind=kind,
            created_at=self.now,
            current=current,
            proposed=current,
            revision_id=fn.revision_id,
            qualifier=obs.qualifier,
            reason=Reason(summary=why, observed=obs.reason or why, model="none", decided_by="evidence"),
            status="RECORDED",
        )


def _said_aside(
    rec: Recommendation, aside: Sequence[StoppedTrial], remembered: Mapping[str, Any] | None
) -> Recommendation:
    """The memory recommendation, its reason naming the stops set aside: the cycle one is first set
    aside, and whenever it goes where the stop would have ruled out (a person who read of the rollback
    would wonder why the agent goes back)."""
    known = remembered if isinstance(remembered, Mapping) else {}
    size = rec.proposed.get("memory_mb") if rec.kind in ("memory", "experiment") else None
    named = [
        t for t in aside if t.recommendation_id not in known or (isinstance(size, int) and rules_out(t, size))
    ]
    if not named:
        return rec
    said = "; ".join(aside_text(t) for t in sorted(named, key=lambda t: t.stopped_at, reverse=True))
    reason = rec.reason.model_copy(update={"summary": f"{rec.reason.summary} — {said}"})
    return rec.model_copy(update={"reason": reason})


def _scaled_text(who: list[str]) -> str:
    return f"Application Auto Scaling scales its PC ({'; '.join(who)})"


def _kept(rec: Recommendation, summary: str, decided_by: str) -> Recommendation:
    """`rec` turned into a note that keeps things as they are: no change, no saving claimed."""
    reason = rec.reason.model_copy(update={"summary": summary, "decided_by": decided_by})
    update = {"kind": "keep", "proposed": rec.current, "reason": reason, "monthly_saving_usd": None}
    return rec.model_copy(update={**update, "status": "RECORDED"})


def _errors_per_min(fn: FunctionConfig, obs: Observations) -> float:
    """The function's usual error rate at its current size: rollback alarms fire well above it."""
    epochs = [e for e in obs.epochs if e.memory_mb == fn.memory_mb]
    minutes = sum((e.end - e.start).total_seconds() for e in epochs) / 60
    return round(sum(e.errors for e in epochs) / minutes, 4) if minutes > 0 else 0.0
