"""The agent's own PC schedule comes off only where someone else's scaling is on that same PC (alias or
version): a schedule on another qualifier of the function fights nobody, and taking it off would drop PC
the agent planned there. And the take-off reads as what it is in the digest, the notice and the page."""

from __future__ import annotations

from pc_support import NOW, function, observations, sparse_calls

from lambda_tuner.core.decide import Decider
from lambda_tuner.core.digest import change_text
from lambda_tuner.core.models import AliasInfo, PcScaling, Recommendation

LIVE = AliasInfo(name="live", function_version="7", pc_requested=50, pc_allocated=50, pc_status="READY")
BETA = AliasInfo(name="beta", function_version="8", pc_requested=4, pc_allocated=4, pc_status="READY")
TEAM = {"function:orders:live": "scaling policy 'pc-utilisation' (TargetTrackingScaling)"}


def _recs(ours: frozenset[str]) -> list[Recommendation]:
    fn = function(aliases=(LIVE, BETA))
    decider = Decider(NOW, lambda: "r", pc_scaling=PcScaling(others=TEAM, ours=ours))
    return decider.decide(fn, observations(*sparse_calls(3, 30), 100.0), {})


def _takeoffs(recs: list[Recommendation]) -> list[str | None]:
    return [r.qualifier for r in recs if r.proposed == {"pc_schedule": "[]"}]


def test_the_agents_schedule_on_another_alias_than_the_team_scales_is_not_taken_off() -> None:
    # The team's target tracking is on live; the agent's schedule is on beta, which nobody else scales
    assert _takeoffs(_recs(frozenset({"function:orders:beta"}))) == []


def test_only_the_schedule_under_the_teams_scaling_is_taken_off() -> None:
    recs = _recs(frozenset({"function:orders:live", "function:orders:beta"}))
    assert _takeoffs(recs) == ["live"]


def test_a_take_off_says_so_in_the_digest_and_the_notice() -> None:
    # The page shows no schedule rows for an empty schedule: "see page" would point at nothing
    rec = next(r for r in _recs(frozenset({"function:orders:live"})) if r.proposed == {"pc_schedule": "[]"})
    text = change_text(rec)
    assert "see page" not in text and "off" in text, text


def test_the_agents_schedule_on_the_version_an_alias_the_team_scales_serves_is_taken_off() -> None:
    # PC that sits on the version live serves: the agent's schedule is on that version, the team's on live
    assert _takeoffs(_recs(frozenset({"function:orders:7"}))) == ["7"]


def test_a_take_off_waiting_on_one_alias_does_not_hide_one_for_another() -> None:
    # Every take-off proposes the same empty schedule: what tells them apart is the PC they are on
    from lambda_tuner.cycle import _same_as_pending

    live, version = (
        next(r for r in _recs(frozenset({f"function:orders:{q}"})) if r.proposed == {"pc_schedule": "[]"})
        for q in ("live", "7")
    )
    assert not _same_as_pending(version, [live]) and _same_as_pending(live, [live])
