"""PC that someone else scales (Application Auto Scaling: a policy, or scheduled actions not the agent's)
is left alone: a level set beside that scaling would be undone by it, and the agent's own schedule would
re-register the scalable target over its range. The plan is still shown, for the team's own scaling."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from pc_support import NOW, function, observations, sparse_calls

from lambda_tuner.core.decide import Decider
from lambda_tuner.core.models import AliasInfo, PcScaling, Recommendation

IDLE = AliasInfo(name="live", function_version="7", pc_requested=50, pc_allocated=50, pc_status="READY")


def _pc_rec(scalers: Mapping[str, str] | None, ours: frozenset[str] = frozenset()) -> Recommendation:
    """The PC decision for 50 environments on an alias that sees a short call every 30 minutes."""
    fn = function(aliases=(IDLE,))
    scaling = None if scalers is None else PcScaling(others=dict(scalers), ours=ours)
    recs = Decider(NOW, lambda: "r", pc_scaling=scaling).decide(
        fn, observations(*sparse_calls(3, 30), 100.0), {}
    )
    return next(r for r in recs if "pc" in r.current)


def test_idle_pc_nobody_else_scales_is_proposed_for_removal() -> None:
    rec = _pc_rec({"function:orders-archive:live": "scaling policy 'x' (TargetTrackingScaling)"})
    assert rec.kind == "provisioned_concurrency" and rec.proposed["pc"] == 0


def test_pc_a_teams_policy_scales_is_kept_with_the_plan_and_who_scales_it() -> None:
    rec = _pc_rec({"function:orders:live": "scaling policy 'pc-utilisation' (TargetTrackingScaling)"})
    assert rec.kind == "keep" and rec.proposed == rec.current and rec.status == "RECORDED"
    assert "live: scaling policy 'pc-utilisation' (TargetTrackingScaling)" in rec.reason.summary
    assert "The plan, for your own scaling:" in rec.reason.summary  # what the agent would have done
    assert rec.monthly_saving_usd is None  # no saving is claimed for a change the agent will not make


def test_pc_is_kept_when_nobody_can_tell_who_scales_it() -> None:
    rec = _pc_rec(None)  # the cycle could not read Application Auto Scaling
    assert rec.kind == "keep" and "could not be read" in rec.reason.summary


@pytest.mark.parametrize("allow_iac_changes", [False, True])
def test_pc_a_teams_policy_scales_gets_no_template_change_either(allow_iac_changes: bool) -> None:
    # An IaC-managed function (the common way a target-tracking policy on PC is deployed) whose PC the
    # team's own policy scales: a template edit setting a fixed PC level would fight that policy just
    # as a direct change would, and no saving can be claimed for it.
    fn = function(aliases=(IDLE,), iac="cloudformation:orders-stack")
    scalers = {"function:orders:live": "scaling policy 'pc' (TargetTrackingScaling)"}
    scaling = PcScaling(others=scalers)
    decider = Decider(NOW, lambda: "r", pc_scaling=scaling, allow_iac_changes=allow_iac_changes)
    recs = decider.decide(fn, observations(*sparse_calls(3, 30), 100.0), {})
    rec = next(r for r in recs if "pc" in r.current)
    assert rec.kind == "keep" and rec.monthly_saving_usd is None, (rec.kind, rec.reason.summary)
    assert "scaling policy 'pc'" in rec.reason.summary


def test_the_agents_own_schedule_under_a_teams_policy_is_taken_off() -> None:
    # The agent scheduled PC on live; the team has since put target tracking on it. Each of the agent's
    # actions sets minimum = maximum, which pins the PC and leaves the team's policy nothing to do.
    policy = {"function:orders:live": "scaling policy 'pc-utilisation' (TargetTrackingScaling)"}
    rec = _pc_rec(policy, ours=frozenset({"function:orders:live"}))
    assert (rec.kind, rec.qualifier, rec.proposed) == (
        "provisioned_concurrency",
        "live",
        {"pc_schedule": "[]"},
    )
    assert rec.current == {"pc": 50} and rec.monthly_saving_usd is None
    assert (
        "Take the agent's PC schedule off alias live" in rec.reason.summary
        and "pc-utilisation" in rec.reason.summary
    )


def test_the_agents_own_schedule_on_the_served_version_is_taken_off_that_version() -> None:
    policy = {"function:orders:live": "scaling policy 'pc-utilisation' (TargetTrackingScaling)"}
    rec = _pc_rec(policy, ours=frozenset({"function:orders:7"}))
    assert (rec.qualifier, rec.proposed) == ("7", {"pc_schedule": "[]"})
    assert rec.reason.summary.startswith("Take the agent's PC schedule off version 7:"), rec.reason.summary


def test_the_agents_own_schedule_alone_is_planned_as_usual() -> None:
    rec = _pc_rec({}, ours=frozenset({"function:orders:live"}))  # nobody else scales it
    assert rec.kind == "provisioned_concurrency" and rec.proposed == {"pc": 0}
