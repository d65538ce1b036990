"""A PC config that ended FAILED (say, the account's concurrency was exhausted) holds no environments and
costs nothing: it is not the current level a plan is priced against, nor headroom under the account cap."""

from __future__ import annotations

from typing import Any

from pc_support import NOW, function, observations, sparse_calls, steady_traffic

from lambda_tuner.core.models import AliasInfo, Recommendation
from lambda_tuner.core.pc_objective import parse_objective
from lambda_tuner.core.pc_policy import decide_pc
from lambda_tuner.core.pc_prices import pc_prices

FAILED = AliasInfo(name="live", function_version="7", pc_requested=50, pc_allocated=0, pc_status="FAILED")


def _decide(conc: Any, calls: Any, **kwargs: Any) -> Recommendation:
    """The PC decision for the FAILED alias, on 100 ms calls."""
    obs = observations(conc, calls, 100.0)
    return decide_pc(function(), FAILED, obs, parse_objective(None), pc_prices("x86_64"), NOW, "r", **kwargs)


def test_removing_a_failed_config_is_not_sold_as_a_saving() -> None:
    # Given a FAILED request for 50 on an alias that sees one short call every 30 minutes
    rec = _decide(*sparse_calls(3, 30))
    # Then no PC is billed now, so there is no idle PC to remove and no saving to claim
    assert rec.current == {"pc": 0}
    assert rec.kind == "keep"
    assert rec.monthly_saving_usd is None or rec.monthly_saving_usd.expected < 1


def test_a_failed_config_is_not_counted_as_headroom_under_the_accounts_unreserved_concurrency() -> None:
    # Given steady work for 8 environments, an account with 105 unreserved (5 above the floor of 100)
    rec = _decide(*steady_traffic(3, 8.0, 100.0), unreserved_concurrency=105)
    # Then the level asked for fits what the account can give (a FAILED config draws nothing from it)
    assert isinstance(rec.proposed.get("pc"), int) and rec.proposed["pc"] <= 5
