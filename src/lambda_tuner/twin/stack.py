"""lambda-tuner's own stack, deployed into the twin: what `sam deploy` creates, for the demo and the tests.

Tables, topic, secret and kill switch mirror template.yaml (a test compares them); the three functions
run in this process: the apply function behind Lambda Invoke, the approval function behind a local
Function URL, the agent called with scheduled events. Their settings come from the environment exactly
as in Lambda.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3

from lambda_tuner.twin.server import Twin

STACK = "lambda-tuner"
AGENT, APPROVAL, APPLY = f"{STACK}-agent", f"{STACK}-approval", f"{STACK}-apply"

KEYS = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
STATE_TABLE_SPEC: dict[str, Any] = {
    "BillingMode": "PAY_PER_REQUEST",
    "AttributeDefinitions": [
        {"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "gsi1pk", "gsi1sk")
    ],
    "KeySchema": KEYS,
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "gsi1",
            "KeySchema": [
                {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
}
AUDIT_TABLE_SPEC: dict[str, Any] = {
    "BillingMode": "PAY_PER_REQUEST",
    "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
    "KeySchema": KEYS,
}


@dataclass
class LocalStack:
    twin: Twin
    mode: str = "approve"
    settings: dict[str, str] = field(default_factory=dict)
    queue_url: str = ""

    def deploy(self) -> LocalStack:
        """Create the stack's resources in the twin and wire the handlers; sets the LT_* environment."""
        session = boto3.session.Session(region_name=self.twin.region)
        ddb, sns, sqs = session.client("dynamodb"), session.client("sns"), session.client("sqs")
        state, audit = f"{STACK}-state", f"{STACK}-audit"
        ddb.create_table(TableName=state, **STATE_TABLE_SPEC)
        ddb.create_table(TableName=audit, **AUDIT_TABLE_SPEC)
        topic = sns.create_topic(Name=f"{STACK}-notifications")["TopicArn"]
        # A queue subscribed to the topic stands in for the inbox: the demo reads the digest as sent.
        self.queue_url = sqs.create_queue(QueueName=f"{STACK}-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"}
        )
        secret = session.client("secretsmanager").create_secret(
            Name=f"{STACK}-approval-key", SecretString=secrets.token_urlsafe(48)
        )["ARN"]
        kill = f"/{STACK}/kill-switch"
        session.client("ssm").put_parameter(Name=kill, Value="run", Type="String")
        apply_arn = self._create_functions(session)
        self.settings = {
            "LT_STATE_TABLE": state,
            "LT_AUDIT_TABLE": audit,
            "LT_TOPIC_ARN": topic,
            "LT_SECRET_ARN": secret,
            "LT_APPLY_FUNCTION": APPLY,
            "LT_KILL_SWITCH_PARAMETER": kill,
            "LT_MODE": self.mode,
            "LT_TAG_PREFIX": "lambda-tuner:",
            "LT_LOOKBACK_DAYS": "14",
            "LT_ALARM_ACTION_ARN": apply_arn,
            # The simulated account has no deploys of its own to share the Lambda control-plane quota with.
            "LT_CONTROL_PLANE_RPS": "15",
            # The twin's days are simulated: its ticks are as old or as new as the day it plays.
            "LT_MAX_EVENT_AGE_S": "0",
            "LT_EXCLUDE_FUNCTIONS": f"{AGENT},{APPROVAL},{APPLY}",
            "LT_APPROVAL_BASE_URL": "pending",
            "POWERTOOLS_SERVICE_NAME": "lambda-tuner",
            "POWERTOOLS_METRICS_NAMESPACE": "LambdaTuner",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            # EMF metrics are log lines CloudWatch turns into metrics; the twin ingests no logs, and the
            # demo shows the same figures in its tables.
            "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
        }
        os.environ.update(self.settings)
        # Imported only now: Powertools reads its settings (log level) when the handler module loads.
        from lambda_tuner.handlers import apply as apply_handler
        from lambda_tuner.handlers import approval as approval_handler

        self.twin.register_handler(APPLY, apply_handler.handler)
        url = self.twin.serve_function_url(APPROVAL, approval_handler.handler)
        self.settings["LT_APPROVAL_BASE_URL"] = url
        os.environ["LT_APPROVAL_BASE_URL"] = url
        return self

    def _create_functions(self, session: boto3.session.Session) -> str:
        """The stack's three functions exist in the account as after `sam deploy` (their code runs here)."""
        role = session.client("iam").create_role(
            RoleName=f"{STACK}-functions",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "sts:AssumeRole",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        lam = session.client("lambda")
        arns = {}
        # As template.yaml has them: the apply function paces its waits by the time it has left.
        for name, memory, timeout in ((AGENT, 1024, 900), (APPROVAL, 256, 15), (APPLY, 512, 900)):
            arns[name] = lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler=f"lambda_tuner.handlers.{name}.handler",
                Code={"ZipFile": _package()},
                MemorySize=memory,
                Timeout=timeout,
                Architectures=["arm64"],
                Tags={"aws:cloudformation:stack-name": STACK},
            )["FunctionArn"]
        return arns[APPLY]

    def inbox(self) -> list[dict[str, Any]]:
        """Every SNS message delivered since the last call: subject, text and message attributes."""
        sqs = boto3.client("sqs", region_name=self.twin.region)
        out: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = got.get("Messages", [])
            if not messages:
                return out
            for message in messages:
                envelope = json.loads(message["Body"])
                out.append(
                    {
                        "subject": envelope.get("Subject"),
                        "text": envelope.get("Message", ""),
                        "attributes": {
                            k: v.get("Value") for k, v in envelope.get("MessageAttributes", {}).items()
                        },
                    }
                )
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


def _package() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "README.txt", "lambda-tuner runs in the twin's process; this package is a placeholder"
        )
    return buffer.getvalue()


def scheduled_event(
    now: datetime, account: str = "123456789012", region: str = "us-east-1"
) -> dict[str, Any]:
    """The Scheduled Event the agent's EventBridge rule delivers (the shape of events/scheduled.json)."""
    return {
        "version": "0",
        "id": f"demo-{now:%Y%m%d%H%M}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/{STACK}-schedule"],
        "detail": {},
    }
