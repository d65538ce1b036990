"""What an undo's record tells the next cycles' collection about the hours before it (moto over HTTP).

A function with Lambda Insights (or JSON logs that hide REPORT lines) has no REPORT windows to say which
size served which hours: the agent's own records do. The collection reads the audit of its look-back
only, so once the change an undo undid is older than that, the undo's record is all there is: it must say
which size it found in force (the change's), as a change record says what it found. Without it, the
hours from the look-back's start to the undo were dropped at once: days at the size the agent had set
and measured, forgotten the day the change's record left the look-back."""

from __future__ import annotations

from datetime import datetime, timedelta

from approval_support import AUDIT, NOW, STATE, Account, make_rec
from canary_apply_support import ACTION, ALIAS, FN, behind_alias

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store
from lambda_tuner.collect import history_from_audit
from lambda_tuner.core import epochs as ep

LOOKBACK = timedelta(days=14)
HOUR = timedelta(hours=1)


def _moved_to_512(account: Account) -> tuple[Store, ApplyFlow]:
    """Alias `live` (version 1 at 1,024 MB) moved to 512 MB at NOW, applied and recorded."""
    behind_alias(account)
    store = Store(STATE, AUDIT)
    flow = ApplyFlow(
        store,
        Applier(aws.client("lambda"), sleep=lambda _: None, poll_delay_s=1),
        Notifier(account.topic_arn),
        alarm_action_arn=ACTION,
    )
    store.put_recommendation(
        make_rec(current=1024, proposed=512, qualifier=ALIAS, revision_id=None, status="APPROVED")
    )
    applied = flow.apply("rec-1", "approval", NOW)
    assert applied.ok, applied.message
    return store, flow


def _epochs_at(store: Store, cycle: datetime) -> tuple[list[tuple[int, int]], int]:
    """(size, hours) per epoch and the hours dropped, for a cycle at `cycle` reading its look-back's audit
    as the cycle does, over one call an hour: slower at 512 MB than at 1,024 MB, no REPORT windows."""
    start = cycle - LOOKBACK
    hours = [start + i * HOUR for i in range(int(LOOKBACK / HOUR))]
    inv = dict.fromkeys(hours, 1.0)
    undo = next(r.at for r in store.list_audit() if r.type in ("rollback", "revert"))
    avg = {t: 200.0 if t < undo else 120.0 for t in hours}
    series = {"inv": inv, "avg": avg, "p50": avg, "p95": avg, "p99": avg, "max": avg}
    history = history_from_audit(store.list_audit(since=start)).get(FN, [])
    epochs, dropped = ep.build_epochs(series, 3600, "x86_64", 1024, history=history)
    return [(e.memory_mb, e.periods) for e in epochs], dropped


def test_a_revert_of_a_change_older_than_the_look_back_keeps_the_hours_before_it(account: Account) -> None:
    # Given the move to 512 MB, reverted by a person 20 days later
    store, flow = _moved_to_512(account)
    [result] = flow.revert(NOW - HOUR, FN, NOW + timedelta(days=20))
    assert result.ok, result.message
    # When the next day's cycle reads its look-back (the change's record is older than it)
    epochs, dropped = _epochs_at(store, NOW + timedelta(days=21))
    # Then the 13 days before the revert are at 512 MB, as the cycle before the revert had them (they
    # were dropped: 13 days measured at 512 MB forgotten at once)
    assert epochs == [(512, 13 * 24), (1024, 24)] and dropped == 0


def test_a_rollback_after_the_change_left_the_look_back_keeps_the_hours_before_it(account: Account) -> None:
    # Given the move to 512 MB, rolled back by its alarm three days later
    store, flow = _moved_to_512(account)
    alarm = store.get_recommendation_item("rec-1")["attrs"]["alarms"][0]  # type: ignore[index]
    rolled = flow.on_alarm(alarm, NOW + timedelta(days=3))
    assert rolled is not None and rolled.ok
    # When a cycle 15 days after the change reads its look-back (the change's record is older than it)
    epochs, dropped = _epochs_at(store, NOW + timedelta(days=15))
    # Then the 2 days between the look-back's start and the rollback are at 512 MB
    assert epochs == [(512, 2 * 24), (1024, 12 * 24)] and dropped == 0
