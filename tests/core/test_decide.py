"""The per-function decider: which recommendations a cycle makes, from observations, tags and memory."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "memory"))

from memory_support import NOW, cpu_bound, function, io_bound, observe

from lambda_tuner.core.decide import Decider
from lambda_tuner.core.models import AliasInfo, FunctionPolicy, Observations


def decider() -> Decider:
    ids = itertools.count()
    return Decider(NOW, lambda: f"r{next(ids)}")


def kinds(recs: list) -> list[str]:
    return sorted(r.kind for r in recs)


def test_an_over_provisioned_io_bound_function_gets_a_smaller_size_proposed():
    recs = decider().decide(function(3008), observe(io_bound, [3008, 1536]), {})
    memory = next(r for r in recs if r.kind in ("memory", "experiment"))
    assert memory.proposed["memory_mb"] < 3008
    assert memory.current["errors_per_min"] == 0.0  # the rollback alarms' baseline travels with it


def test_an_iac_managed_function_gets_the_template_change_instead_of_a_change():
    fn = function(3008).model_copy(update={"iac": "cloudformation:shop"})
    recs = decider().decide(fn, observe(io_bound, [3008, 1536]), {})
    change = next(r for r in recs if r.kind not in ("arm64_advice",))
    assert change.kind in ("template_change", "keep")
    if change.kind == "template_change":
        assert "MemorySize" in change.reason.summary and change.status == "RECORDED"


def test_insufficient_observations_give_one_insufficient_data_record_with_the_reason():
    obs = Observations(
        function="fn",
        window_start=NOW,
        window_end=NOW,
        status="insufficient",
        reason="no invocations in the last 14 days",
    )
    [rec] = decider().decide(function(1024), obs, {})
    assert rec.kind == "insufficient_data" and "no invocations" in rec.reason.summary


def test_arm64_advice_comes_only_for_x86_functions():
    x86 = decider().decide(function(1024), observe(cpu_bound, [1024, 2048]), {})
    arm = decider().decide(function(1024, arch="arm64"), observe(cpu_bound, [1024, 2048], arch="arm64"), {})
    assert "arm64_advice" in kinds(x86)
    assert "arm64_advice" not in kinds(arm)


def test_the_arm64_advice_reuses_the_memory_decisions_fit(monkeypatch):
    # Given an x86_64 function with traffic at two sizes, and a count of duration fits
    from lambda_tuner.core import optimizer

    fits = []
    real = optimizer.fit_duration

    def counting(*args, **kwargs):
        fits.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(optimizer, "fit_duration", counting)  # the only fit the decider reaches
    # When the decider proposes memory and arm64 advice
    recs = decider().decide(function(1024), observe(cpu_bound, [1024, 2048]), {})
    # Then the duration model was fitted once for both
    assert "arm64_advice" in kinds(recs)
    assert fits == [function(1024).name]


def test_a_bad_cold_start_objective_is_reported_and_no_pc_is_planned():
    fn = function(1024).model_copy(
        update={
            "aliases": (AliasInfo(name="live", function_version="3", pc_requested=5),),
            "policy": FunctionPolicy(cold_start_objective="whenever"),
        }
    )
    recs = decider().decide(fn, observe(io_bound, [1024]), {})
    notes = [r for r in recs if "provisioned concurrency not planned" in r.reason.summary]
    assert len(notes) == 1 and notes[0].kind == "keep"
    assert not any(r.kind == "provisioned_concurrency" for r in recs)


def test_the_first_observed_p99_is_remembered_as_the_baseline_and_not_overwritten():
    d = decider()
    obs = observe(io_bound, [1024])
    state = d.updated_state(function(1024), obs, {})
    assert state["baseline_memory_mb"] == 1024 and state["baseline_p99_ms"] > 0
    again = d.updated_state(function(512), observe(io_bound, [512]), state)
    assert again["baseline_p99_ms"] == state["baseline_p99_ms"]


def _proposed_mb(d: Decider, allowance_tag: str | None) -> int:
    tags = {} if allowance_tag is None else {"p99_allowance": float(allowance_tag)}
    fn = function(2048).model_copy(update={"policy": FunctionPolicy(**tags)})
    recs = d.decide(fn, observe(io_bound, [2048, 2048, 1024]), {"baseline_p99_ms": None})
    rec = next(r for r in recs if r.kind in ("memory", "experiment", "keep"))
    return int(rec.proposed["memory_mb"] or fn.memory_mb)


def test_the_p99_allowance_is_the_accounts_unless_the_functions_tag_sets_its_own():
    ids = itertools.count()
    strict = Decider(NOW, lambda: f"r{next(ids)}", p99_allowance=0.0)
    loose = Decider(NOW, lambda: f"r{next(ids)}", p99_allowance=0.5)
    fn = function(2048)
    assert strict.memory_policy(fn).p99_allowance == 0.0 and loose.memory_policy(fn).p99_allowance == 0.5
    tagged = fn.model_copy(update={"policy": FunctionPolicy(p99_allowance=0.25)})
    assert strict.memory_policy(tagged).p99_allowance == 0.25 == loose.memory_policy(tagged).p99_allowance
    assert decider().memory_policy(fn).p99_allowance == 0.10  # neither: the documented 10 %
    # and it decides: an I/O-bound function whose p99 barely moves with memory goes lower when some
    # latency is allowed than when none is
    no_room, room = _proposed_mb(strict, None), _proposed_mb(loose, None)
    assert room < no_room
    assert _proposed_mb(strict, "0.5") == room  # the tag beats the account's setting


def test_the_accounts_p99_allowance_leaves_other_strategies_experiment_guard_alone():
    # P99Allowance is documented as the `default` strategy's set fraction. Under `speed` and `balanced` the
    # allowance is no goal but an experiment's guard against worse than now (optimizer._stop_p99): an
    # account that loosens `default` to 100 % must not let a `speed` trial run to twice its p99 first.
    def stop(strategy: str, allowance: float) -> float:
        ids = itertools.count()
        d = Decider(NOW, lambda: f"r{next(ids)}", p99_allowance=allowance)
        fn = function(3008).model_copy(update={"policy": FunctionPolicy(strategy=strategy)})
        recs = d.decide(fn, observe(io_bound, [3008, 1536]), {})
        rec = next(r for r in recs if r.kind == "experiment")
        return float(rec.proposed["stop_if_p99_ms_above"])

    assert stop("speed", 1.0) == stop("speed", 0.10) == stop("speed", 0.0)
