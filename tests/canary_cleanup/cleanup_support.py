"""What the cleanup tests share: a twin whose function `render` serves version 1 behind the alias `live`,
the apply flow wired to it as the apply function wires it, and readings of its versions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from approval_support import AUDIT, NOW, STATE, Account
from canary_apply_support import ACTION, ALIAS, canary_rec, render_behind_alias, reset_twin

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store
from lambda_tuner.twin.server import Twin
from lambda_tuner.twin.world import World

FN = "render"
LATER = NOW + timedelta(days=1)


def world() -> World:
    return render_behind_alias(calls_per_min=60.0, seed=7)


def twin_fixture() -> Iterator[Twin]:
    with Twin(world()) as running:
        yield running


def fresh_account(twin: Twin, monkeypatch: pytest.MonkeyPatch) -> Account:
    """The twin reset to `world()`, boto3 pointed at it, and the template's tables, topic and secret."""
    return reset_twin(twin, world(), monkeypatch)


class Cleanup:
    """The apply flow against the twin, and what the account and the audit say afterwards."""

    def __init__(self, twin: Twin, account: Account) -> None:
        self.twin, self.account = twin, account
        self.store = Store(STATE, AUDIT)
        self.lam = aws.client("lambda")
        self.flow = self.flow_with()

    def flow_with(self, lam: Any = None, cloudwatch: Any = None) -> ApplyFlow:
        applier = Applier(lam or self.lam, sleep=lambda _: None, poll_delay_s=1)
        notifier = Notifier(self.account.topic_arn)
        return ApplyFlow(self.store, applier, notifier, alarm_action_arn=ACTION, cloudwatch=cloudwatch)

    def put_canary(self, rec_id: str = "rec-1", **extra: Any) -> None:
        self.store.put_recommendation(canary_rec(rec_id=rec_id, function=FN, **extra))

    def applied(self) -> str:
        """Apply the canary experiment rec-1 (512 MB for 10 % of `live`); returns its trial version."""
        self.put_canary()
        result = self.flow.apply("rec-1", "approval", NOW)
        assert result.ok, result.message
        return str(result.after["published_version"])

    def versions(self) -> list[str]:
        """The function's published versions, as ListVersionsByFunction answers."""
        pages = self.lam.get_paginator("list_versions_by_function").paginate(FunctionName=FN)
        return [v["Version"] for page in pages for v in page["Versions"] if v["Version"] != "$LATEST"]

    def alias(self, name: str = ALIAS) -> tuple[str, dict[str, float]]:
        got = self.lam.get_alias(FunctionName=FN, Name=name)
        return str(got["FunctionVersion"]), dict(
            got.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
        )

    def status(self, rec_id: str = "rec-1") -> str:
        rec = self.store.get_recommendation(rec_id)
        assert rec is not None
        return rec.status

    def last(self, record_type: str) -> dict[str, Any]:
        """The data of the latest audit record of `record_type`."""
        return dict(next(r for r in reversed(self.store.list_audit()) if r.type == record_type).data)

    def deletes(self) -> int:
        """DeleteFunction calls the twin answered (qualified or not)."""
        return self.twin.calls["lambda.DeleteFunction"]
