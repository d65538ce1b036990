"""Least privilege, read off the CloudFormation that SAM generates (what IAM will actually hold)."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

# Concrete actions that change functions, their scaling or the account; wildcards in a grant are
# matched against these, so `lambda:*` or `lambda:Update*` would be caught as well.
CHANGING_ACTIONS = (
    "lambda:UpdateFunctionConfiguration",
    "lambda:UpdateFunctionCode",
    "lambda:UpdateAlias",
    "lambda:PublishVersion",
    "lambda:PutProvisionedConcurrencyConfig",
    "lambda:DeleteProvisionedConcurrencyConfig",
    "lambda:PutFunctionConcurrency",
    "lambda:DeleteFunctionConcurrency",
    "lambda:DeleteFunction",
    "lambda:CreateFunction",
    "lambda:AddPermission",
    "lambda:TagResource",
    "lambda:PutFunctionEventInvokeConfig",
    "application-autoscaling:RegisterScalableTarget",
    "application-autoscaling:DeregisterScalableTarget",
    "application-autoscaling:PutScheduledAction",
    "application-autoscaling:DeleteScheduledAction",
    "application-autoscaling:PutScalingPolicy",
    "iam:CreateServiceLinkedRole",
    "iam:PassRole",
)
AUDIT_REWRITES = (
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
    "dynamodb:DeleteTable",
    "dynamodb:UpdateTable",
    "dynamodb:RestoreTableToPointInTime",
)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(cfn: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """Every IAM statement of the role the function runs as."""
    role_ref = cfn["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
    role = cfn["Resources"][role_ref]["Properties"]
    return [s for p in role.get("Policies", []) for s in _as_list(p["PolicyDocument"]["Statement"])]


def _functions(cfn: dict[str, Any]) -> list[str]:
    return [name for name, r in cfn["Resources"].items() if r["Type"] == "AWS::Lambda::Function"]


def _granted(statements: list[dict[str, Any]], action: str) -> bool:
    return any(
        s["Effect"] == "Allow" and any(fnmatchcase(action.lower(), a.lower()) for a in _as_list(s["Action"]))
        for s in statements
    )


def test_only_the_apply_function_can_change_functions_scaling_or_roles(cfn: dict[str, Any]) -> None:
    # Given every function's role, When we look for any grant of a changing action (wildcards included)
    changers = {
        function: sorted(a for a in CHANGING_ACTIONS if _granted(_statements(cfn, function), a))
        for function in _functions(cfn)
    }
    # Then only the apply function holds them, and it holds what applying and rolling back need
    assert {f for f, actions in changers.items() if actions} == {"ApplyFunction"}
    assert {
        "lambda:UpdateFunctionConfiguration",
        "lambda:PublishVersion",
        "lambda:UpdateAlias",
        "lambda:PutProvisionedConcurrencyConfig",
        "lambda:DeleteProvisionedConcurrencyConfig",
        "lambda:DeleteFunction",  # a canary's trial version, once it has ended
        "application-autoscaling:RegisterScalableTarget",
        "application-autoscaling:PutScheduledAction",
        "application-autoscaling:DeleteScheduledAction",
        "iam:CreateServiceLinkedRole",
    } <= set(changers["ApplyFunction"])
    assert "iam:PassRole" not in changers["ApplyFunction"]


# How IAM reads a grant's ARN pattern here: placeholders filled in, `*` matching any run of characters
# (colons included), as IAM's ARN wildcards do.
STACK = "lt"
PLACEHOLDERS = {
    "${AWS::Partition}": "aws",
    "${AWS::Region}": "us-east-1",
    "${AWS::AccountId}": "123456789012",
    "${AWS::StackName}": STACK,
}
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


def _arn_patterns(statement: dict[str, Any]) -> list[str]:
    patterns = []
    for resource in _as_list(statement["Resource"]):
        text = resource["Fn::Sub"] if isinstance(resource, dict) else resource
        for placeholder, value in PLACEHOLDERS.items():
            text = text.replace(placeholder, value)
        patterns.append(text)
    return patterns


def _effect_on(cfn: dict[str, Any], action: str, arn: str) -> str:
    """What the apply function's policy says about `action` on `arn`: an explicit Deny wins, then Allow."""
    effects = {
        s["Effect"]
        for s in _statements(cfn, "ApplyFunction")
        if any(fnmatchcase(action.lower(), a.lower()) for a in _as_list(s["Action"]))
        and any(fnmatchcase(arn, pattern) for pattern in _arn_patterns(s))
    }
    return "Deny" if "Deny" in effects else "Allow" if "Allow" in effects else "implicit deny"


def test_the_apply_function_may_delete_a_version_but_never_a_whole_function(cfn: dict[str, Any]) -> None:
    # Lambda authorises DeleteFunction with a Qualifier against the qualified ARN (name:version)
    assert _effect_on(cfn, "lambda:DeleteFunction", FUNCTION_ARN + "orders-api:7") == "Allow"
    # and without one against the unqualified ARN: the whole function, with all its versions and aliases
    assert _effect_on(cfn, "lambda:DeleteFunction", FUNCTION_ARN + "orders-api") == "implicit deny"
    for function in ("AgentFunction", "ApprovalFunction"):
        assert not _granted(_statements(cfn, function), "lambda:DeleteFunction")


def test_the_stacks_own_functions_versions_cannot_be_deleted(cfn: dict[str, Any]) -> None:
    for own in ("agent", "approval", "apply"):
        assert _effect_on(cfn, "lambda:DeleteFunction", f"{FUNCTION_ARN}{STACK}-{own}:3") == "Deny", own
        assert _effect_on(cfn, "lambda:DeleteFunction", f"{FUNCTION_ARN}{STACK}-{own}") != "Allow"


