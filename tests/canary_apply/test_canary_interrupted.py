"""A canary whose apply stopped (timed out, crashed) after it routed the trial and before it recorded
anything: the cycle's resume ends it FAILED, and a later cycle takes the trial out of the alias, only while
the alias routes exactly as the canary set it (moto over HTTP)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from approval_support import AUDIT, NOW, STATE, Account
from canary_apply_support import ACTION, ALIAS, FN, alias_state, behind_alias, canary_rec
from click.testing import CliRunner

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import CLAIM_STALE_AFTER, ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store
from lambda_tuner.cli.audit import audit
from lambda_tuner.core.guardrails import RESUME
from lambda_tuner.core.models import AuditRecord

STALE = NOW + CLAIM_STALE_AFTER + timedelta(minutes=1)
NEXT_CYCLE = STALE + timedelta(days=1)
SINCE = NOW - timedelta(days=30)


def _died_after_routing(account: Account) -> tuple[Store, ApplyFlow, str, str]:
    """An approved canary (512 MB for 10 % of `live`) whose apply claimed it, routed its trial version and
    died before writing anything. The store, the flow, the version the alias serves and the trial."""
    v1 = behind_alias(account)
    store = Store(STATE, AUDIT)
    store.put_recommendation(canary_rec())
    assert store.claim("rec-1", "apply", "the-dead-one", NOW)
    applier = Applier(aws.client("lambda"), sleep=lambda _: None, poll_delay_s=1)
    trial = str(applier.apply_canary(FN, ALIAS, 512, 0.1, None).after["published_version"])
    assert alias_state() == (v1, {trial: 0.1})
    flow = ApplyFlow(store, applier, Notifier(account.topic_arn), alarm_action_arn=ACTION)
    return store, flow, v1, trial


def _undos(store: Store) -> list[AuditRecord]:
    return [r for r in store.list_audit() if r.type == "rollback" and r.recommendation_id == "rec-1"]


def test_a_canary_interrupted_after_routing_its_trial_is_taken_out_by_a_later_cycle(
    account: Account,
) -> None:
    # Given a canary whose apply died after routing its trial, ended FAILED by the cycle's resume
    store, flow, v1, trial = _died_after_routing(account)
    result = flow.apply("rec-1", RESUME, STALE)
    assert not result.ok and "MANUAL CHECK NEEDED" in result.message
    # When the next cycle asks for what ended changes left (`guards_left`), and the apply function acts
    assert "rec-1" in store.guards_left(SINCE)
    flow.conclude("rec-1", NEXT_CYCLE)
    # Then the trial no longer takes a share of the alias's traffic (it kept it, unguarded, for good),
    # the audit says so once, and nothing is asked again
    assert alias_state() == (v1, {})
    [undo] = _undos(store)
    assert undo.data["ok"] is True and undo.data["removed_from_routing"]["version"] == trial
    assert "rec-1" not in store.guards_left(SINCE)
    flow.conclude("rec-1", NEXT_CYCLE + timedelta(days=1))
    assert len(_undos(store)) == 1


def test_an_interrupted_canary_whose_alias_someone_changed_is_left_as_they_set_it(
    account: Account,
) -> None:
    # Given a canary whose apply died after routing its trial, and someone's own shift on that alias
    # before the resume found it
    store, flow, v1, trial = _died_after_routing(account)
    theirs = {trial: 0.5}
    aws.client("lambda").update_alias(
        FunctionName=FN, Name=ALIAS, RoutingConfig={"AdditionalVersionWeights": theirs}
    )
    # When the resume ends it and later cycles ask for what is left
    flow.apply("rec-1", RESUME, STALE)
    for rec_id in store.guards_left(SINCE):
        flow.conclude(rec_id, NEXT_CYCLE)
    # Then their routing stays: the interrupted record says what was found, for a person to check
    assert alias_state() == (v1, theirs)
    assert not any(r.data.get("removed_from_routing") for r in _undos(store))


def test_an_interrupted_canary_whose_alias_was_changed_after_the_resume_is_left_alone(
    account: Account,
) -> None:
    # Given a canary ended FAILED by the resume with its trial routed, then someone's shift on the alias
    store, flow, v1, trial = _died_after_routing(account)
    flow.apply("rec-1", RESUME, STALE)
    theirs = {trial: 0.3}
    aws.client("lambda").update_alias(
        FunctionName=FN, Name=ALIAS, RoutingConfig={"AdditionalVersionWeights": theirs}
    )
    # When a later cycle asks for the trial to be taken out
    flow.conclude("rec-1", NEXT_CYCLE)
    # Then the alias is as they left it, and the audit says why it was not touched
    assert alias_state() == (v1, theirs)
    [undo] = _undos(store)
    assert undo.data["ok"] is False and undo.data["left_alone"] is True


def test_the_later_undo_of_an_interrupted_canary_is_linked_to_its_change_in_the_audit(
    account: Account,
) -> None:
    # Given a canary whose apply died after routing its trial, ended FAILED by the cycle's resume
    store, flow, _, trial = _died_after_routing(account)
    flow.apply("rec-1", RESUME, STALE)
    [interrupted] = [r for r in store.list_audit() if r.type == "change"]
    # When a later cycle takes the trial out
    flow.conclude("rec-1", NEXT_CYCLE)
    # Then its record is the undo of that change (caused by it), as an alarm's rollback is of its change:
    # a person reading the change's history sees it undone (it used to name only the recommendation)
    [undo] = _undos(store)
    assert undo.caused_by == interrupted.id
    # And `lambda-tuner audit` shows the two together: the undo names the change, in words
    env = {"LT_STATE_TABLE": STATE, "LT_AUDIT_TABLE": AUDIT}
    out = CliRunner().invoke(audit, ["--function", FN, "--format", "csv"], env=env).output
    rows = {r["type"]: r for r in csv.DictReader(io.StringIO(out))}
    assert rows["rollback"]["caused_by"] == rows["change"]["id"] == interrupted.id
    assert rows["rollback"]["summary"] == (
        f"trial version {trial} taken out of alias {ALIAS}'s routing; trial version {trial} deleted"
    )
    table = CliRunner().invoke(audit, ["--function", FN], env=env).output
    [line] = [row for row in table.splitlines() if " rollback " in row]
    assert f" seq {interrupted.seq} " in line, table
