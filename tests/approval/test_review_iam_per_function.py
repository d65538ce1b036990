"""Each function's role in template.yaml allows every AWS call that function's own code makes, on the
resource it makes it on, and allows nothing its code never calls.

moto and the twin enforce no IAM: a grant missing from the role that runs the code would only show as
AccessDenied in a real account, and a grant to the wrong function as a wider role than needed. So the
three handlers run in the twin through a scenario that takes each of them down its AWS paths (the agent's
cycles in approve and auto mode; the approval page showing, approving and rejecting; the apply function
applying memory, a canary and its conclusion, provisioned concurrency and its schedule, a rollback by
alarm and reverts), every call made through lambda_tuner's clients is recorded with its parameters, and
it is attributed to the function whose handler is on the calling thread's stack (the agent's collection
pool threads, which have none, to the agent). Each call is then judged against that function's
statements in template.yaml, the way IAM reads them: action and resource ARN patterns, an explicit Deny
first. The template's own resources (tables, topic, secret, parameter) are the scenario's.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
import yaml
from approval_support import NOW, make_rec
from twin_support import Live

import lambda_tuner.adapters.metrics as metrics_module
import lambda_tuner.collect as collect_module
from lambda_tuner.adapters import aws, secrets
from lambda_tuner.handlers import agent, apply, approval
from lambda_tuner.twin import person
from lambda_tuner.twin.lambda_invoke import LambdaContext
from lambda_tuner.twin.stack import scheduled_event

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
ACCOUNT, REGION, STACK = "123456789012", "us-east-1", "lt"  # live's functions are lt-apply, lt-approval
KILL_SWITCH = f"/{STACK}/kill-switch"
ROLES = {
    str(Path(module.__file__ or "")): role
    for module, role in ((agent, "AgentFunction"), (approval, "ApprovalFunction"), (apply, "ApplyFunction"))
}
COLLECTION = (str(Path(collect_module.__file__ or "").parent / "collect"), str(metrics_module.__file__))
# Grants no client call of ours makes, because AWS makes the call for the role.
NOT_CALLED_BY_OUR_CODE = {
    ("AgentFunction", "kms:GenerateDataKey"): "SNS encrypts a publish to the topic with the role's grant",
    ("AgentFunction", "kms:Decrypt"): "SNS, as above",
    ("ApplyFunction", "kms:GenerateDataKey"): "SNS, as above, and the failure destination's publishes",
    ("ApplyFunction", "kms:Decrypt"): "SNS, as above",
    ("ApplyFunction", "iam:CreateServiceLinkedRole"): "AAS creates its role on the first scalable target",
}
# Grants our code calls on paths the scenario does not take.
CALLED_OFF_THE_SCENARIO = {
    ("AgentFunction", "logs:StopQuery"): "reports._stop: a Logs Insights query that outlived its wait",
}

Observed = set[tuple[str, str, str]]  # (function, IAM action, resource ARN)


# ---------------------------------------------------------------- what the code calls, and for whom


def _role() -> str | None:
    """The function whose handler is on this thread's stack (the innermost); None for the test itself."""
    frame, collecting = sys._getframe(1), False
    while frame is not None:
        path = frame.f_code.co_filename
        if path in ROLES:
            return ROLES[path]
        collecting = collecting or path.startswith(COLLECTION)
        frame = frame.f_back
    return "AgentFunction" if collecting else None


def _table(name: str, index: str | None = None) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}" + (f"/index/{index}" if index else "")


def _function(name: str, qualifier: str | None = None) -> str:
    arn = name if name.startswith("arn:") else f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return arn + (f":{qualifier}" if qualifier else "")


def _dynamodb(op: str, p: dict[str, Any]) -> list[tuple[str, str]]:
    if op == "TransactWriteItems":  # authorised item by item (AWS: "Using IAM with DynamoDB transactions")
        items = [(kind, v["TableName"]) for item in p["TransactItems"] for kind, v in item.items()]
        return [(f"dynamodb:{kind}Item", _table(name)) for kind, name in items]
    if op in ("BatchGetItem", "BatchWriteItem"):
        return [(f"dynamodb:{op}", _table(name)) for name in p["RequestItems"]]
    return [(f"dynamodb:{op}", _table(p["TableName"], p.get("IndexName")))]


