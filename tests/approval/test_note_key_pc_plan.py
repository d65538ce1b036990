"""A PC keep note is not recorded again because the plan it did not make moved by a block.

The note "Keep the agent's PC schedule on alias live" names, in its reason, the best plan and how little
it would gain. That plan moves by a block or a weekday from one day to the next (on the twin's 40-day
soak storefront-api's "10 from 12:00 TUE,THU" became "THU"), while the decision stays the same: the
note, with the function's other notes, was stored and audited again about every other day (36
recommendation records for storefront-api after day 15), saying nothing new.
"""

from __future__ import annotations

from datetime import UTC, datetime

from lambda_tuner.core.models import Reason, Recommendation
from lambda_tuner.cycle import _note_key

NOW = datetime(2026, 11, 18, 6, tzinfo=UTC)
POLICY = (
    "cost only (no value placed on cold starts): PC only where it pays, above 60% utilisation; account "
    "unreserved concurrency 927 (keep 100) caps PC at 831"
)


def pc_keep(
    plan: str, gain: str = "1.26", summary: str = "Keep the agent's PC schedule on alias live"
) -> Recommendation:
    why = f"{POLICY}; the best plan ({plan} (UTC)) improves the objective by ${gain} a month only"
    return Recommendation(
        id="r",
        function="storefront-api",
        kind="keep",
        created_at=NOW,
        current={"pc": 5},
        proposed={"pc": 5},
        qualifier="live",
        reason=Reason(summary=summary, observed="", model="", decided_by=why),
    )


def test_a_pc_keep_note_whose_unmade_plan_moved_is_the_same_note() -> None:
    # Given the note one day, and the next day the same decision over a plan one weekday apart
    day1 = pc_keep("1 from 00:00 SAT,SUN, 10 from 12:00 TUE,THU, 10 from 13:00 MON,WED,FRI")
    day2 = pc_keep("1 from 00:00 SAT,SUN, 10 from 12:00 THU, 10 from 13:00 MON-WED,FRI", gain="1.27")
    # Then the two say the same: the second is not stored or audited again
    assert _note_key([day2]) == _note_key([day1])
    # But another decision is another note
    other = pc_keep("1 from 00:00 SAT,SUN", summary="Keep PC 5 on alias live")
    assert _note_key([other]) != _note_key([day1])
