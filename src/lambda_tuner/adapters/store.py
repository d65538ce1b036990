"""DynamoDB persistence: the agent lease, recommendations and their state machine, per-function state,
and the append-only, hash-chained audit.

StateTable items (keys `pk`/`sk`): `LEASE/AGENT`; `REC#<id>/REC` (GSI `gsi1`: `STATUS#<status>` →
`<created_at>#<id>`; a rolled-back one's `a_rollback_recorded`: the id of its one rollback record);
`FN#<function>/STATE`; `ALARM#<name>/ALARM` (while the alarm exists); `AUDIT/HEAD` (a copy of the latest
audit hash, so deleting the newest audit records is detectable). AuditTable items: `AUDIT/<seq:012d>`
holding the canonical record JSON, only ever written with a put on a new key.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_tuner.adapters import aws
from lambda_tuner.core.audit import chain
from lambda_tuner.core.models import AuditRecord, AuditType, Recommendation

LOG = logging.getLogger(__name__)
AUDIT_PK = "AUDIT"
APPEND_ATTEMPTS = 16
AUDIT_ORDER_SLACK = timedelta(days=1)  # how far out of time order concurrent writers may append
TRANSACT_RECORDS = 99  # TransactWriteItems takes 100 items: the records and the head
BATCH_GET_KEYS = 100  # BatchGetItem's limit per request
BATCH_GET_ATTEMPTS = 8
UNSENT = "unsent"  # on an approval request whose links are not sent yet (see put_recommendations)
MOVED_BY = "moved_by"  # on a recommendation: the id of the status move that last wrote it (`transition`)


class StoreError(Exception):
    pass


class AuditContentionError(StoreError):
    """Other writers kept winning the race for the next audit sequence number."""


class RecordedAlready(Exception):
    """The record there is to be one of for a recommendation (its rollback) was written by another
    writer: another delivery of the same event, or an event of a sibling alarm."""


def _conditional_failed(exc: ClientError | BotoCoreError) -> bool:
    """Whether DynamoDB refused a write for its condition (another writer won), not for any other reason;
    no answer at all (a BotoCoreError) is never that."""
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in (
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
    )


def _utc(moment: datetime) -> str:
    """ISO 8601 in UTC, so stored times compare as strings."""
    return moment.astimezone(UTC).isoformat()


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _attrs(item: dict[str, Any]) -> dict[str, Any]:
    """What a recommendation's transitions recorded on its item (`a_<name>`, JSON), decoded."""
    return {k[2:]: json.loads(v["S"]) for k, v in item.items() if k.startswith("a_")}


def _json_item(pk: str, sk: str, data: dict[str, Any]) -> dict[str, Any]:
    """A state-table item holding JSON (per-function state, collector parts, alarm links)."""
    return {"pk": _s(pk), "sk": _s(sk), "data": _s(json.dumps(data, default=str, sort_keys=True))}


def _record_put(record: AuditRecord) -> dict[str, Any]:
    """The put of one audit record on its sequence number's key, refused if another writer took it."""
    item = {"pk": _s(AUDIT_PK), "sk": _s(f"{record.seq:012d}"), "record": _s(record.model_dump_json())}
    return {"Item": item, "ConditionExpression": "attribute_not_exists(pk)"}


def _head_put(record: AuditRecord) -> dict[str, Any]:
    """The put of the audit head (kept beside the audit) past `record`, never back behind a later one."""
    return {
        "Item": {"pk": _s("AUDIT"), "sk": _s("HEAD"), "seq": {"N": str(record.seq)}, "hash": _s(record.hash)},
        "ConditionExpression": "attribute_not_exists(pk) OR seq < :s",
        "ExpressionAttributeValues": {":s": {"N": str(record.seq)}},
    }


