"""The stack the demo and the end-to-end tests deploy into the twin is the stack template.yaml deploys."""

from __future__ import annotations

from typing import Any

from lambda_tuner.twin.stack import AUDIT_TABLE_SPEC, STATE_TABLE_SPEC


def _keys(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "attributes": sorted((a["AttributeName"], a["AttributeType"]) for a in spec["AttributeDefinitions"]),
        "keys": [(k["AttributeName"], k["KeyType"]) for k in spec["KeySchema"]],
        "indexes": sorted(
            (i["IndexName"], tuple((k["AttributeName"], k["KeyType"]) for k in i["KeySchema"]))
            for i in spec.get("GlobalSecondaryIndexes", [])
        ),
        "billing": spec["BillingMode"],
    }


def test_the_local_state_table_has_the_templates_keys_and_indexes(template: dict[str, Any]) -> None:
    assert _keys(STATE_TABLE_SPEC) == _keys(template["Resources"]["StateTable"]["Properties"])


def test_the_local_audit_table_has_the_templates_keys(template: dict[str, Any]) -> None:
    assert _keys(AUDIT_TABLE_SPEC) == _keys(template["Resources"]["AuditTable"]["Properties"])
