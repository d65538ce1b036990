"""`lambda-tuner audit`'s summary column: one line a person reads per record, as the product writes
them (a recommendation's reason is a structured record with every alternative's projections; a change
holds the whole configuration before and after), not a dump of the record's data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lambda_tuner.cli.audit import _summary
from lambda_tuner.core.models import AuditRecord

AT = datetime(2026, 11, 2, 6, tzinfo=UTC)
PROJECTION = {"memory_mb": 552, "duration_ms": {"expected": 237.158, "low": 71.7, "high": 678.4}}


def record(kind: str, data: dict[str, Any]) -> AuditRecord:
    return AuditRecord(id="a1", seq=1, type=kind, at=AT, function="cart", data=data, prev_hash="0" * 64,
                       hash="1" * 64)


RECORDS = {
    "recommendation": record("recommendation", {
        "kind": "memory", "route": "approve", "current": {"memory_mb": 1536}, "proposed": {"memory_mb": 800},
        "reason": {"summary": "Change memory 1536 → 800 MB: saves $3.10/month", "observed": "o" * 300,
                   "model": "m" * 300, "decided_by": "cost", "alternatives": [PROJECTION] * 5},
    }),
    "change": record("change", {
        "ok": True,
        "before": {"kind": "memory", "function": "cart", "memory_mb": 1536, "code_sha256": "t9rPWXvQx1+5UJ0j",
                   "alias": "live", "alias_version": "12", "alias_routing": {}},
        "after": {"kind": "memory", "function": "cart", "memory_mb": 800, "canary_weight": 0.1,
                  "alias": "live", "alias_version": "12", "alias_routing": {"14": 0.1}},
        "request_ids": ["YsuML5LSfAZWJQ9uXnT0"], "alarms": ["lambda-tuner-rollback-cart-f8294bfdf1-errors"],
        "config_before": {"FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:cart"},
    }),
    "rollback": record("rollback", {
        "alarm": "lambda-tuner-rollback-cart-f8294bfdf1-p99", "ok": True, "error": None,
        "removed_from_routing": {"alias": "live", "alias_routing": {"14": 0.1}},
        "trial_version": {"version": "14", "deleted": True, "detail": "trial version 14 deleted"},
    }),
    "verification": record("verification", {
        "realised": {"duration_ms": 229.1, "p99_ms": 319.5, "invocations": 11554},
        "projected_duration_ms": {"expected": 334.7, "low": 199.1, "high": 565.6},
        "within_interval": True, "realised_monthly_saving_usd": 0.7925,
        "projected_monthly_saving_usd": {"expected": 0.378, "low": -0.49, "high": 0.84},
    }),
    "approval": record("approval", {"token_id": "60e5edede4a648f7", "source_ip": "203.0.113.9",
                                    "user_agent": "Mozilla/5.0"}),
}


@pytest.mark.parametrize("kind", sorted(RECORDS))
def test_each_record_reads_as_one_short_line_not_its_data(kind: str) -> None:
    text = _summary(RECORDS[kind])
    assert text and len(text) <= 160 and "{" not in text and "\n" not in text, text


def test_what_each_summary_says() -> None:
    assert _summary(RECORDS["recommendation"]) == "memory: Change memory 1536 → 800 MB: saves $3.10/month"
    change = _summary(RECORDS["change"])
    assert "memory_mb 1536→800" in change and "canary_weight" in change and "code_sha256" not in change
    assert _summary(RECORDS["rollback"]).startswith("alarm lambda-tuner-rollback-cart-f8294bfdf1-p99")
    verification = _summary(RECORDS["verification"])
    assert "$0.79/month" in verification and "within" in verification, verification
    assert "203.0.113.9" in _summary(RECORDS["approval"])