class Store:
    def __init__(
        self,
        state_table: str,
        audit_table: str,
        client: Any = None,
        *,
        audit_page_size: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state_table = state_table
        self.audit_table = audit_table
        self.audit_page_size = audit_page_size  # None: DynamoDB's 1 MB pages
        self.client = client or aws.client("dynamodb")
        self.clock = clock  # the lease's: a run lasts by the wall clock, whatever its event's time

    def _call(self, doing: str, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One call; DynamoDB refusing it or not answering is the store's error, saying what it was
        `doing` (a raw botocore error is caught by some callers and not others)."""
        try:
            got: dict[str, Any] = getattr(self.client, operation)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"cannot {doing}: {exc}") from exc
        return got

    def _read(self, what: str, operation: str, **kwargs: Any) -> dict[str, Any]:
        return self._call(f"read {what}", operation, **kwargs)

    def _write(self, what: str, operation: str, **kwargs: Any) -> None:
        """One unconditional write."""
        self._call(f"write {what}", operation, **kwargs)

    def _pages(self, what: str, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """The pages of a paginated read (query, scan), failing as `_read` does."""
        try:
            yield from self.client.get_paginator(operation).paginate(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"cannot read {what}: {exc}") from exc

    # ---------------------------------------------------------------- lease

    def acquire_lease(self, owner: str, now: datetime, ttl_s: int) -> bool:
        """True when `owner` holds the lease until now + ttl (a stale lease of another owner is taken).

        `now` is the run's event time; the wall clock is used when it is later. An event delivered late
        (an asynchronous invocation waits up to an hour in a backlog) runs now, not at its time: a lease
        reckoned from that time would expire while the run goes on, and the next event's run would take
        it. The event time stays when it is the later one (the demo's simulated days)."""
        epoch = max(int(now.timestamp()), int(self.clock()))
        try:
            self.client.put_item(
                TableName=self.state_table,
                Item={
                    "pk": _s("LEASE"),
                    "sk": _s("AGENT"),
                    "owner": _s(owner),
                    "expires": {"N": str(epoch + ttl_s)},
                    "ttl": {"N": str(epoch + ttl_s + 86_400)},
                },
                ConditionExpression="attribute_not_exists(pk) OR #o = :o OR expires < :now",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":o": _s(owner), ":now": {"N": str(epoch)}},
            )
        except (ClientError, BotoCoreError) as exc:
            if _conditional_failed(exc):
                return False
            raise StoreError(f"cannot take the lease: {exc}") from exc
        return True

    def release_lease(self, owner: str) -> None:
        try:
            self.client.delete_item(
                TableName=self.state_table,
                Key={"pk": _s("LEASE"), "sk": _s("AGENT")},
                ConditionExpression="#o = :o",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":o": _s(owner)},
            )
        except (ClientError, BotoCoreError) as exc:
            if not _conditional_failed(exc):  # someone else's lease now: leave it alone
                raise StoreError(f"cannot release the lease: {exc}") from exc

    # ---------------------------------------------------------------- recommendations

    def put_recommendation(self, rec: Recommendation) -> None:
        self._write(
            f"recommendation {rec.id}", "put_item", TableName=self.state_table, Item=self._rec_item(rec)
        )

    def put_recommendations(self, recs: list[Recommendation], *, unsent: Collection[str] = ()) -> None:
        """Many new recommendations, 25 to a BatchWriteItem (a cycle's worth, not one call each).

        The ids in `unsent` are approval requests whose links are still to be sent: each is marked so
        until `mark_sent`, and one still marked when a later cycle starts (its cycle stopped before the
        digest went out) is withdrawn by `withdraw_unsent`."""
        marked = set(unsent)
        items = [self._rec_item(r) | ({UNSENT: {"BOOL": True}} if r.id in marked else {}) for r in recs]
        self._batch_write([{"PutRequest": {"Item": item}} for item in items], what="recommendations")

    def mark_sent(self, rec_ids: Collection[str], now: datetime) -> None:
        """The approval requests whose links a message SNS took carried: no longer unsent, whatever their
        status now (a person may have answered one already). One write each, for the asks of a cycle."""
        for rec_id in rec_ids:
            try:
                self.client.update_item(
                    TableName=self.state_table,
                    Key={"pk": _s(f"REC#{rec_id}"), "sk": _s("REC")},
                    UpdateExpression="REMOVE #u SET sent_at = :at",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeNames={"#u": UNSENT},
                    ExpressionAttributeValues={":at": _s(_utc(now))},
                )
            except (ClientError, BotoCoreError) as exc:
                if not _conditional_failed(exc):
                    raise StoreError(f"cannot mark the request {rec_id} as sent: {exc}") from exc

    def withdraw_unsent(self, now: datetime, why: str) -> list[str]:
        """PENDING → EXPIRED for approval requests still marked unsent: the cycle that stored them stopped
        (its timeout, a crash) before their links went out, so nobody can answer them, and a change
        pending is not asked again. Called at the start of a cycle, under the lease: any request still
        marked then is a stopped cycle's. Each is moved only while still marked, so one whose mark was
        just removed (the index lags its table) stays. The ids withdrawn are returned."""
        withdrawn: list[str] = []
        for item in self._items_by_status("PENDING"):
            if UNSENT not in item or "body" not in item:
                continue
            rec_id = item["pk"]["S"].removeprefix("REC#")
            if self.transition(rec_id, "PENDING", "EXPIRED", now, if_unsent=True, expired_because=why):
                withdrawn.append(rec_id)
        return withdrawn

    @staticmethod
    def _rec_item(rec: Recommendation) -> dict[str, Any]:
        return {
            "pk": _s(f"REC#{rec.id}"),
            "sk": _s("REC"),
            "gsi1pk": _s(f"STATUS#{rec.status}"),
            "gsi1sk": _s(f"{rec.created_at.isoformat()}#{rec.id}"),
            "status": _s(rec.status),
            "function": _s(rec.function),
            "body": _s(rec.model_dump_json()),
        }

    def get_recommendation(self, rec_id: str) -> Recommendation | None:
        item = self.get_recommendation_item(rec_id)
        return None if item is None else self._rec_from(item)

    def get_recommendation_item(self, rec_id: str) -> dict[str, Any] | None:
        """The recommendation's raw item, with attributes recorded by transitions decoded (`attrs`)."""
        got = self._read(
            f"recommendation {rec_id}",
            "get_item",
            TableName=self.state_table,
            Key={"pk": _s(f"REC#{rec_id}"), "sk": _s("REC")},
            ConsistentRead=True,
        )
        item = got.get("Item")
        if item is None:
            return None
        return {**item, "attrs": _attrs(item)}

    @staticmethod
    def _rec_from(item: dict[str, Any]) -> Recommendation:
        rec = Recommendation.model_validate_json(item["body"]["S"])
        return rec.model_copy(update={"status": item["status"]["S"]})

    def transition(
        self,
        rec_id: str,
        from_status: str,
        to_status: str,
        now: datetime,
        *,
        held: tuple[str, str] | None = None,
        if_unsent: bool = False,
        **attrs: Any,
    ) -> bool:
        """Move `from_status` → `to_status` only if still in `from_status` (and, with `if_unsent`, still
        marked unsent); False when another writer won.

        Extra attributes (JSON-encodable) are stored with the same write, as `a_<name>`. `held`: (name,
        stored JSON) of an attribute that must still read so, for taking over a claim one writer wins.
        Each move stamps the item with its own id (`moved_by`): a refusal is read back, as the SDK sends a
        write again when its answer is lost (a timeout) and the second sending finds the first one's move.
        """
        mine = uuid.uuid4().hex
        names = {"#s": "status", "#m": MOVED_BY}
        condition = "attribute_exists(pk) AND #s = :from"
        if if_unsent:
            names["#u"] = UNSENT
            condition += " AND attribute_exists(#u)"
        values: dict[str, Any] = {
            ":from": _s(from_status),
            ":to": _s(to_status),
            ":g": _s(f"STATUS#{to_status}"),
            ":at": _s(now.isoformat()),
            ":m": _s(mine),
        }
        if held is not None:
            names["#held"], values[":held"] = f"a_{held[0]}", _s(held[1])
            condition += " AND #held = :held"
        sets = ["#s = :to", "gsi1pk = :g", "updated_at = :at", "#m = :m"]
        for i, (key, value) in enumerate(sorted(attrs.items())):
            names[f"#a{i}"] = f"a_{key}"
            values[f":a{i}"] = _s(json.dumps(value, default=str, sort_keys=True))
            sets.append(f"#a{i} = :a{i}")
        try:
            self.client.update_item(
                TableName=self.state_table,
                Key={"pk": _s(f"REC#{rec_id}"), "sk": _s("REC")},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except (ClientError, BotoCoreError) as exc:
            if _conditional_failed(exc):
                return self._moved_by(rec_id, to_status, mine)
            raise StoreError(f"cannot move {rec_id} to {to_status}: {exc}") from exc
        return True

    def _moved_by(self, rec_id: str, to_status: str, mine: str) -> bool:
        """Whether a move refused for its condition is in place all the same, by this very call: its first
        sending was carried out and its answer lost (a verification read as lost would leave the change
        VERIFIED with no record of it). False when that cannot be read either: the refusal stands."""
        try:
            item = self.get_recommendation_item(rec_id) or {}
        except StoreError:
            return False
        return bool(item.get(MOVED_BY, {}).get("S") == mine and item.get("status", {}).get("S") == to_status)

    def claim(
        self,
        rec_id: str,
        step: str,
        owner: str,
        now: datetime | None = None,
        *,
        stale_before: datetime | None = None,
    ) -> bool:
        """Mark `step` (e.g. "apply") as taken by `owner` exactly once; False if anyone else took it before.

        With `stale_before`, a claim stamped before that time (or never stamped) is taken over instead:
        its owner stopped without finishing (timed out or crashed), and only one taker wins."""
        names, values = {"#c": f"claim_{step}"}, {":o": _s(owner)}
        update, condition = "SET #c = :o", "attribute_exists(pk) AND attribute_not_exists(#c)"
        if now is not None:  # stamped, so a claim left by an owner that stopped can be told apart
            names["#t"], values[":now"] = f"claim_{step}_at", _s(_utc(now))
            update += ", #t = :now"
        if stale_before is not None:
            names["#t"], values[":cut"] = f"claim_{step}_at", _s(_utc(stale_before))
            condition = (
                "attribute_exists(pk) AND attribute_exists(#c) AND (attribute_not_exists(#t) OR #t < :cut)"
            )
        try:
            self.client.update_item(
                TableName=self.state_table,
                Key={"pk": _s(f"REC#{rec_id}"), "sk": _s("REC")},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except (ClientError, BotoCoreError) as exc:
            if _conditional_failed(exc):
                return self._claimed_by(rec_id, step, owner)
            raise StoreError(f"cannot claim {step} of {rec_id}: {exc}") from exc
        return True

    def _claimed_by(self, rec_id: str, step: str, owner: str) -> bool:
        """Whether a claim refused as taken is `owner`'s own: the SDK sends a write again when its answer
        is lost (a timeout), and the second sending finds the first one's claim. Owners are unique."""
        item = self.get_recommendation_item(rec_id) or {}
        return bool(item.get(f"claim_{step}", {}).get("S") == owner)

    def expire_pending(self, created_before: datetime, now: datetime) -> list[str]:
        """PENDING → EXPIRED for proposals whose links have run out (created before `created_before`).

        The agent calls this each cycle with `now - token_ttl`; the ids that expired are returned.
        """
        stale = [r for r in self.list_recommendations(status="PENDING") if r.created_at < created_before]
        return [
            r.id
            for r in stale
            if self.transition(r.id, "PENDING", "EXPIRED", now, expired_because="links expired")
        ]

    def list_recommendations(
        self,
        status: str | None = None,
        function: str | None = None,
        since: datetime | None = None,
        *,
        sent_only: bool = False,
    ) -> list[Recommendation]:
        """`since` (with a status): only those created from then on, read as such from the index.
        `sent_only`: not approval requests withdrawn before any message carried their links."""
        items = self._items_by_status(status, since) if status is not None else self._all_rec_items()
        if sent_only:
            items = [item for item in items if UNSENT not in item]
        # The index is eventually consistent: read status from the item itself to filter exactly.
        recs = [self._rec_from(item) for item in items if "body" in item]
        if status is not None:
            recs = [r for r in recs if r.status == status]
        if function is not None:
            recs = [r for r in recs if r.function == function]
        if since is not None:
            recs = [r for r in recs if r.created_at >= since]
        return sorted(recs, key=lambda r: (r.created_at, r.id))

    def list_with_attrs(self, function: str) -> list[tuple[Recommendation, dict[str, Any]]]:
        """The function's recommendations, each with what its transitions stored (decoded as in
        `get_recommendation_item`), from one scan: not one read per recommendation."""
        recs = [(self._rec_from(item), _attrs(item)) for item in self._all_rec_items() if "body" in item]
        return [(rec, attrs) for rec, attrs in recs if rec.function == function]

    def list_rolled_back(
        self, since: datetime
    ) -> list[tuple[Recommendation, dict[str, Any], datetime | None]]:
        """Recommendations created from `since` on and now ROLLED_BACK, one query of the status index
        for all functions (a few items: one per change undone), each with what its transitions stored
        (`rolled_back_by`: the alarm, or `reverted_by`; `before`; `rollback_claim`), decoded as in
        `get_recommendation_item`, and when the item last changed."""
        out: list[tuple[Recommendation, dict[str, Any], datetime | None]] = []
        for item in self._items_by_status("ROLLED_BACK", since):
            if "body" not in item or item["status"]["S"] != "ROLLED_BACK":  # the index lags its table
                continue
            updated = item.get("updated_at", {}).get("S")
            when = datetime.fromisoformat(updated) if updated else None
            out.append((self._rec_from(item), _attrs(item), when))
        return out

    def guards_left(self, since: datetime) -> list[str]:
        """The changes (created from `since` on) that were verified or ended (rolled back, failed) and
        whose item still lists rollback alarms: the apply function clears the list once it has removed
        them and their links (`CanaryFlow.conclude`), so these are the ones whose removal was never
        asked for, or failed (a throttled DeleteAlarms, a refused write of the links), or a guard half
        made and not taken back. A rollback not recorded yet is left out: its alarms' events record it.
        So is a failed canary whose undo failed too (`undo_left`): its trial still takes a share of its
        alias's traffic, and the same request has it taken out (`CanaryFlow._retry_undo`)."""
        left: list[str] = []
        for status in ("VERIFIED", "ROLLED_BACK", "FAILED"):
            for item in self._items_by_status(status, since):
                attrs = _attrs(item)
                if item.get("status", {}).get("S") != status:
                    continue  # the index lags its table
                if not attrs.get("alarms") and not (status == "FAILED" and attrs.get("undo_left")):
                    continue
                ended = attrs.get("rollback_recorded") or attrs.get("reverted_by")
                if status == "ROLLED_BACK" and not ended:
                    continue
                left.append(item["pk"]["S"].removeprefix("REC#"))
        return left

    def _items_by_status(self, status: str, since: datetime | None = None) -> list[dict[str, Any]]:
        """The items the status index lists under `status` (created from `since` on, if given)."""
        key, values = "gsi1pk = :g", {":g": _s(f"STATUS#{status}")}
        if since is not None:  # the index sorts by creation time (gsi1sk: "<created_at>#<id>")
            key += " AND gsi1sk >= :since"
            values[":since"] = _s(since.astimezone(UTC).isoformat())
        pages = self._pages(
            f"the {status} recommendations",
            "query",
            TableName=self.state_table,
            IndexName="gsi1",
            KeyConditionExpression=key,
            ExpressionAttributeValues=values,
        )
        return [item for page in pages for item in page.get("Items", [])]

    def _all_rec_items(self) -> list[dict[str, Any]]:
        pages = self._pages(
            "the recommendations",
            "scan",
            TableName=self.state_table,
            FilterExpression="sk = :r",
            ExpressionAttributeValues={":r": _s("REC")},
        )
        return [item for page in pages for item in page.get("Items", [])]

    # ---------------------------------------------------------------- per-function state and alarm links

    def get_function_state(self, function: str) -> dict[str, Any]:
        return self._get_json(f"FN#{function}", "STATE") or {}

    def get_function_states(self, functions: list[str]) -> dict[str, dict[str, Any]]:
        """Every named function's state ({} when none), read 100 keys per BatchGetItem: a cycle over
        10,000 functions makes 100 reads instead of 10,000."""
        out: dict[str, dict[str, Any]] = {name: {} for name in functions}
        names = list(dict.fromkeys(functions))
        for start in range(0, len(names), BATCH_GET_KEYS):
            keys = [{"pk": _s(f"FN#{n}"), "sk": _s("STATE")} for n in names[start : start + BATCH_GET_KEYS]]
            request: dict[str, Any] = {self.state_table: {"Keys": keys, "ConsistentRead": True}}
            for attempt in range(BATCH_GET_ATTEMPTS):
                try:
                    got = self.client.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    raise StoreError(f"cannot read function states: {exc}") from exc
                for item in got.get("Responses", {}).get(self.state_table, []):
                    out[item["pk"]["S"].removeprefix("FN#")] = dict(json.loads(item["data"]["S"]))
                request = got.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(1.0, 0.05 * 2**attempt))  # throttled keys come back: retry them later
            else:
                raise StoreError(
                    f"cannot read function states: keys still unprocessed after {BATCH_GET_ATTEMPTS} tries"
                )
        return out

    def put_function_state(self, function: str, state: dict[str, Any]) -> None:
        self._put_json(f"FN#{function}", "STATE", state)

    def put_function_states(self, states: dict[str, dict[str, Any]]) -> None:
        """Many functions' states, 25 to a BatchWriteItem."""
        requests = [{"PutRequest": {"Item": _json_item(f"FN#{n}", "STATE", st)}} for n, st in states.items()]
        self._batch_write(requests, what="function states")

    def delete_function_states(self, functions: Collection[str]) -> None:
        """Drop the states of functions deleted from the account, 25 to a BatchWriteItem: a function created
        later under the same name is another function, and must not inherit their baselines."""
        self._delete_all("FN#", "STATE", functions, what="function states")

    def load_parts(self, group: str) -> dict[str, dict[str, Any]]:
        """Every item of a group written by `save_parts` (one Query, paginated), keyed by part name."""
        pages = self._pages(
            f"the state items of {group}",
            "query",
            TableName=self.state_table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": _s(f"PARTS#{group}")},
            ConsistentRead=True,
        )
        return {
            item["sk"]["S"]: dict(json.loads(item["data"]["S"])) for page in pages for item in page["Items"]
        }

    def save_parts(
        self, group: str, parts: dict[str, dict[str, Any]], previous: dict[str, dict[str, Any]]
    ) -> int:
        """Write the parts that changed and delete the ones that are gone, 25 to a batch; returns writes.

        State too big for one 400 KB item (the collector's, at thousands of functions) lives as one item
        per part, and only what a cycle changed is written again."""
        requests: list[dict[str, Any]] = [
            {"PutRequest": {"Item": _json_item(f"PARTS#{group}", name, part)}}
            for name, part in parts.items()
            if previous.get(name) != part
        ]
        requests += [
            {"DeleteRequest": {"Key": {"pk": _s(f"PARTS#{group}"), "sk": _s(name)}}}
            for name in previous.keys() - parts.keys()
        ]
        self._batch_write(requests, what=f"state items of {group}")
        return len(requests)

    def _batch_write(self, requests: list[dict[str, Any]], *, what: str) -> None:
        """BatchWriteItem on the state table, 25 requests a call, unprocessed ones retried."""
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self.state_table: requests[start : start + 25]}
            for attempt in range(8):  # unprocessed items come back under throttling: retry them
                try:
                    pending = self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                except (ClientError, BotoCoreError) as exc:
                    raise StoreError(f"could not write {what}: {exc}") from exc
                if not pending:
                    break
                time.sleep(0.05 * 2**attempt)
            if pending:
                raise StoreError(f"could not write {len(pending[self.state_table])} {what}")

    def link_alarm(self, alarm_name: str, link: dict[str, Any]) -> None:
        """Remember which change an alarm guards (the alarm event carries only the alarm's name)."""
        self._put_json(f"ALARM#{alarm_name}", "ALARM", link)

    def alarm_link(self, alarm_name: str) -> dict[str, Any] | None:
        return self._get_json(f"ALARM#{alarm_name}", "ALARM")

    def unlink_alarms(self, alarm_names: Collection[str]) -> None:
        """Forget the links of alarms that were deleted, 25 to a BatchWriteItem: kept, one item per alarm
        of every change ever made would stay in the table for good."""
        self._delete_all("ALARM#", "ALARM", alarm_names, what="alarm links")

    def _delete_all(self, prefix: str, sk: str, names: Collection[str], *, what: str) -> None:
        """Delete the items `<prefix><name>`/`sk`, each name once, in batches (`_batch_write`)."""
        keys = [{"pk": _s(f"{prefix}{name}"), "sk": _s(sk)} for name in dict.fromkeys(names)]
        self._batch_write([{"DeleteRequest": {"Key": key}} for key in keys], what=what)

    def _get_json(self, pk: str, sk: str) -> dict[str, Any] | None:
        got = self._read(
            f"item {pk}",
            "get_item",
            TableName=self.state_table,
            Key={"pk": _s(pk), "sk": _s(sk)},
            ConsistentRead=True,
        )
        item = got.get("Item")
        return None if item is None else dict(json.loads(item["data"]["S"]))

    def _put_json(self, pk: str, sk: str, data: dict[str, Any]) -> None:
        self._write(f"item {pk}", "put_item", TableName=self.state_table, Item=_json_item(pk, sk, data))

    # ---------------------------------------------------------------- audit

    def append_audit(
        self, type: AuditType, at: datetime, *, once_on: str | None = None, **fields: Any
    ) -> AuditRecord:
        """Chain a record after the current head and put it on a fresh key; on a lost race, re-chain.

        `once_on`: a recommendation that is to have one record of this `type` (its rollback): the record
        goes in with a mark on the recommendation (`_put_marked`), and RecordedAlready is raised when
        another writer's record holds the mark."""
        for attempt in range(APPEND_ATTEMPTS):
            if attempt:  # another writer took this seq: back off with jitter so racers spread out
                time.sleep(random.uniform(0, 0.02 * attempt))  # noqa: S311 - jitter, not security
            record = chain(self.audit_head(), id=uuid.uuid4().hex, type=type, at=at, **fields)
            try:
                if once_on is None:
                    self.client.put_item(TableName=self.audit_table, **_record_put(record))
                elif not self._put_marked(record, once_on):
                    continue
            except (ClientError, BotoCoreError) as exc:
                if not _conditional_failed(exc):
                    if not self._landed(record):
                        raise StoreError(f"cannot append to the audit: {exc}") from exc
                elif not self._holds(record):
                    continue
            self._advance_head(record)
            return record
        raise AuditContentionError(f"gave up appending a {type} record after {APPEND_ATTEMPTS} lost races")

    def append_audit_many(
        self, entries: list[tuple[AuditType, datetime, dict[str, Any]]]
    ) -> list[AuditRecord]:
        """Chain many records after the head, TRANSACT_RECORDS to a TransactWriteItems with the head.

        One transaction puts a run of chained records (each on a fresh key) and moves the head past them,
        all or nothing; on a lost race the run is chained again after the new head. A cycle's thousands
        of records then take a few dozen calls instead of three each."""
        out: list[AuditRecord] = []
        for start in range(0, len(entries), TRANSACT_RECORDS):
            out += self._append_run(entries[start : start + TRANSACT_RECORDS])
        return out

    def _append_run(self, entries: list[tuple[AuditType, datetime, dict[str, Any]]]) -> list[AuditRecord]:
        for attempt in range(APPEND_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, 0.02 * attempt))  # noqa: S311 - jitter, not security
            records: list[AuditRecord] = []
            previous = self.audit_head()
            for type_, at, fields in entries:
                previous = chain(previous, id=uuid.uuid4().hex, type=type_, at=at, **fields)
                records.append(previous)
            items = [{"Put": {"TableName": self.audit_table, **_record_put(r)}} for r in records]
            items.append({"Put": {"TableName": self.state_table, **_head_put(records[-1])}})
            try:
                self.client.transact_write_items(TransactItems=items)
            except (ClientError, BotoCoreError) as exc:
                if _conditional_failed(exc):
                    continue
                if not self._landed(records[0]):  # one transaction: its first record there, all are
                    raise StoreError(f"cannot append to the audit: {exc}") from exc
            return records
        raise AuditContentionError(
            f"gave up appending {len(entries)} records after {APPEND_ATTEMPTS} lost races"
        )

    def _put_marked(self, record: AuditRecord, rec_id: str) -> bool:
        """Put `record` and mark recommendation `rec_id` with its id (`a_<type>_recorded`), in one
        transaction, only while no record holds the mark: whether it went in (False: its sequence number
        was taken, chain it again). RecordedAlready when another record holds the mark.

        Two deliveries of one alarm event can run at once (Lambda's event queue delivers at least once),
        and each takes the other for a stopped attempt to finish: checking the audit first and then
        appending would let both record the rollback."""
        mark, key = f"a_{record.type}_recorded", {"pk": _s(f"REC#{rec_id}"), "sk": _s("REC")}
        ours = json.dumps(record.id)
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self.audit_table, **_record_put(record)}},
                    {
                        "Update": {
                            "TableName": self.state_table,
                            "Key": key,
                            "UpdateExpression": "SET #m = :id",
                            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(#m)",
                            "ExpressionAttributeNames": {"#m": mark},
                            "ExpressionAttributeValues": {":id": _s(ours)},
                        }
                    },
                ]
            )
        except (ClientError, BotoCoreError) as exc:
            if not _conditional_failed(exc):
                if self._landed(record):  # one transaction: the record there, the mark is too
                    return True
                raise StoreError(f"cannot append to the audit: {exc}") from exc
            got = self._read(
                f"recommendation {rec_id}",
                "get_item",
                TableName=self.state_table,
                Key=key,
                ConsistentRead=True,
            ).get("Item")
            if got is None:
                raise StoreError(f"cannot record the {record.type} of {rec_id}: it is not stored") from exc
            held = got.get(mark, {}).get("S")
            if held is None:  # the sequence number was taken, or the item was being written: chain again
                return False
            if held != ours:  # else the SDK sent it again after its answer was lost: the first sending's
                raise RecordedAlready(f"the {record.type} of {rec_id} is recorded already") from exc
        return True

    def _holds(self, record: AuditRecord) -> bool:
        """Whether `record`'s sequence number, refused as taken, holds `record` itself: the SDK sends a put
        again when its answer is lost (a timeout), and the second sending finds the first one's record.
        Chaining it again would write it twice."""
        got = self._read(
            f"audit record {record.seq}",
            "get_item",
            TableName=self.audit_table,
            Key={"pk": _s(AUDIT_PK), "sk": _s(f"{record.seq:012d}")},
            ConsistentRead=True,
        )
        return bool(got.get("Item", {}).get("record", {}).get("S") == record.model_dump_json())

    def _landed(self, record: AuditRecord) -> bool:
        """Whether `record`, whose write failed without a refusal for its condition, is in the audit all
        the same: a write can be carried out and its answer lost (a timeout) with no retry left (the approval
        page's client tries twice, for seconds). Raising then would read a record written as unwritten, and
        its caller would write it, or an undo of the change it records, again. False when that cannot be
        read either: the error stands."""
        try:
            return self._holds(record)
        except StoreError:
            return False

    def _advance_head(self, record: AuditRecord) -> None:
        """Move the head's copy past `record`, which is written already. Best effort: the copy only
        detects the newest records deleted, a copy behind the chain's end verifies (it is in the chain),
        and the next append moves it past. Raising here would read a record written as unrecorded: an
        apply would undo the change it records, then record the undo beside it."""
        try:
            self.client.put_item(TableName=self.state_table, **_head_put(record))
        except (ClientError, BotoCoreError) as exc:
            if not _conditional_failed(exc):  # conditional: a later record already moved the head, fine
                LOG.warning("audit record %s written; its head copy was not (%s)", record.seq, exc)

    def published_head(self) -> str | None:
        """The head hash kept beside the audit (not in it), to detect truncation of the newest records."""
        got = self._read(
            "the audit head",
            "get_item",
            TableName=self.state_table,
            Key={"pk": _s("AUDIT"), "sk": _s("HEAD")},
            ConsistentRead=True,
        )
        item = got.get("Item")
        return None if item is None else str(item["hash"]["S"])

    def audit_head(self) -> AuditRecord | None:
        got = self._read(
            "the audit's last record",
            "query",
            TableName=self.audit_table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": _s(AUDIT_PK)},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = got.get("Items", [])
        return AuditRecord.model_validate_json(items[0]["record"]["S"]) if items else None

    def list_audit(self, since: datetime | None = None, function: str | None = None) -> list[AuditRecord]:
        """Records in chain order; with `since`, read newest first and only back to it.

        Every cycle asks for its look-back (memory history) and the audit only grows, so reading it whole
        each time would not stay bounded. Records are appended in time order up to the skew between
        writers (each record's `at` is its event's time), so the read stops after the first page that reaches
        records older than `since` by more than AUDIT_ORDER_SLACK."""
        query: dict[str, Any] = {
            "TableName": self.audit_table,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": _s(AUDIT_PK)},
            "ConsistentRead": True,
            "ScanIndexForward": since is None,
        }
        config = {"PageSize": self.audit_page_size} if self.audit_page_size else {}
        records: list[AuditRecord] = []
        for page in self._pages("the audit", "query", **query, PaginationConfig=config):
            batch = [AuditRecord.model_validate_json(i["record"]["S"]) for i in page.get("Items", [])]
            records.extend(batch)
            if since is not None and batch and min(r.at for r in batch) < since - AUDIT_ORDER_SLACK:
                break
        if since is not None:
            records = sorted((r for r in records if r.at >= since), key=lambda r: r.seq)
        if function is not None:
            records = [r for r in records if r.function == function]
        return records

    def read_audit_chain(self) -> tuple[list[AuditRecord], list[str]]:
        """The whole audit in chain order, for verifying it: the records that read as records, and a
        problem for each item that does not (edited past reading), so one bad item cannot hide the rest."""
        query = {
            "TableName": self.audit_table,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": _s(AUDIT_PK)},
            "ConsistentRead": True,
        }
        records: list[AuditRecord] = []
        problems: list[str] = []
        for page in self._pages("the audit", "query", **query):
            for item in page.get("Items", []):
                try:
                    records.append(AuditRecord.model_validate_json(item["record"]["S"]))
                except (KeyError, ValueError) as exc:
                    seq = str(item.get("sk", {}).get("S", "?")).lstrip("0") or "0"
                    why = str(exc).splitlines()[0]
                    problems.append(f"seq {seq}: does not read as an audit record (edited): {why}")
        return records, problems
