"""The versions a memory change behind an alias publishes: what an undo leaves behind (moto over HTTP).

A memory change behind an alias publishes a version at the new size and moves the alias to it. While the
change is in force, the version the alias served before it is what an alarm's rollback or `lambda-tuner
revert` puts back, so it stays. Once the change is undone, the version it published is served by nothing
and no undo can need it: it goes, and the record of the undo says so. A version the agent did not publish
(the team's release) is never deleted."""

from __future__ import annotations

from datetime import timedelta

from approval_support import AUDIT, NOW, STATE, Account, make_rec
from canary_apply_support import ACTION, ALIAS, FN, alias_state, behind_alias

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store


def _versions() -> list[str]:
    got = aws.client("lambda").list_versions_by_function(FunctionName=FN)["Versions"]
    return sorted((str(v["Version"]) for v in got if v["Version"] != "$LATEST"), key=int)


def _moved(account: Account, *sizes: int) -> tuple[Store, ApplyFlow, list[str]]:
    """Memory moves behind alias `live` (version 1, the team's release, at 1,024 MB), one a day, each
    applied: the store, the flow, and the version each move published."""
    store = Store(STATE, AUDIT)
    flow = ApplyFlow(
        store,
        Applier(aws.client("lambda"), sleep=lambda _: None, poll_delay_s=1),
        Notifier(account.topic_arn),
        alarm_action_arn=ACTION,
    )
    published = []
    current = 1024
    for day, size in enumerate(sizes):
        rec_id = f"rec-{day + 1}"
        at = NOW + timedelta(days=day)
        store.put_recommendation(
            make_rec(
                rec_id=rec_id,
                current=current,
                proposed=size,
                qualifier=ALIAS,
                revision_id=None,
                status="APPROVED",
                created_at=at,
            )
        )
        applied = flow.apply(rec_id, "approval", at)
        assert applied.ok, applied.message
        published.append(str(applied.after["published_version"]))
        current = size
    return store, flow, published


def test_a_memory_change_rolled_back_deletes_the_version_it_published(account: Account) -> None:
    # Given a memory change behind the alias: version 2 at 512 MB, served by the alias
    v1 = behind_alias(account)
    store, flow, [v2] = _moved(account, 512)
    assert alias_state() == (v2, {}) and _versions() == [v1, v2]
    # When its alarm fires
    alarm = store.get_recommendation_item("rec-1")["attrs"]["alarms"][0]  # type: ignore[index]
    rolled = flow.on_alarm(alarm, NOW + timedelta(hours=2))
    # Then the alias serves the team's version 1 again, version 2 is gone (it used to stay for good: no
    # alias served it, no undo could need it), and the rollback record says so
    assert rolled is not None and rolled.ok
    assert alias_state() == (v1, {}) and _versions() == [v1]
    [undo] = [r for r in store.list_audit() if r.type == "rollback"]
    assert undo.data["published"] == {"version": v2, "deleted": True, "detail": f"version {v2} deleted"}


def test_a_revert_deletes_the_versions_of_the_changes_it_undid_and_keeps_the_one_it_put_back(
    account: Account,
) -> None:
    # Given three memory moves behind the alias (versions 2, 3 and 4), the last one served
    v1 = behind_alias(account)
    store, flow, [v2, v3, v4] = _moved(account, 512, 768, 640)
    # When the last two are reverted
    [result] = flow.revert(NOW + timedelta(hours=12), FN, NOW + timedelta(days=5))
    # Then the alias serves version 2 again, which the first move (still in force) published: it stays,
    # and so does the team's; versions 3 and 4 go, and the revert record says so
    assert result.ok, result.message
    assert alias_state() == (v2, {}) and _versions() == [v1, v2]
    [revert] = [r for r in store.list_audit() if r.type == "revert"]
    assert [c["published"]["version"] for c in revert.data["cleaned_up"]] == [v3, v4]
    assert all(c["published"]["deleted"] for c in revert.data["cleaned_up"])
    # And when the first move is reverted too, its version goes; the team's version 1 never does
    [result] = flow.revert(NOW - timedelta(hours=1), FN, NOW + timedelta(days=6))
    assert result.ok and alias_state() == (v1, {}) and _versions() == [v1]


def test_a_change_still_in_force_keeps_the_version_a_revert_puts_back(account: Account) -> None:
    # Given two memory moves behind the alias (versions 2 and 3), and the first one's alarm firing late
    # (its guard outlived the second move): the alias serves the second move's version, so the
    # rollback of the first leaves the alias as it is
    v1 = behind_alias(account)
    store, flow, [v2, v3] = _moved(account, 512, 768)
    item = store.get_recommendation_item("rec-1")
    store.transition("rec-1", "APPLIED", "APPLIED", NOW, alarms=["late-alarm"])
    store.link_alarm("late-alarm", {"recommendation_id": "rec-1", "change_id": item["attrs"]["change_id"]})  # type: ignore[index]
    assert flow.on_alarm("late-alarm", NOW + timedelta(days=2)) is not None
    # Then version 2 stays: the second move, still in force, was made from it, and its revert puts it back
    assert alias_state() == (v3, {}) and _versions() == [v1, v2, v3]
    [result] = flow.revert(NOW + timedelta(hours=12), FN, NOW + timedelta(days=3))
    assert result.ok and alias_state() == (v2, {}) and _versions() == [v1, v2]
