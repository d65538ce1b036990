"""A canary leaves no version behind, against the twin over HTTP: however it ends — concluded, rolled back
by its alarm, undone after a failed apply, or concluded by the function's next change — the version
published for it is deleted once the alias no longer routes to it, and the audit says so. Deleting is
best effort: a version another alias still uses is kept, and the conclusion goes through all the same."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from approval_support import NOW, Refusing
from canary_apply_support import ALIAS, canary_rec
from cleanup_support import FN, LATER, Cleanup, fresh_account, twin_fixture

from lambda_tuner.adapters import aws
from lambda_tuner.twin.server import Twin


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    yield from twin_fixture()


@pytest.fixture
def c(twin: Twin, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cleanup]:
    yield Cleanup(twin, fresh_account(twin, monkeypatch))
    aws.reset_clients()


def test_concluding_a_canary_deletes_its_trial_version_and_audits_it(c: Cleanup) -> None:
    # Given a canary a day old, its trial version published next to version 1
    trial = c.applied()
    assert c.versions() == ["1", trial]
    # When it is concluded
    result = c.flow.conclude("rec-1", LATER)
    # Then the alias serves version 1 alone, the trial version is gone, and $LATEST is untouched
    assert result.ok and c.status() == "VERIFIED"
    assert c.alias() == ("1", {}) and c.versions() == ["1"]
    assert c.lam.get_function_configuration(FunctionName=FN)["MemorySize"] == 1024
    # And the conclusion's record says the version was deleted
    record = c.last("verification")
    assert record["trial_version"] == {
        "version": trial,
        "deleted": True,
        "detail": f"trial version {trial} deleted",
    }
    assert record["detail"].endswith(f"canary routing removed; trial version {trial} deleted")


def test_concluding_twice_deletes_once_and_the_second_changes_nothing(c: Cleanup) -> None:
    c.applied()
    assert c.flow.conclude("rec-1", LATER).ok
    records, deletes = len(c.store.list_audit()), c.deletes()
    # When the conclusion is delivered again
    again = c.flow.conclude("rec-1", LATER + timedelta(minutes=5))
    # Then it succeeds without a call or a record
    assert again.ok and again.message.startswith("already ended")
    assert c.deletes() == deletes == 1 and len(c.store.list_audit()) == records
    assert c.versions() == ["1"] and c.status() == "VERIFIED"


def test_ending_a_canary_whose_version_is_already_gone_reports_it_and_does_not_fail(c: Cleanup) -> None:
    # Given a canary already ended (routing out, version deleted), e.g. by a conclusion left unrecorded
    trial = c.applied()
    c.flow.applier.end_canary(FN, ALIAS, trial)
    # When it is ended again, then nothing fails, and the outcome says the version was already gone
    again = c.flow.applier.end_canary(FN, ALIAS, trial)
    assert again.after["trial_version"] == {
        "version": trial,
        "deleted": False,
        "detail": f"trial version {trial} already deleted",
    }
    assert c.alias() == ("1", {}) and c.versions() == ["1"]


def test_a_rollback_by_its_alarm_puts_the_alias_back_and_deletes_the_trial_version(c: Cleanup) -> None:
    # Given a running canary and its p99 guard firing three hours in
    trial = c.applied()
    alarms = aws.client("cloudwatch").describe_alarms()["MetricAlarms"]
    p99 = next(a["AlarmName"] for a in alarms if a["AlarmName"].endswith("-p99"))
    # When the apply function rolls it back
    rolled = c.flow.on_alarm(p99, NOW + timedelta(hours=3))
    # Then the alias is as it was, the trial version is gone, and the guards too
    assert rolled is not None and rolled.ok and c.status() == "ROLLED_BACK"
    assert c.alias() == ("1", {}) and c.versions() == ["1"]
    assert aws.client("cloudwatch").describe_alarms()["MetricAlarms"] == []
    # And the rollback's record and notice say the version was deleted
    record = c.last("rollback")
    assert record["ok"] is True and record["trial_version"]["deleted"] is True
    assert f"trial version {trial} deleted" in c.account.messages()[-1]["Message"]
    # And a later conclusion has nothing left to do
    assert c.flow.conclude("rec-1", LATER).ok and c.deletes() == 1


def test_a_canary_apply_that_fails_after_publishing_deletes_the_version_it_published(c: Cleanup) -> None:
    # Given the alias update refused (another deployment moved it) after the trial version was published
    c.put_canary()
    refusing = Refusing(c.lam, "update_alias", "ResourceConflictException", 409)
    # When the canary is applied
    result = c.flow_with(refusing).apply("rec-1", "approval", NOW)
    # Then it failed, everything is as before, and no trial version is left
    assert not result.ok and refusing.refused == 1
    assert "trial version 2 deleted" in result.message
    assert c.alias() == ("1", {}) and c.versions() == ["1"] and c.status() == "FAILED"
    assert c.lam.get_function_configuration(FunctionName=FN)["MemorySize"] == 1024
    assert "trial version 2 deleted" in str(c.last("conflict")["error"])


def test_a_canary_undone_because_its_guards_cannot_be_created_leaves_no_version(c: Cleanup) -> None:
    # Given CloudWatch refusing the rollback alarms (an unguarded change is undone)
    c.put_canary()
    cw = Refusing(aws.client("cloudwatch"), "put_metric_alarm", "LimitExceeded", 400)
    # When the canary is applied
    result = c.flow_with(cloudwatch=cw).apply("rec-1", "approval", NOW)
    # Then it was undone, its version deleted, and the failure says so
    assert not result.ok and "the change was undone; trial version 2 deleted" in result.message
    assert c.alias() == ("1", {}) and c.versions() == ["1"] and c.status() == "FAILED"


def test_a_version_another_alias_uses_is_kept_and_the_conclusion_still_succeeds(c: Cleanup) -> None:
    # Given a canary whose trial version someone also pointed a second alias at
    trial = c.applied()
    c.lam.create_alias(FunctionName=FN, Name="beta", FunctionVersion=trial)
    # When it is concluded
    result = c.flow.conclude("rec-1", LATER)
    # Then the conclusion succeeds: the routing is gone, the experiment closed
    assert result.ok and c.status() == "VERIFIED" and c.alias() == ("1", {})
    # And the version stays, because Lambda refused to delete what an alias uses, as the record says
    assert c.versions() == ["1", trial] and c.alias("beta") == (trial, {})
    record = c.last("verification")
    assert record["trial_version"]["deleted"] is False
    assert "ResourceConflictException" in record["detail"] and "[beta]" in record["detail"]


def test_the_functions_next_change_ends_its_canary_and_deletes_the_trial_version_first(c: Cleanup) -> None:
    # Given a running canary, and a memory change for the same alias approved meanwhile
    trial = c.applied()
    c.store.put_recommendation(
        canary_rec(rec_id="rec-2", function=FN, kind="memory", proposed={"memory_mb": 768}, created_at=LATER)
    )
    # When that change is applied
    result = c.flow.apply("rec-2", "approval", LATER)
    # Then the canary was concluded (its version deleted) before the alias moved whole to a new version,
    # which has a number of its own: Lambda never reuses a deleted version's number
    assert result.ok, result.message
    assert c.status("rec-1") == "VERIFIED" and c.last("verification")["trial_version"]["deleted"] is True
    assert c.versions() == ["1", str(int(trial) + 1)] and c.alias() == (str(int(trial) + 1), {})
    assert c.lam.get_function_configuration(FunctionName=FN, Qualifier=ALIAS)["MemorySize"] == 768


def test_reverting_a_running_canary_from_the_cli_deletes_its_trial_version(c: Cleanup) -> None:
    # Given a canary still in its day
    trial = c.applied()
    # When a person reverts the agent's changes since before it (`lambda-tuner revert`)
    results = c.flow.revert(NOW - timedelta(hours=1), FN, NOW + timedelta(hours=2), actor="cli")
    # Then the alias is as it was, the trial version is gone, and the revert record says so
    assert [r.ok for r in results] == [True] and c.status() == "ROLLED_BACK"
    assert c.alias() == ("1", {}) and c.versions() == ["1"]
    record = c.last("revert")
    assert [x["trial_version"]["deleted"] for x in record["cleaned_up"]] == [True]
    assert record["cleaned_up"][0]["trial_version"]["version"] == trial


def test_a_version_kept_at_its_conclusion_goes_when_a_later_canary_of_the_function_is_concluded(
    c: Cleanup,
) -> None:
    # Given a concluded canary whose version was kept because a second alias used it, since moved away
    first = c.applied()
    c.lam.create_alias(FunctionName=FN, Name="beta", FunctionVersion=first)
    assert c.flow.conclude("rec-1", LATER).ok and c.versions() == ["1", first]
    c.lam.update_alias(FunctionName=FN, Name="beta", FunctionVersion="1")
    # When a later canary of the function runs and is concluded
    c.put_canary("rec-2", created_at=LATER)
    applied = c.flow.apply("rec-2", "approval", LATER)
    assert applied.ok, applied.message
    second = str(applied.after["published_version"])
    assert c.flow.conclude("rec-2", LATER + timedelta(days=1)).ok
    # Then both trial versions are gone, and the conclusion's record names the earlier one
    assert c.versions() == ["1"]
    record = c.last("verification")
    assert record["trial_version"]["version"] == second and record["trial_version"]["deleted"] is True
    assert [(t["version"], t["deleted"]) for t in record["after"]["earlier_trials"]] == [(first, True)]
    assert f"earlier trial version {first} deleted" in record["detail"]
