"""The audit hash chain: any edit, deletion, reordering or truncation is detected."""

from __future__ import annotations

from datetime import timedelta

import pytest
from approval_support import NOW

from lambda_tuner.core.audit import GENESIS, chain, record_hash, verify_chain
from lambda_tuner.core.models import AuditRecord


def _history(n: int = 5) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    for i in range(n):
        prev = records[-1] if records else None
        records.append(
            chain(
                prev,
                id=f"a{i}",
                type="change",
                at=NOW + timedelta(minutes=i),
                function="orders-api",
                data={"before": {"memory_mb": 1024}, "n": i},
            )
        )
    return records


def test_records_link_to_their_predecessor_and_count_up_from_one() -> None:
    records = _history(3)
    assert [r.seq for r in records] == [1, 2, 3]
    assert records[0].prev_hash == GENESIS
    assert records[2].prev_hash == records[1].hash
    assert all(r.hash == record_hash(r) for r in records)


def test_an_intact_chain_has_no_problems_and_contains_its_published_head() -> None:
    records = _history()
    assert verify_chain(records) == []
    assert verify_chain(records, head_hash=records[2].hash) == []


def test_an_edited_record_is_detected() -> None:
    records = _history()
    records[2] = records[2].model_copy(update={"data": {"before": {"memory_mb": 128}, "n": 2}})
    assert any("edited" in p for p in verify_chain(records))


def test_an_edited_record_with_a_recomputed_hash_breaks_the_next_link() -> None:
    records = _history()
    forged = records[2].model_copy(update={"actor": "mallory"})
    records[2] = forged.model_copy(update={"hash": record_hash(forged)})
    assert any("seq 4" in p and "link" in p for p in verify_chain(records))


def test_a_deleted_record_is_detected() -> None:
    records = _history()
    del records[2]
    assert verify_chain(records) != []


def test_reordered_records_are_detected() -> None:
    records = _history()
    records[1], records[2] = records[2], records[1]
    assert verify_chain(records) != []


def test_truncation_is_detected_given_the_published_head() -> None:
    records = _history()
    head = records[-1].hash
    assert verify_chain(records[:-2]) == []  # without the head, a shorter chain looks fine…
    assert any("truncated" in p for p in verify_chain(records[:-2], head_hash=head))  # …with it, not


def test_the_hash_survives_a_round_trip_through_json() -> None:
    record = _history(1)[0]
    again = AuditRecord.model_validate_json(record.model_dump_json())
    assert record_hash(again) == record.hash


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        chain(None, id="x", type="change", at=NOW.replace(tzinfo=None))
