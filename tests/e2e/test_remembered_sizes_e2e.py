"""What a size measured is not forgotten with the look-back. On a 40-day soak of the demo fleet every
settled function was unsettled two weeks after it settled: the days it had measured other sizes left
the 14-day look-back, and the model, back to what it knew on the first day, tried them again (canaries
one step nearer each time, each rolled back) or moved back and forth. Here the look-back is 4 days (the
stack's LookbackDays), so the same shows in days: the CPU-bound thumbnailer, starved at 256 MB, went
to 480 and 928 MB; once 256 and 480 MB had left the look-back it came down again by trials, 448 and
256 MB, to the size it had started starved at."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

import pytest
from e2e_support import T0, Account, deployed, small_fleet

from lambda_tuner.core.models import AuditRecord

NEAR = 2**0.2  # exploration.NEAR_OBSERVED_LOG2: sizes this close to a measured one teach little new
LOOKBACK_DAYS = 4


@pytest.fixture
def thumbnailer() -> Iterator[Account]:
    """The small fleet's thumbnailer alone, in auto mode, its agent deployed with a 4-day look-back."""
    with deployed([f for f in small_fleet() if f.name == "thumbnailer"], "auto") as account:
        os.environ["LT_LOOKBACK_DAYS"] = str(LOOKBACK_DAYS)  # read at the agent's first run
        yield account


def test_a_size_measured_before_the_lookback_is_not_tried_again(thumbnailer: Account) -> None:
    # Given the agent in auto mode for eleven days, nearly three times its look-back
    store = thumbnailer.store()
    for day in range(11):
        thumbnailer.run_agent(T0 + timedelta(days=day))
    recs = {r.id: r for r in store.list_recommendations()}
    changes = [r for r in store.list_audit(function="thumbnailer") if r.type == "change" and r.data.get("ok")]
    assert len({_size(c, "after") for c in changes}) >= 2, "the scenario needs sizes measured and left"
    # Then no trial goes to a size it had run at before (or near one): that day is measured, whether the
    # look-back still holds it or not; trying it again only costs the slow or costly hours once more
    again = [
        f"{c.at:%m-%d}: a trial at {_size(c, 'after')} MB, a size it had run at by {ran.at:%m-%d}"
        for i, c in enumerate(changes)
        if recs[str(c.recommendation_id)].kind == "experiment"
        for ran in _ran_at(changes[:i], _size(c, "after"))
    ]
    sizes = " → ".join(str(_size(c, "after")) for c in changes)
    assert again == [], f"from 256 MB: {sizes}; " + "; ".join(again)


def _ran_at(earlier: list[AuditRecord], size: int) -> list[AuditRecord]:
    """The earlier changes that set a size near `size`, or left one (the size before a change ran too)."""
    return [
        c
        for c in earlier
        if any(mb / NEAR < size < mb * NEAR for mb in (_size(c, "before"), _size(c, "after")))
    ][:1]


def _size(change: AuditRecord, side: str) -> int:
    config = change.data[side]
    assert isinstance(config, dict), config
    return int(config["memory_mb"])
