"""The take-off is symmetric: the agent's schedule on an alias whose PC the team scales on the version it
serves is on the same PC as the team's scaling (decide's own rule: "a version and an alias serving it")."""

from __future__ import annotations

from pc_support import NOW, function, observations, sparse_calls

from lambda_tuner.core.decide import Decider
from lambda_tuner.core.models import AliasInfo, PcScaling

LIVE = AliasInfo(name="live", function_version="7", pc_requested=50, pc_allocated=50, pc_status="READY")
TEAM_ON_7 = {"function:orders:7": "scaling policy 'pc-utilisation' (TargetTrackingScaling)"}


def test_the_agents_schedule_on_an_alias_whose_version_the_team_scales_is_taken_off() -> None:
    fn = function(aliases=(LIVE,))
    ours = frozenset({"function:orders:live"})
    decider = Decider(NOW, lambda: "r", pc_scaling=PcScaling(others=TEAM_ON_7, ours=ours))
    recs = decider.decide(fn, observations(*sparse_calls(3, 30), 100.0), {})
    assert [r.qualifier for r in recs if r.proposed == {"pc_schedule": "[]"}] == ["live"]
