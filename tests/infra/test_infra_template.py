"""The template as a specification: what gets deployed, how it is configured, what is kept."""

from __future__ import annotations

import importlib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
SAM_VENV = ROOT / ".venv-sam"
HANDLERS = {
    "AgentFunction": "lambda_tuner.handlers.agent.handler",
    "ApprovalFunction": "lambda_tuner.handlers.approval.handler",
    "ApplyFunction": "lambda_tuner.handlers.apply.handler",
}


def _settings_fields(handler: str) -> dict[str, bool]:
    """LT_ variable -> required?, over every settings model the handler's module uses."""
    module = importlib.import_module(handler.rsplit(".", 1)[0])
    models = {v for v in vars(module).values() if isinstance(v, type) and issubclass(v, BaseSettings)}
    assert models, f"{handler} reads no settings model"
    return {
        f"{model.model_config.get('env_prefix', '')}{name}".upper(): info.is_required()
        for model in models
        for name, info in model.model_fields.items()
    }


def _props(cfn: dict[str, Any], name: str) -> dict[str, Any]:
    return cfn["Resources"][name]["Properties"]


@pytest.mark.sam
def test_sam_validate_lint_passes() -> None:
    sam = SAM_VENV / "bin" / "sam"
    if not sam.exists():
        pytest.skip(".venv-sam is absent (make test creates it)")
    done = subprocess.run(
        [str(sam), "validate", "--lint", "--template-file", "template.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_each_function_runs_its_handler_on_python312_arm64(cfn: dict[str, Any], function: str) -> None:
    props = _props(cfn, function)
    assert props["Handler"] == HANDLERS[function]
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_each_function_gets_exactly_the_settings_its_handler_reads(
    cfn: dict[str, Any], function: str
) -> None:
    # Given the settings models the handler module reads its environment with (prefix LT_)
    fields = _settings_fields(HANDLERS[function])
    env = set(_props(cfn, function)["Environment"]["Variables"])
    # Then every required value is set, and nothing is set that no model reads
    assert {name for name, required in fields.items() if required} <= env
    assert {name for name in env if name.startswith("LT_")} - set(fields) == set()
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"} <= env


def test_the_agent_sees_every_knob_the_brief_promises(cfn: dict[str, Any]) -> None:
    env = _props(cfn, "AgentFunction")["Environment"]["Variables"]
    assert {
        "LT_MODE",
        "LT_TAG_PREFIX",
        "LT_LOOKBACK_DAYS",
        "LT_TOPIC_ARN",
        "LT_SECRET_ARN",
        "LT_APPROVAL_BASE_URL",
        "LT_APPLY_FUNCTION",
        "LT_KILL_SWITCH_PARAMETER",
        "LT_TOKEN_TTL_HOURS",
        "LT_ALLOW_IAC_CHANGES",
        "LT_CONTROL_PLANE_RPS",
        "LT_MAX_CHANGES_PER_CYCLE",
        "LT_P99_ALLOWANCE",
        "LT_CHANGE_WINDOW_UTC",
        "LT_EXCLUDE_FUNCTIONS",
    } <= set(env)
    assert env["LT_APPROVAL_BASE_URL"] == {"Fn::GetAtt": ["ApprovalFunctionUrl", "FunctionUrl"]}
    excluded = env["LT_EXCLUDE_FUNCTIONS"]["Fn::Sub"].split(",")
    names = sorted(_props(cfn, f)["FunctionName"]["Fn::Sub"] for f in HANDLERS)
    assert sorted(excluded) == names
    # an empty change window is left unset rather than set to "" (the guardrail reads None as "any time")
    assert env["LT_CHANGE_WINDOW_UTC"]["Fn::If"][2] == {"Ref": "AWS::NoValue"}


def test_the_p99_allowance_parameter_reaches_the_agent_with_the_products_default(
    cfn: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lambda_tuner.core.models import DEFAULT_P99_ALLOWANCE, MAX_P99_ALLOWANCE
    from lambda_tuner.settings import AgentSettings

    env = _props(cfn, "AgentFunction")["Environment"]["Variables"]
    param = cfn["Parameters"]["P99Allowance"]
    assert env["LT_P99_ALLOWANCE"] == {"Ref": "P99Allowance"}
    assert float(param["Default"]) == DEFAULT_P99_ALLOWANCE
    assert (param["MinValue"], param["MaxValue"]) == (0, MAX_P99_ALLOWANCE)
    required = {"state_table": "s", "audit_table": "a", "topic_arn": "t", "secret_arn": "x"}
    required |= {"approval_base_url": "u", "apply_function": "f"}
    monkeypatch.setenv("LT_P99_ALLOWANCE", "0.25")
    assert AgentSettings(**required).p99_allowance == 0.25  # type: ignore[arg-type]
    monkeypatch.setenv("LT_P99_ALLOWANCE", "0.6")
    with pytest.raises(ValueError, match="p99_allowance"):
        AgentSettings(**required)  # type: ignore[arg-type]


def test_the_alarm_action_arn_names_the_apply_function_without_a_cycle(cfn: dict[str, Any]) -> None:
    env = _props(cfn, "ApplyFunction")["Environment"]["Variables"]
    assert env["LT_ALARM_ACTION_ARN"]["Fn::Sub"].endswith(
        ":function:" + _props(cfn, "ApplyFunction")["FunctionName"]["Fn::Sub"]
    )


def test_the_agent_refuses_no_tick_its_event_queue_may_still_deliver(cfn: dict[str, Any]) -> None:
    from lambda_tuner.settings import AgentSettings

    waits = _props(cfn, "AgentFunctionEventInvokeConfig")["MaximumEventAgeInSeconds"]
    assert AgentSettings.model_fields["max_event_age_s"].default >= waits + 600  # and a run's start-up


def test_the_agent_runs_on_a_schedule_without_retries(cfn: dict[str, Any]) -> None:
    rule = _props(cfn, "AgentFunctionScheduled")
    assert rule["ScheduleExpression"] == {"Ref": "Schedule"}
    assert cfn["Parameters"]["Schedule"]["Default"] == "rate(1 day)"
    assert rule["State"] == {"Fn::If": ["IsOff", "DISABLED", "ENABLED"]}
    assert _props(cfn, "AgentFunctionEventInvokeConfig")["MaximumRetryAttempts"] == 0
    assert _props(cfn, "AgentFunction")["Timeout"] == 900


def test_reserved_concurrency_is_optional(cfn: dict[str, Any]) -> None:
    for function, condition in (
        ("AgentFunction", "HasAgentReservedConcurrency"),
        ("ApprovalFunction", "HasApprovalReservedConcurrency"),
    ):
        value = _props(cfn, function)["ReservedConcurrentExecutions"]["Fn::If"]
        assert value[0] == condition and value[2] == {"Ref": "AWS::NoValue"}
    assert cfn["Parameters"]["AgentReservedConcurrency"]["Default"] == ""


@pytest.mark.parametrize("function", ["Agent", "Approval", "Apply"])
def test_each_functions_errors_alarm_notifies_the_topic(cfn: dict[str, Any], function: str) -> None:
    alarm = _props(cfn, f"{function}ErrorsAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "Errors")
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": f"{function}Function"}}]
    assert alarm["AlarmActions"] == [{"Ref": "NotificationTopic"}]
    # CloudWatch can only publish to an encrypted topic through a key whose policy lets it
    key_policy = _props(cfn, "TopicKey")["KeyPolicy"]["Statement"]
    assert any(s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} for s in key_policy)
    assert _props(cfn, "NotificationTopic")["KmsMasterKeyId"] == {"Ref": "TopicKey"}


def test_the_email_subscription_exists_only_when_an_address_is_given(cfn: dict[str, Any]) -> None:
    assert cfn["Resources"]["NotificationEmailSubscription"]["Condition"] == "HasEmail"
    assert cfn["Conditions"]["HasEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "NotificationEmail"}, ""]}]}


def test_tables_have_the_keys_the_store_uses_with_recovery_and_encryption(cfn: dict[str, Any]) -> None:
    state, audit = _props(cfn, "StateTable"), _props(cfn, "AuditTable")
    for table in (state, audit):
        assert table["BillingMode"] == "PAY_PER_REQUEST"
        assert table["KeySchema"] == [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ]
        assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["SSESpecification"] == {"SSEEnabled": True}
    (gsi,) = state["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "gsi1"
    assert [k["AttributeName"] for k in gsi["KeySchema"]] == ["gsi1pk", "gsi1sk"]
    assert state["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}


def test_the_audit_table_survives_stack_deletion_and_replacement(cfn: dict[str, Any]) -> None:
    audit = cfn["Resources"]["AuditTable"]
    assert (audit["DeletionPolicy"], audit["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_the_signing_secret_and_kill_switch_are_created(cfn: dict[str, Any]) -> None:
    assert _props(cfn, "ApprovalSecret")["GenerateSecretString"]["PasswordLength"] == 64
    kill = _props(cfn, "KillSwitchParameter")
    assert (kill["Type"], kill["Value"]) == ("String", "run")


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_each_function_logs_to_its_own_group_with_the_chosen_retention(
    cfn: dict[str, Any], function: str
) -> None:
    group_ref = _props(cfn, function)["LoggingConfig"]["LogGroup"]["Ref"]
    group = _props(cfn, group_ref)
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert (
        group["LogGroupName"]["Fn::Sub"] == "/aws/lambda/" + _props(cfn, function)["FunctionName"]["Fn::Sub"]
    )


def test_parameters_offer_the_documented_choices(cfn: dict[str, Any]) -> None:
    params = cfn["Parameters"]
    assert params["Mode"]["AllowedValues"] == ["off", "recommend", "approve", "auto"]
    assert params["Mode"]["Default"] == "recommend"
    assert (params["LookbackDays"]["Default"], params["TokenTtlHours"]["Default"]) == (14, 72)
    assert params["TagPrefix"]["Default"] == "lambda-tuner:"
    assert (params["AllowIacChanges"]["Default"], params["ControlPlaneRps"]["Default"]) == ("false", 5)
    assert params["NotificationEmail"]["Default"] == ""


def test_outputs_give_what_a_user_needs_after_deploy(cfn: dict[str, Any]) -> None:
    assert {
        "ApprovalBaseUrl",
        "TopicArn",
        "StateTableName",
        "AuditTableName",
        "AgentFunctionName",
        "ApprovalFunctionName",
        "ApplyFunctionName",
    } <= set(cfn["Outputs"])


def test_every_function_is_built_by_its_own_makefile_target(template: dict[str, Any]) -> None:
    makefile = (ROOT / "src" / "Makefile").read_text()
    for function in HANDLERS:
        assert template["Resources"][function]["Metadata"] == {"BuildMethod": "makefile"}
        assert f"\nbuild-{function}:" in makefile
    assert template["Globals"]["Function"]["CodeUri"] == "src/"


def test_the_run_lease_outlives_the_agents_timeout(cfn: dict[str, Any]) -> None:
    # a run killed at its timeout must not leave a lease that blocks the next scheduled run for long,
    # nor expire while the run is still going
    from lambda_tuner.cycle import LEASE_SECONDS

    timeout = _props(cfn, "AgentFunction")["Timeout"]
    assert timeout < LEASE_SECONDS <= timeout + 300


def test_an_apply_event_that_fails_every_attempt_reaches_the_topic(cfn: dict[str, Any]) -> None:
    # a rollback alarm's event lost after its retries would otherwise leave the change in force, silently
    config = _props(cfn, "ApplyFunctionEventInvokeConfig")
    assert config["MaximumRetryAttempts"] == 2
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Ref": "NotificationTopic"}
