"""Every AWS operation the deployed code can call is granted to at least one function's role — an
operation nobody may call would only surface as AccessDenied in a real account, never in the twin."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import botocore.session
from botocore.loaders import Loader

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "lambda_tuner"
NOT_DEPLOYED = ("twin", "cli", "bench")
ALWAYS_ALLOWED = {"sts:GetCallerIdentity"}  # needs no permission
CLIENT = re.compile(r"""client\(\s*["']([a-z0-9-]+)["']""")
WAITER = re.compile(r"""get_waiter\(\s*["'](\w+)["']""")
# method calls and bound-method references (`self.lam.update_alias`), and string names of paginators
TOKEN = re.compile(r"""\.(\w+)\b|["'](\w+)["']""")
# Code that is handed a client names it after its service (`self.lam.get_alias`, `cw.put_metric_alarm`).
RECEIVERS = {
    "lam": "lambda",
    "lambda_client": "lambda",
    "cw": "cloudwatch",
    "cloudwatch_client": "cloudwatch",
    "aas": "application-autoscaling",
    "aas_client": "application-autoscaling",
    "logs": "logs",
    "logs_client": "logs",
}
RECEIVER_CALL = re.compile(r"\b(" + "|".join(RECEIVERS) + r")\.(\w+)")
# Actions IAM cannot scope to a resource: a grant only works with Resource "*".
NO_RESOURCE_LEVEL = {
    "lambda:ListFunctions",
    "lambda:GetAccountSettings",
    "cloudwatch:GetMetricData",
    "logs:GetQueryResults",
    "logs:StopQuery",
    "application-autoscaling:DescribeScheduledActions",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:PutScheduledAction",
    "application-autoscaling:RegisterScalableTarget",
}
# where the IAM action is not named after the API operation. A DynamoDB transaction is authorised by
# the actions of the items in it (the AWS guide "Using IAM with DynamoDB transactions"): ours are Puts
# (audit records, the head), and one Update (a rollback record's mark on its recommendation, which the
# apply function's UpdateItem on the state table covers).
IAM_ACTION = {"lambda:Invoke": "lambda:InvokeFunction", "dynamodb:TransactWriteItems": "dynamodb:PutItem"}


def _deployed_sources() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in NOT_DEPLOYED]


def _operations(service: str) -> dict[str, str]:
    """snake_case method name -> API operation name, from botocore's own model."""
    model = botocore.session.get_session().get_service_model(service)
    from botocore import xform_name

    return {xform_name(name): name for name in model.operation_names}


def _waiter_operation(service: str, waiter: str) -> str:
    config: Any = Loader().load_service_model(service, "waiters-2")
    names = {
        re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower().replace("_v_2", "_v2"): v
        for k, v in config["waiters"].items()
    }
    return str(names[waiter]["operation"])


def _called_operations() -> dict[str, set[str]]:
    """IAM action -> files that call it."""
    calls: dict[str, set[str]] = {}

    def record(service: str, operation: str, source: Path) -> None:
        action = IAM_ACTION.get(f"{service}:{operation}", f"{service}:{operation}")
        calls.setdefault(action, set()).add(source.name)

    for source in _deployed_sources():
        text = source.read_text()
        tokens = {a or b for a, b in TOKEN.findall(text)}
        for service in set(CLIENT.findall(text)):
            operations = _operations(service)
            for token in tokens & set(operations):
                record(service, operations[token], source)
            for waiter in WAITER.findall(text) if service == "lambda" else []:
                record(service, _waiter_operation(service, waiter), source)
        for receiver, method in RECEIVER_CALL.findall(text):
            operations = _operations(RECEIVERS[receiver])
            if method in operations:
                record(RECEIVERS[receiver], operations[method], source)
    return calls


def _allow_statements(cfn: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for resource in cfn["Resources"].values():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                if statement["Effect"] == "Allow":
                    statements.append(statement)
    return statements


def _actions(statement: dict[str, Any]) -> list[str]:
    granted = statement["Action"]
    return granted if isinstance(granted, list) else [granted]


def test_the_scan_finds_the_calls_we_know_the_code_makes() -> None:
    # guards the scanner itself: if it found nothing, the coverage test below would pass vacuously
    calls = _called_operations()
    assert {"lambda:ListFunctions", "lambda:UpdateFunctionConfiguration", "dynamodb:PutItem"} <= set(calls)
    assert "approval_flow.py" in calls["lambda:GetFunctionConfiguration"]  # reached through a receiver


def test_every_operation_the_code_calls_is_granted_to_some_function(cfn: dict[str, Any]) -> None:
    granted = [a for s in _allow_statements(cfn) for a in _actions(s)]
    missing = {
        action: sorted(files)
        for action, files in _called_operations().items()
        if action not in ALWAYS_ALLOWED and not any(fnmatchcase(action.lower(), g.lower()) for g in granted)
    }
    assert missing == {}, "grant these in template.yaml (to the function that runs the code)"


def test_actions_that_cannot_be_scoped_are_granted_on_every_resource(cfn: dict[str, Any]) -> None:
    # `lambda:Get*` on function ARNs looks like it covers GetAccountSettings, but IAM only honours that
    # action with Resource "*"
    unscoped = [a for s in _allow_statements(cfn) if s["Resource"] == "*" for a in _actions(s)]
    needed = set(_called_operations()) & NO_RESOURCE_LEVEL
    missing = {a for a in needed if not any(fnmatchcase(a.lower(), g.lower()) for g in unscoped)}
    assert missing == set()
