"""`lambda-tuner audit` (list, verify) and `lambda-tuner revert`: the audit trail from a terminal.

Tables come from `--state-table`/`--audit-table` or LT_STATE_TABLE/LT_AUDIT_TABLE; AWS credentials
and endpoint from the standard chain (AWS_PROFILE, AWS_ENDPOINT_URL, …).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import click
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.table import Table

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.rollback_flow import revert_groups
from lambda_tuner.adapters.store import Store, StoreError
from lambda_tuner.core.audit import verify_chain
from lambda_tuner.core.digest import one_line
from lambda_tuner.core.models import AuditRecord

# A revert through the apply function is one synchronous Invoke that may run up to the function's 900 s
# timeout (it restores every change since a time). The shared client would give up reading after 30 s and
# send the revert again, up to 8 more times, while the first is still running: this one waits, once.
APPLY_INVOKE_CONFIG = aws.CLIENT_CONFIG.merge(
    Config(read_timeout=910, retries={"mode": "standard", "total_max_attempts": 1})
)

COLUMNS = (
    "seq", "at", "type", "function", "recommendation_id", "actor", "caused_by", "summary", "id", "hash"
)
TABLE_COLUMNS = COLUMNS[:-2]  # a record's id and hash are for the CSV and JSON; the table names it by seq


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 time (e.g. 2026-11-26T08:00:00Z)") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _store(state_table: str, audit_table: str) -> Store:
    return Store(state_table, audit_table)


def _summary(r: AuditRecord) -> str:
    """One line a person reads: a recommendation's kind and its sentence, what a change set, how an
    undo or a verification ended; the whole record is in `--format json`."""
    d = r.data
    reason = d.get("reason")
    if isinstance(reason, dict):  # a recommendation's structured reason (with every alternative)
        return one_line(f"{d.get('kind', r.type)}: {reason.get('summary', '')}", SUMMARY_CHARS)
    for key in ("reason", "error"):
        if d.get(key):
            return one_line(f"{key}: {d[key]}", SUMMARY_CHARS)
    before, after = d.get("before"), d.get("after")
    if d.get("undo_retried"):
        text = _undo_retried(d)
    elif d.get("alarm"):
        text = f"alarm {d['alarm']}: " + ("undone" if d.get("ok") else "NOT undone")
    elif r.type == "change" and isinstance(before, dict) and isinstance(after, dict):
        text = ", ".join(_settings(before, after, new=True))
    elif r.type == "verification":
        text = _verified(d)
    elif d.get("source_ip"):
        text = f"on the approval page, from {d['source_ip']}"
    else:
        text = json.dumps(d, sort_keys=True, default=str)[:80] if d else ""
    return one_line(text, SUMMARY_CHARS)


SUMMARY_CHARS = 160


def _undo_retried(d: dict[str, Any]) -> str:
    """A canary's trial taken out of its alias by a later cycle, after its change failed or stopped."""
    alias, trial = d.get("alias"), d.get("trial")
    if d.get("removed_from_routing"):
        text = f"trial version {trial} taken out of alias {alias}'s routing"
    elif d.get("gone"):
        text = f"alias {alias} no longer exists: nothing routes to trial version {trial}"
    elif d.get("left_alone"):
        text = f"alias {alias} was changed by someone since: trial version {trial} NOT taken out"
    else:
        text = f"alias {alias} no longer routed to trial version {trial}"
    cleanup = d.get("trial_version")
    return f"{text}; {cleanup['detail']}" if isinstance(cleanup, dict) and cleanup.get("detail") else text


def _verified(d: dict[str, Any]) -> str:
    for key in ("detail", "verdict"):
        if d.get(key):
            return str(d[key])
    parts = []
    realised, projected = d.get("realised", {}), d.get("projected_duration_ms")
    if isinstance(realised, dict) and isinstance(projected, dict) and "duration_ms" in realised:
        flag = d.get("within_interval")
        within = "within" if flag is True else "outside" if flag is False else "against"
        parts.append(f"mean {realised['duration_ms']:,.0f} ms, {within} the projected "
                     f"{projected.get('low', 0):,.0f}–{projected.get('high', 0):,.0f} ms")
    if isinstance(saving := d.get("realised_monthly_saving_usd"), int | float):
        parts.append(f"saves ${saving:,.2f}/month as measured")
    return "; ".join(parts) or ("ok" if d.get("ok") else "not ok")


