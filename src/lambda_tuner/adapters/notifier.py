"""SNS: publish the digest and rollback notices with attributes subscribers can filter on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_tuner.adapters import aws

SUBJECT_MAX = 100


class NotifyError(Exception):
    pass


class Notifier:
    def __init__(self, topic_arn: str, client: Any = None) -> None:
        self.topic_arn = topic_arn
        self.client = client or aws.client("sns")

    def publish(self, subject: str, body: str, attributes: Mapping[str, str]) -> str:
        """The SNS message id. Subjects are made SNS-safe (ASCII, one line, ≤ 100 characters)."""
        safe = " ".join(subject.encode("ascii", "replace").decode("ascii").split())[:SUBJECT_MAX]
        try:
            resp = self.client.publish(
                TopicArn=self.topic_arn,
                Subject=safe or "lambda-tuner",
                Message=body,
                MessageAttributes={
                    k: {"DataType": "String", "StringValue": v} for k, v in attributes.items() if v != ""
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise NotifyError(f"cannot publish to {self.topic_arn}: {exc}") from exc
        return str(resp["MessageId"])
