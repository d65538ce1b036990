"""`lambda-tuner run`: one cycle against the account the credential chain points at.

Read-only by default: discovers, collects, decides and prints, and writes nothing anywhere (no table,
no topic, no function). Where the environment names the stack's tables (LT_STATE_TABLE, LT_AUDIT_TABLE)
it reads them, so that it decides as the scheduled run would. `--apply` runs the deployed stack's full
cycle (LT_* settings from the environment): stores, notifies, and hands approved changes to the stack's
apply function, which is the only holder of write permissions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from pydantic import ValidationError

from lambda_tuner.adapters.store import Store, StoreError
from lambda_tuner.cli.demo_view import recommendations_table, wide_console
from lambda_tuner.core.models import AuditRecord, Recommendation
from lambda_tuner.cycle import CycleDeps, run_cycle
from lambda_tuner.settings import AgentSettings

READ_ONLY = "(read-only run)"
_T = TypeVar("_T")


class ReadOnlyStore:
    """What the deployed stack remembers, read and never written: a read-only run decides as the scheduled
    run would (rollbacks that rule sizes out, rejections, pending asks, what each function learned), and
    leaves no trace. Without the stack's tables (`store` None) it remembers nothing; nor from the first
    read the tables refuse (no permission to read them, say): `unread` says why, and the run goes on."""

    def __init__(self, store: Store | None = None) -> None:
        self._store = store
        self.unread: str | None = None

    def _read(self, read: Callable[[Store], _T], nothing: _T) -> _T:
        if self._store is None:
            return nothing
        try:
            return read(self._store)
        except StoreError as exc:
            self._store, self.unread = None, str(exc)
            return nothing

    def get_function_states(self, functions: list[str]) -> dict[str, dict[str, Any]]:
        return self._read(lambda store: store.get_function_states(functions), {})

    def list_recommendations(
        self,
        status: str | None = None,
        function: str | None = None,
        since: datetime | None = None,
        *,
        sent_only: bool = False,
    ) -> list[Recommendation]:
        return self._read(
            lambda store: store.list_recommendations(status, function, since, sent_only=sent_only), []
        )

    def list_audit(self, since: datetime | None = None, function: str | None = None) -> list[AuditRecord]:
        return self._read(lambda store: store.list_audit(since, function), [])

    def list_rolled_back(
        self, since: datetime
    ) -> list[tuple[Recommendation, dict[str, Any], datetime | None]]:
        return self._read(lambda store: store.list_rolled_back(since), [])

    def audit_head(self) -> AuditRecord | None:
        return self._read(lambda store: store.audit_head(), None)

    def load_parts(self, group: str) -> dict[str, dict[str, Any]]:
        return self._read(lambda store: store.load_parts(group), {})

    def guards_left(self, since: datetime) -> list[str]:
        return self._read(lambda store: store.guards_left(since), [])

    def get_recommendation_item(self, rec_id: str) -> dict[str, Any] | None:
        return self._read(lambda store: store.get_recommendation_item(rec_id), None)

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError("a read-only run tried to write; this is a bug")

    acquire_lease = release_lease = put_recommendations = transition = _refuse
    append_audit = append_audit_many = put_function_states = expire_pending = save_parts = _refuse
    mark_sent = withdraw_unsent = delete_function_states = _refuse


def run_once(
    *, apply_changes: bool, mode: str | None, lookback_days: int | None, json_out: Path | None, now: datetime
) -> int:
    console = wide_console()
    # An option given is an option used: `--lookback-days 0` is refused below, not read as "not given"
    given = (("mode", mode), ("lookback_days", lookback_days))
    overrides: dict[str, Any] = {k: v for k, v in given if v is not None}
    try:
        if apply_changes:
            from lambda_tuner.wiring import agent_deps

            settings = AgentSettings(**overrides)
            summary = run_cycle(settings, now, agent_deps(settings))
        else:
            # the stack's tables, when the environment names them (as for --apply): read, never written
            tables = {k: os.environ.get(f"LT_{k.upper()}", "") for k in ("state_table", "audit_table")}
            stack = all(tables.values())
            settings = AgentSettings(
                state_table=tables["state_table"] if stack else READ_ONLY,
                audit_table=tables["audit_table"] if stack else READ_ONLY,
                topic_arn=READ_ONLY,
                secret_arn=READ_ONLY,
                approval_base_url=READ_ONLY,
                apply_function=READ_ONLY,
                **overrides,
            )
            from lambda_tuner.adapters.control import kill_switch_engaged
            from lambda_tuner.wiring import read_pc_scaling

            memory = ReadOnlyStore(Store(settings.state_table, settings.audit_table) if stack else None)
            if any(tables.values()) and not stack:  # one named: the person meant the stack's, and gets none
                missing = next(f"LT_{k.upper()}" for k, v in tables.items() if not v)
                memory.unread = f"{missing} is not set; both tables are needed"
            deps = CycleDeps(
                store=memory,
                notifier=None,
                secret=lambda: b"",
                invoke_apply=None,
                # a read: the routes shown are those a scheduled run would take now
                kill_switch=lambda: kill_switch_engaged(settings.kill_switch_parameter),
                pc_scaling=read_pc_scaling,
            )
            summary = run_cycle(settings, now, deps, read_only=True)
            if memory.unread:
                names = ", ".join(v for v in tables.values() if v)
                console.print(
                    f"[yellow]decided without what the stack remembers ({names}):[/yellow] {memory.unread}"
                )
    except ValidationError as exc:
        needs = "--apply needs the stack's LT_* variables (see README)" if apply_changes else "see --help"
        console.print(f"[red]settings are invalid:[/red] {exc.error_count()} problem(s); {needs}")
        for error in exc.errors(include_url=False):
            console.print(f"  LT_{'_'.join(str(p) for p in error['loc']).upper()}: {error['msg']}")
        return 2
    rows = [r.recommendation.model_dump(mode="json") | {"route": r.route} for r in summary.recommendations]
    console.print(recommendations_table(rows, limit=1000, first_only=False, width=console.width))
    stats = summary.collect_stats
    done = "applied within guardrails" if apply_changes else "nothing written (read-only)"
    calls = sum(stats.get("api_calls", {}).values())
    console.print(
        f"{summary.functions} functions, {len(rows)} recommendations, savings found "
        f"${summary.monthly_saving_usd:,.2f}/month; AWS calls {calls}, cycle cost "
        f"${stats.get('cost_usd', 0):.4f}; {done}"
    )
    if json_out:
        json_out.write_text(json.dumps(summary.model_dump(mode="json"), indent=2))
    return 0