def test_the_service_linked_role_grant_is_limited_to_lambda_auto_scaling(cfn: dict[str, Any]) -> None:
    grants = [
        s for s in _statements(cfn, "ApplyFunction") if "iam:CreateServiceLinkedRole" in _as_list(s["Action"])
    ]
    assert len(grants) == 1
    assert "lambda.application-autoscaling.amazonaws.com" in json.dumps(grants[0]["Resource"])
    assert (
        grants[0]["Condition"]["StringEquals"]["iam:AWSServiceName"]
        == "lambda.application-autoscaling.amazonaws.com"
    )


def test_the_apply_function_is_denied_changing_the_stacks_own_functions(cfn: dict[str, Any]) -> None:
    denies = [s for s in _statements(cfn, "ApplyFunction") if s["Effect"] == "Deny"]
    denied_targets = json.dumps([s["Resource"] for s in denies])
    for suffix in ("-agent", "-approval", "-apply"):
        assert "${AWS::StackName}" + suffix in denied_targets
    assert any(
        fnmatchcase("lambda:UpdateFunctionConfiguration", a) for s in denies for a in _as_list(s["Action"])
    )


def test_nobody_can_rewrite_or_delete_the_audit_trail(cfn: dict[str, Any]) -> None:
    for function in _functions(cfn):
        for statement in _statements(cfn, function):
            targets = json.dumps(statement["Resource"])
            if statement["Effect"] != "Allow" or ("AuditTable" not in targets and targets != '"*"'):
                continue
            granted = _as_list(statement["Action"])
            rewrites = [a for a in AUDIT_REWRITES if any(fnmatchcase(a.lower(), g.lower()) for g in granted)]
            assert rewrites == [], f"{function} may {rewrites} on {targets}"
    # and every function that audits can append and read it
    for function in ("AgentFunction", "ApprovalFunction", "ApplyFunction"):
        audit = [s for s in _statements(cfn, function) if "AuditTable" in json.dumps(s["Resource"])]
        assert {"dynamodb:PutItem", "dynamodb:Query"} <= {a for s in audit for a in _as_list(s["Action"])}


def test_the_agent_only_reads_except_for_its_own_state_topic_and_apply_invocation(
    cfn: dict[str, Any],
) -> None:
    for statement in _statements(cfn, "AgentFunction"):
        for action in _as_list(statement["Action"]):
            service, verb = action.split(":")
            reads = verb.startswith(
                ("Get", "List", "Describe", "Query", "BatchGet", "ConditionCheck", "Scan")
            )
            reads = reads or action in {"logs:StartQuery", "logs:StopQuery", "logs:GetQueryResults"}
            if reads:
                continue
            targets = json.dumps(statement["Resource"])
            allowed_target = {
                "dynamodb": "StateTable" in targets or ("AuditTable" in targets and verb == "PutItem"),
                "sns": "NotificationTopic" in targets,
                "kms": "TopicKey" in targets,
                "lambda": verb == "InvokeFunction"
                and targets.count("function:") == 1
                and "-apply" in targets,
            }.get(service, False)
            assert allowed_target, f"the agent may {action} on {targets}"


def test_only_the_apply_function_is_invocable_by_the_other_two(cfn: dict[str, Any]) -> None:
    for function in ("AgentFunction", "ApprovalFunction"):
        invoke = [s for s in _statements(cfn, function) if _granted([s], "lambda:InvokeFunction")]
        assert len(invoke) == 1, function
        assert json.dumps(invoke[0]["Resource"]).endswith('function:${AWS::StackName}-apply"}')
    assert not _granted(_statements(cfn, "ApplyFunction"), "lambda:InvokeFunction")


def test_rollback_alarms_and_their_invoke_permission_share_one_name_scope(cfn: dict[str, Any]) -> None:
    resources = cfn["Resources"]
    alarm_grant = next(
        s for s in _statements(cfn, "ApplyFunction") if "cloudwatch:PutMetricAlarm" in s["Action"]
    )
    permission = resources["RollbackAlarmsInvokeApply"]["Properties"]
    assert permission["Principal"] == "lambda.alarms.cloudwatch.amazonaws.com"
    assert permission["FunctionName"] == {"Ref": "ApplyFunction"}
    assert alarm_grant["Resource"] == permission["SourceArn"]
    assert permission["SourceArn"]["Fn::Sub"].endswith(":alarm:${AWS::StackName}-rollback-*")
    env = resources["ApplyFunction"]["Properties"]["Environment"]["Variables"]
    assert env["LT_ALARM_NAME_PREFIX"] == {"Fn::Sub": "${AWS::StackName}-rollback-"}
    # no other function may manage alarms
    for function in ("AgentFunction", "ApprovalFunction"):
        assert not _granted(_statements(cfn, function), "cloudwatch:PutMetricAlarm")


def test_only_the_approval_function_has_a_url_and_only_it_is_public(cfn: dict[str, Any]) -> None:
    resources = cfn["Resources"]
    urls = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::Lambda::Url"}
    assert [u["TargetFunctionArn"] for u in urls.values()] == [{"Ref": "ApprovalFunction"}]
    assert [u["AuthType"] for u in urls.values()] == ["NONE"]
    public = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "*"
    ]
    assert public, "a NONE-auth URL needs a public permission"
    assert {json.dumps(p["FunctionName"]) for p in public} == {'{"Ref": "ApprovalFunction"}'}
    # a public grant is only good for calls through the URL
    assert all(
        p.get("FunctionUrlAuthType") == "NONE" or p.get("InvokedViaFunctionUrl") is True for p in public
    )