def _row(r: AuditRecord) -> dict[str, str]:
    return {
        "seq": str(r.seq),
        "at": r.at.isoformat(),
        "type": r.type,
        "function": r.function or "",
        "recommendation_id": r.recommendation_id or "",
        "actor": r.actor,
        "caused_by": r.caused_by or "",
        "summary": _summary(r),
        "id": r.id,
        "hash": r.hash,
    }


def _render(records: Sequence[AuditRecord], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([r.model_dump(mode="json") for r in records], indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(_row(r) for r in records)
        return out.getvalue()
    table = Table(title=f"lambda-tuner audit ({len(records)} records)")
    for col in TABLE_COLUMNS:
        table.add_column(col, overflow="fold")
    # The record an undo or a verification is caused by, by the seq the table shows it under
    seqs = {r.id: f"seq {r.seq}" for r in records}
    for r in records:
        row = _row(r) | {"caused_by": seqs.get(r.caused_by or "", r.caused_by or "")}
        table.add_row(*(row[c] for c in TABLE_COLUMNS))
    console = Console(width=160, force_terminal=False)
    with console.capture() as captured:
        console.print(table)
    return captured.get()


def aws_errors(f: Any) -> Any:
    """An AWS error (a table that does not exist, no credentials, access denied) is a one-line error,
    exit 1, not a traceback."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except (ClientError, BotoCoreError, StoreError) as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


def with_tables(f: Any) -> Any:
    """--state-table/--audit-table (or LT_STATE_TABLE/LT_AUDIT_TABLE), on the group and on each command."""
    f = click.option("--audit-table", envvar="LT_AUDIT_TABLE", help="Audit table (LT_AUDIT_TABLE).")(f)
    return click.option("--state-table", envvar="LT_STATE_TABLE", help="State table (LT_STATE_TABLE).")(f)


def _tables(state_table: str | None, audit_table: str | None) -> Store:
    ctx = click.get_current_context()
    parent = ctx.parent.params if ctx.parent is not None else {}
    state, audit_ = state_table or parent.get("state_table"), audit_table or parent.get("audit_table")
    if not state or not audit_:
        raise click.UsageError(
            "name the tables: --state-table and --audit-table (or LT_STATE_TABLE, LT_AUDIT_TABLE)"
        )
    return _store(state, audit_)


@click.group(invoke_without_command=True)
@click.option("--since", help="Only records at or after this ISO-8601 time.")
@click.option("--function", "function", help="Only records about this function.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@with_tables
@click.pass_context
@aws_errors
def audit(
    ctx: click.Context,
    *,
    since: str | None,
    function: str | None,
    fmt: str,
    state_table: str | None,
    audit_table: str | None,
) -> None:
    """List the audit trail (recommendations, approvals, changes, rollbacks, refusals, …)."""
    if ctx.invoked_subcommand is not None:
        return
    records = _tables(state_table, audit_table).list_audit(since=_when(since), function=function)
    click.echo(_render(records, fmt), nl=False)


@audit.command("verify")
@click.option(
    "--head", "head", help="A published head hash (e.g. from a digest email) that must be in the chain."
)
@with_tables
@aws_errors
def verify(head: str | None, state_table: str | None, audit_table: str | None) -> None:
    """Check the hash chain; exit 1 on any edited, deleted, reordered or truncated record."""
    store = _tables(state_table, audit_table)
    records, unreadable = store.read_audit_chain()
    # The head kept in the state table catches deletion of the newest records; --head, a head someone
    # saved earlier (a digest email prints it), catches a rewritten history even if both tables were edited.
    problems = unreadable + verify_chain(records, store.published_head())
    if head:
        problems += [p for p in verify_chain(records, head) if p not in problems]
    if problems:
        for problem in problems:
            click.echo(f"BROKEN: {problem}", err=True)
        sys.exit(1)
    last = records[-1].hash if records else "(empty)"
    click.echo(f"intact: {len(records)} records, head {last}")


@click.command("revert")
@click.option("--since", required=True, help="Undo the agent's changes made at or after this ISO-8601 time.")
@click.option("--function", "function", help="Only this function.")
@click.option("--dry-run", is_flag=True, help="Only show what would be restored; change nothing.")
@click.option("--yes", "-y", "yes", is_flag=True, help="Restore without asking first.")
@click.option(
    "--apply-function",
    envvar="LT_APPLY_FUNCTION",
    help="Revert through the deployed apply function "
    "(LT_APPLY_FUNCTION); without it the CLI restores directly with your credentials.",
)
@click.option("--topic-arn", envvar="LT_TOPIC_ARN", help="Notify this topic when reverting directly.")
@with_tables
@aws_errors
def revert(
    *,
    since: str,
    function: str | None,
    dry_run: bool,
    yes: bool,
    apply_function: str | None,
    topic_arn: str | None,
    state_table: str | None,
    audit_table: str | None,
) -> None:
    """Restore the configurations recorded before the agent's changes since a time (audited as `revert`).

    This changes the account: it lists what it will put back and asks first (--yes: don't ask;
    --dry-run: only list). Exits 1 when anything could not be put back, naming it.
    """
    start, now = _when(since), datetime.now(UTC)
    assert start is not None
    planned = (
        _planned(_tables(state_table, audit_table), start, function, dry_run) if dry_run or not yes else []
    )
    if planned is None:
        return
    if apply_function:
        payload = {
            "action": "revert",
            "since": start.isoformat(),
            "function": function,
            "time": now.isoformat(),
        }
        try:
            results = _revert_through(apply_function, payload)
        except _FunctionFailed as exc:
            _in_force_after(state_table, audit_table, start, function, now)
            raise click.ClickException(str(exc)) from exc
    else:
        flow = ApplyFlow(_tables(state_table, audit_table), Applier(), _notifier(topic_arn))
        results = [r.model_dump() for r in flow.revert(start, function, now, "cli")]
    for r in results:
        click.echo(_result_line(r))
    if not results:
        click.echo("nothing to revert")
    _differs(planned, results)
    if any(not r["ok"] for r in results):
        sys.exit(1)


def _result_line(r: dict[str, Any]) -> str:
    """One group's outcome, as the apply flow answered it; a revert done says what it put back."""
    if not r["ok"]:
        return f"FAILED   {r['function']}: {r['message']}"
    settings = _settings(r.get("before") or {}, r.get("after") or {})
    return f"reverted {r['function']}: {r['message']}" + (f" ({', '.join(settings)})" if settings else "")


def _differs(planned: list[list[AuditRecord]], results: list[dict[str, Any]]) -> None:
    """The plan shown before asking was read here; the revert reads the audit again (in the apply
    function, when it goes through it). Say so when what it did is not what was shown."""
    shown = sorted(_function_of(g) for g in planned)
    done = sorted(str(r["function"]) for r in results)
    if planned and shown != done:
        click.echo(
            f"Note: this differs from the plan shown above (the agent's changes moved since it was read): "
            f"planned {', '.join(shown)}; reverted {', '.join(done) or 'nothing'}."
        )


def _in_force_after(
    state_table: str | None, audit_table: str | None, start: datetime, function: str | None, now: datetime
) -> None:
    """After the apply function failed midway (a timeout, a crash): what the audit then shows reverted by
    this revert (`now`), and what still in force. Best effort: without the tables, only the hint."""
    hint = f"`lambda-tuner revert --since {start.isoformat()} --dry-run` lists what is still in force"
    try:
        store = _tables(state_table, audit_table)
        done = [r for r in store.list_audit(since=now, function=function) if r.type == "revert"]
        left = revert_groups(store, start, function)
    except (click.UsageError, StoreError, ClientError, BotoCoreError):
        click.echo(f"The apply function may have put some functions back before it failed; {hint}.")
        return
    for r in done:
        ok, error = bool(r.data.get("ok")), r.data.get("error")
        click.echo(_result_line({"function": r.function, "ok": ok, "message": error or "reverted, recorded"}))
    for records in left:
        fn = _function_of(records)
        click.echo(f"FAILED   {fn}: still in force (not recorded as reverted)")


def _planned(
    store: Store, start: datetime, function: str | None, dry_run: bool
) -> list[list[AuditRecord]] | None:
    """List what a revert would put back; the groups listed, to go ahead with (asked, unless it is a dry
    run or empty: then None)."""
    groups = revert_groups(store, start, function)
    for records in groups:
        click.echo(_plan_line(records))
    if not groups:
        scope = f" to {function}" if function else ""
        click.echo(f"nothing to revert: no change by the agent{scope} since {start.isoformat()} is in force")
    if dry_run or not groups:
        return None
    click.confirm(f"Restore these {len(groups)} configuration(s) now?", abort=True)
    return groups


def _plan_line(records: list[AuditRecord]) -> str:
    """What reverting one group of changes puts back: each setting, as it is now → as it was before."""
    before = cast(dict[str, Any], records[0].data["before"])
    after = cast(dict[str, Any], records[-1].data.get("after") or {})
    where = before.get("alias") or before.get("qualifier")
    settings = _settings(after, before)
    return (
        f"would restore {before['function']} {before['kind']}{f' ({where})' if where else ''}: "
        f"{', '.join(settings) or 'as recorded before the change'} "
        f"(undoes {len(records)} change(s) from {records[0].at:%Y-%m-%d %H:%M} UTC on)"
    )


def _function_of(records: list[AuditRecord]) -> str:
    """The function a revert group's changes were made to."""
    return str(cast(dict[str, Any], records[0].data["before"])["function"])


def _settings(now: dict[str, Any], then: dict[str, Any], *, new: bool = False) -> list[str]:
    """Each setting that moves from `now` to `then` (a revert: as it is → as it was; a change: before →
    after, with `new` the settings it added, a canary's share say); a nested value (alias routing, a
    schedule) by its name alone."""
    out = []
    for k, v in then.items():
        if k in ("kind", "function", "qualifier") or (k not in now and not new) or now.get(k) == v:
            continue
        scalar = all(x is None or isinstance(x, int | float | str) for x in (now.get(k), v))
        out.append(f"{k} {now.get(k)}→{v}" if scalar else f"{k} changed")
    return out


def apply_function_client() -> Any:
    """A Lambda client for the long synchronous revert Invoke: long read timeout, no retries."""
    return aws.session().client("lambda", config=APPLY_INVOKE_CONFIG)


def _revert_through(apply_function: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The apply function's per-function results; its crash (FunctionError) is an error, not "nothing"."""
    resp = apply_function_client().invoke(FunctionName=apply_function, Payload=json.dumps(payload).encode())
    raw = resp["Payload"].read() or b"{}"
    if resp.get("FunctionError"):
        raise _FunctionFailed(f"the apply function {apply_function} failed: {_error_text(raw)}")
    results: list[dict[str, Any]] = json.loads(raw).get("results", [])
    return results


class _FunctionFailed(Exception):
    """The apply function raised or timed out (FunctionError): it may have reverted part of the plan."""


def _error_text(raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")[:500]
    if isinstance(body, dict) and body.get("errorMessage"):
        return f"{body.get('errorType', 'Error')}: {body['errorMessage']}"
    return json.dumps(body)[:500]


class _Quiet(Notifier):
    """No topic given: the revert is still audited, just not announced."""

    def __init__(self) -> None:
        self.topic_arn = ""

    def publish(self, subject: str, body: str, attributes: Any) -> str:
        return ""


def _notifier(topic_arn: str | None) -> Notifier:
    return Notifier(topic_arn) if topic_arn else _Quiet()
