"""A canary whose undo failed, on a function deleted and created again under the same name before a cycle
took the trial out: the new function numbers its versions from 1 again, and its team's own routing may
name the trial's version number at the trial's weight. That routing is theirs, not the canary's."""

from __future__ import annotations

from datetime import timedelta

from approval_support import AUDIT, NOW, STATE, Account
from canary_apply_support import ACTION, ALIAS, FN, alias_state, behind_alias, canary_rec
from test_apply_failure_modes import Before, refuse_alarms_and_the_undo

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store


def test_a_stuck_trials_undo_leaves_the_routing_of_a_function_created_again_alone(account: Account) -> None:
    # Given a canary at 10 % on version 2 of `live` that failed (CloudWatch unreachable for its alarms)
    # and whose undo Lambda refused: the item asks a later cycle to take version 2 out
    behind_alias(account)
    store = Store(STATE, AUDIT)
    store.put_recommendation(canary_rec())

    lam = Before(aws.client("lambda"), refuse_alarms_and_the_undo)
    flow = ApplyFlow(
        store,
        Applier(lam, sleep=lambda _: None, poll_delay_s=1),
        Notifier(account.topic_arn),
        alarm_action_arn=ACTION,
        cloudwatch=Before(aws.client("cloudwatch"), refuse_alarms_and_the_undo),
    )
    assert not flow.apply("rec-1", "approval", NOW).ok
    assert store.get_recommendation_item("rec-1")["attrs"]["undo_left"]["version"] == "2"  # type: ignore[index]
    # And, before the next cycle, the team deletes the function and creates it again under the same name,
    # publishes versions 1 and 2 of their own, and shifts 10 % of `live` to their version 2
    real = aws.client("lambda")
    real.delete_function(FunctionName=FN)
    account.create_function(FN)
    published = []
    for release in ("1", "2"):
        real.update_function_configuration(FunctionName=FN, Environment={"Variables": {"RELEASE": release}})
        published.append(real.publish_version(FunctionName=FN)["Version"])
    assert published == ["1", "2"]
    real.create_alias(
        FunctionName=FN,
        Name=ALIAS,
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )
    # When the next cycle asks for the stuck trial to be taken out
    flow.conclude("rec-1", NOW + timedelta(days=1))
    # Then the team's shift stays as they set it (it used to be taken out: their version 2 read as the trial)
    assert alias_state() == ("1", {"2": 0.1})
    assert real.get_function_configuration(FunctionName=FN, Qualifier="2")["Environment"]["Variables"] == {
        "RELEASE": "2"
    }
    # And the item no longer asks: there is no trial of the agent's left on the function
    assert "undo_left" not in (store.get_recommendation_item("rec-1") or {}).get("attrs", {}) or (
        store.get_recommendation_item("rec-1")["attrs"]["undo_left"] is None  # type: ignore[index]
    )
