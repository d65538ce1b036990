"""The audit trail as a hash chain, pure.

Each record carries the SHA-256 of the previous record and its own hash over a canonical JSON of all
its other fields, so an edited, deleted, reordered or (given a published head hash) truncated history
is detectable by anyone holding the records.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from lambda_tuner.core.models import AuditRecord, AuditType

GENESIS = "0" * 64


def canonical(record: AuditRecord) -> str:
    """The exact text that is hashed: sorted keys, no whitespace, ISO-8601 UTC times."""
    body = record.model_dump(mode="json", exclude={"hash"})
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(record: AuditRecord) -> str:
    return hashlib.sha256(canonical(record).encode("utf-8")).hexdigest()


def chain(
    prev: AuditRecord | None, *, id: str, type: AuditType, at: datetime, **fields: Any
) -> AuditRecord:
    """The next record after `prev` (None: the first record), hashed."""
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    draft = AuditRecord(
        id=id,
        type=type,
        at=at.astimezone(UTC),
        seq=1 if prev is None else prev.seq + 1,
        prev_hash=GENESIS if prev is None else prev.hash,
        hash="",
        **fields,
    )
    # Round-trip through JSON so the hashed form is what storage gives back (tuples become lists, …).
    draft = AuditRecord.model_validate_json(draft.model_dump_json())
    return draft.model_copy(update={"hash": record_hash(draft)})


def verify_chain(records: Sequence[AuditRecord], head_hash: str | None = None) -> list[str]:
    """Every break found, in order; [] when the chain is intact (and contains `head_hash`, if given)."""
    problems: list[str] = []
    prev: AuditRecord | None = None
    for rec in records:
        if rec.hash != record_hash(rec):
            problems.append(f"seq {rec.seq} ({rec.id}): content does not match its hash (edited)")
        expected_seq = 1 if prev is None else prev.seq + 1
        if rec.seq != expected_seq:
            problems.append(f"seq {rec.seq} ({rec.id}): expected seq {expected_seq} (deleted or reordered)")
        expected_prev = GENESIS if prev is None else prev.hash
        if rec.prev_hash != expected_prev:
            problems.append(f"seq {rec.seq} ({rec.id}): does not link to the record before it")
        prev = rec
    if head_hash is not None and head_hash not in {r.hash for r in records}:
        problems.append(f"head {head_hash[:12]}… is not in the chain (history truncated or replaced)")
    return problems