def _lambda(op: str, p: dict[str, Any]) -> list[tuple[str, str]]:
    action = "lambda:InvokeFunction" if op == "Invoke" else f"lambda:{op}"
    if "FunctionName" not in p:
        return [(action, "*")]
    calls = [(action, _function(p["FunctionName"], p.get("Qualifier")))]
    if op == "GetFunction":  # it returns a function's tags (its mode tag) only to a role allowed ListTags
        calls.append(("lambda:ListTags", _function(p["FunctionName"])))
    return calls


def _cloudwatch(op: str, p: dict[str, Any]) -> list[tuple[str, str]]:
    names = [p["AlarmName"]] if op == "PutMetricAlarm" else p.get("AlarmNames", [])
    alarms = [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}" for name in names]
    return [(f"cloudwatch:{op}", arn) for arn in alarms or ["*"]]


def _logs(op: str, p: dict[str, Any]) -> list[tuple[str, str]]:
    groups = p.get("logGroupNames") or p.get("logGroupIdentifiers") or [p.get("logGroupName")]
    arns = [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{g}" for g in groups if g and op == "StartQuery"]
    return [(f"logs:{op}", arn) for arn in arns or ["*"]]


RESOURCES: dict[str, Callable[[str, dict[str, Any]], list[tuple[str, str]]]] = {
    "dynamodb": _dynamodb,
    "lambda": _lambda,
    "cloudwatch": _cloudwatch,
    "logs": _logs,
    "sns": lambda op, p: [(f"sns:{op}", p["TopicArn"])],
    "ssm": lambda op, p: [(f"ssm:{op}", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{p['Name']}")],
    "secretsmanager": lambda op, p: [(f"secretsmanager:{op}", p["SecretId"])],
}


def _requests(service: str, op: str, p: dict[str, Any]) -> list[tuple[str, str]]:
    """What IAM authorises for one API call: (action, resource ARN) pairs ("*": no resource-level)."""
    if service in RESOURCES:
        return RESOURCES[service](op, p)
    return [(f"{service}:{op}", "*")]


class Recorder(aws.ApiCounter):
    """aws.COUNTER that also records each call's IAM action and resource, by function."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: Observed = set()

    def attach(self, client: Any) -> Any:
        service = client.meta.service_model.service_name

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            role = _role()
            if role is not None:
                with self._lock:
                    self.seen |= {(role, a, arn) for a, arn in _requests(service, model.name, params)}

        client.meta.events.register("before-parameter-build", record)
        return super().attach(client)


# ---------------------------------------------------------------- what the template allows


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, !GetAtt, ...) as their long form."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        value = str(value).split(".", 1) if suffix == "GetAtt" else value
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(function: str, names: dict[str, str]) -> list[dict[str, Any]]:
    """The function's statements, with their resources as ARN patterns of the scenario's resources."""
    template = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass

    def resolve(value: Any) -> str:
        if isinstance(value, str):
            return value
        if "Ref" in value:
            return names[value["Ref"]]
        if "Fn::GetAtt" in value:
            return names[".".join(value["Fn::GetAtt"])]
        return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], value["Fn::Sub"])

    policies = template["Resources"][function]["Properties"]["Policies"]
    return [
        {**s, "Action": _as_list(s["Action"]), "Resource": [resolve(r) for r in _as_list(s["Resource"])]}
        for policy in policies
        for s in _as_list(policy["Statement"])
    ]


def _matches(statement: dict[str, Any], action: str, arn: str) -> bool:
    return any(fnmatchcase(action.lower(), a.lower()) for a in statement["Action"]) and any(
        fnmatchcase(arn, r) for r in statement["Resource"]
    )


def _decision(statements: list[dict[str, Any]], action: str, arn: str) -> str:
    effects = {s["Effect"] for s in statements if _matches(s, action, arn)}
    return "Deny" if "Deny" in effects else "Allow" if "Allow" in effects else "implicit deny"


# ---------------------------------------------------------------- the scenario


def _context(function: str) -> LambdaContext:
    return LambdaContext(
        function_name=function,
        function_version="$LATEST",
        memory_limit_in_mb=1024,
        invoked_function_arn=_function(function),
        timeout_s=900,
    )


@pytest.fixture
def recorded(live: Live, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Live, Recorder]]:
    """The twin with the approval and apply functions deployed as `live` has them, the agent's settings
    as the template sets them, and every client built from now on recording its calls."""
    aws.client("ssm").put_parameter(Name=KILL_SWITCH, Value="run", Type="String")
    for key, value in {
        "LT_KILL_SWITCH_PARAMETER": KILL_SWITCH,
        "LT_ALARM_NAME_PREFIX": f"{STACK}-rollback-",
        "LT_APPROVAL_BASE_URL": live.url,
        "LT_MODE": "approve",
        "LT_EXCLUDE_FUNCTIONS": f"{STACK}-agent,{STACK}-approval,{STACK}-apply",
        "LT_CONTROL_PLANE_RPS": "15",
        "LT_MAX_EVENT_AGE_S": "0",  # the twin's days are simulated
        "POWERTOOLS_METRICS_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    recorder = Recorder()
    monkeypatch.setattr(aws, "COUNTER", recorder)
    aws.reset_clients()
    secrets.clear_cache()
    for cached in (agent._wiring, approval._flow, apply._flow):
        cached.cache_clear()
    yield live, recorder
    agent._wiring.cache_clear()


def _status(live: Live, rec_id: str) -> str:
    rec = live.deployed.store.get_recommendation(rec_id)
    assert rec is not None
    return rec.status


def _approve(live: Live, answer: str = "approve", **rec: Any) -> None:
    """A proposal in a digest, opened and answered on the approval page (the apply function follows)."""
    body = live.deployed.propose(live.url, **rec)
    [url] = [u for action, u in person.links_in(body) if action == answer]
    secrets.clear_cache()  # the signing key is cached per process here, per container in Lambda
    page, result = person.decide(url)
    assert page.status == 200 and result is not None and result.status == 200, (page, result)


def _apply(rec_id: str, at: Any, action: str = "apply", **fields: Any) -> dict[str, Any]:
    event = {"action": action, "recommendation_id": rec_id, "time": at.isoformat(), **fields}
    return dict(apply.handler(event, _context(f"{STACK}-apply")))


def _run_scenario(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    revision = live.revision
    # The agent's first cycle: collect, decide, store, audit, a digest with approval links
    secrets.clear_cache()
    first = agent.handler(scheduled_event(NOW), _context(f"{STACK}-agent"))
    assert first["ok"] and first["summary"]["notified"], first
    # A person rejects one proposal and approves others (memory; a change its alarm rolls back)
    _approve(live, "reject", rec_id="rec-no", function="flaky-api", revision_id=revision("flaky-api"))
    _approve(live, rec_id="rec-mem", function="orders-api", revision_id=revision("orders-api"))
    _approve(live, rec_id="rec-oom", function="hungry-api", revision_id=revision("hungry-api"))
    live.twin.advance(NOW + timedelta(minutes=10))  # hungry-api fails at 512 MB: its alarm acts
    assert _status(live, "rec-oom") == "ROLLED_BACK" and _status(live, "rec-no") == "REJECTED"
    # A canary on checkout's alias, concluded after its day
    canary = {"memory_mb": 512, "canary_weight": 0.1, "max_days": 1, "stop_if_p99_ms_above": 400.0}
    live.deployed.store.put_recommendation(
        make_rec(
            rec_id="rec-canary",
            function="checkout",
            kind="experiment",
            proposed=canary,
            qualifier="live",
            revision_id=None,
            status="APPROVED",
        )
    )
    assert _apply("rec-canary", NOW + timedelta(minutes=15), requested_by="approval")["ok"]
    live.twin.advance(NOW + timedelta(days=1, minutes=20))
    done = _apply("rec-canary", NOW + timedelta(days=1, minutes=20), action="conclude")
    assert done["ok"] and _status(live, "rec-canary") == "VERIFIED", done
    # Provisioned concurrency on the alias: a schedule, then a static level in its place
    later = NOW + timedelta(days=1, minutes=30)
    schedule = json.dumps([{"schedule": "cron(0 10 ? * * *)", "tz": "UTC", "pc": 2}])
    pc = {
        "function": "checkout",
        "kind": "provisioned_concurrency",
        "qualifier": "live",
        "current": {"pc": 0},
    }
    live.deployed.store.put_recommendation(
        make_rec(
            rec_id="rec-sched", proposed={"pc_schedule": schedule}, status="APPROVED", revision_id=None, **pc
        )
    )
    assert _apply("rec-sched", later, requested_by="approval")["ok"]
    live.deployed.store.put_recommendation(
        make_rec(rec_id="rec-pc", proposed={"pc": 3}, status="APPROVED", revision_id=None, **pc)
    )
    assert _apply("rec-pc", later + timedelta(minutes=1), requested_by="approval")["ok"]
    # A revert from the command line, through the apply function: the memory and the alias's PC go back
    reverted = apply.handler(
        {"action": "revert", "since": NOW.isoformat(), "time": (later + timedelta(minutes=5)).isoformat()},
        _context(f"{STACK}-apply"),
    )
    assert reverted["ok"] and len(reverted["results"]) >= 2, reverted
    # The agent's next cycle, in auto mode: it expires stale proposals and hands changes to apply
    live.twin.advance(NOW + timedelta(days=4))
    monkeypatch.setenv("LT_MODE", "auto")
    agent._wiring.cache_clear()
    secrets.clear_cache()
    second = agent.handler(scheduled_event(NOW + timedelta(days=4)), _context(f"{STACK}-agent"))
    assert second["ok"] and second["summary"]["expired"] and second["summary"]["applied_requests"], second
    assert live.twin.async_failures == []  # every apply the twin ran for an Invoke finished


# Operations the scenario must reach for each function, so that the checks below judge real paths.
REACHED = {
    "AgentFunction": {
        "lambda:ListFunctions",
        "lambda:GetFunction",
        "cloudwatch:GetMetricData",
        "logs:StartQuery",
        "dynamodb:BatchWriteItem",
        "dynamodb:BatchGetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "sns:Publish",
        "lambda:InvokeFunction",
        "ssm:GetParameter",
        "secretsmanager:GetSecretValue",
    },
    "ApprovalFunction": {
        "lambda:GetFunctionConfiguration",
        "lambda:InvokeFunction",
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "secretsmanager:GetSecretValue",
    },
    "ApplyFunction": {
        "lambda:UpdateFunctionConfiguration",
        "lambda:PublishVersion",
        "lambda:UpdateAlias",
        "lambda:DeleteFunction",
        "lambda:PutProvisionedConcurrencyConfig",
        "lambda:DeleteProvisionedConcurrencyConfig",
        "application-autoscaling:RegisterScalableTarget",
        "application-autoscaling:PutScheduledAction",
        "application-autoscaling:DeleteScheduledAction",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DeleteAlarms",
        "dynamodb:Scan",
        "sns:Publish",
        "ssm:GetParameter",
    },
}


@pytest.fixture
def observed(
    recorded: tuple[Live, Recorder], monkeypatch: pytest.MonkeyPatch
) -> tuple[Observed, dict[str, str]]:
    live, recorder = recorded
    _run_scenario(live, monkeypatch)
    account = live.deployed.account
    names = {
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::StackName": STACK,
        "StateTable.Arn": _table(live.deployed.store.state_table),
        "AuditTable.Arn": _table(live.deployed.store.audit_table),
        "NotificationTopic": account.topic_arn,
        "ApprovalSecret": account.secret_arn,
        "KillSwitchParameter": KILL_SWITCH,
        "TopicKey.Arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/topic-key",
    }
    return recorder.seen, names


def test_each_function_may_make_every_call_its_code_makes_and_nothing_else(
    observed: tuple[Observed, dict[str, str]],
) -> None:
    seen, names = observed
    for function, needed in REACHED.items():
        reached = {action for role, action, _ in seen if role == function}
        assert needed <= reached, f"the scenario no longer reaches {sorted(needed - reached)} in {function}"
    # Every call is allowed to the function that makes it, on its resource ...
    refused = sorted(
        (function, action, arn, decision)
        for function, action, arn in seen
        if (decision := _decision(_statements(function, names), action, arn)) != "Allow"
    )
    assert refused == [], f"grant these to the function that makes the call (template.yaml): {refused}"
    # ... and every grant is used: each action of a statement on one of its resources, each resource by
    # one of its actions
    unused = []
    for function in REACHED:
        calls = [(action, arn) for role, action, arn in seen if role == function]
        for s in (s for s in _statements(function, names) if s["Effect"] == "Allow"):
            used = [(a, r) for a, r in calls if _matches(s, a, r)]
            unused += [
                (function, s.get("Sid"), action)
                for action in s["Action"]
                if (function, action) not in NOT_CALLED_BY_OUR_CODE | CALLED_OFF_THE_SCENARIO.keys()
                and not any(fnmatchcase(a.lower(), action.lower()) for a, _ in used)
            ]
            unused += [
                (function, s.get("Sid"), resource)
                for resource in s["Resource"]
                if not any(fnmatchcase(r, resource) for _, r in used)
                and not all((function, a) in NOT_CALLED_BY_OUR_CODE for a in s["Action"])
            ]
    assert sorted(unused) == [], (
        f"no code of that function needs these grants (template.yaml): {sorted(unused)}"
    )
