"""One agent cycle: discover and collect, decide, route by mode, notify, apply within guardrails, audit.

This is the imperative shell around the pure core. Everything it talks to arrives in `CycleDeps`, so the
scheduled handler, `lambda-tuner run` (read-only or `--apply`) and the tests share one code path.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel

from lambda_tuner.collect import CollectResult, collect, join_state, split_state
from lambda_tuner.collect_metrics import UNREAD_QUIET
from lambda_tuner.collect_state import history_from_audit
from lambda_tuner.core import guardrails, tokens
from lambda_tuner.core.canary import canary_days
from lambda_tuner.core.decide import Decider
from lambda_tuner.core.digest import change_text, render_digests
from lambda_tuner.core.epochs import HistoryItem
from lambda_tuner.core.models import AuditRecord, FunctionConfig, Mode, PcScaling, Recommendation
from lambda_tuner.core.stopped_trials import PROPOSED_BEFORE_STOP, STOPPED_FOR, StoppedTrial, stopped_trial
from lambda_tuner.core.tags import parse_policy
from lambda_tuner.settings import AgentSettings
from lambda_tuner.verification import applied_at_in, verify_applied

# What a cycle records without asking for or making anything: notes, and advice a person acts on
NOTE_KINDS = frozenset({"keep", "insufficient_data", "arm64_advice", "template_change"})
NOTE_STATE_KEY = "last_note"
_NUMBERS = re.compile(r"[-+$]?\d[\d,.]*%?")
# A PC keep note's reason names the best plan it did not make; that plan moves by a block or a weekday from
# day to day while the decision stays (see `_note_key`)
_UNMADE_PLAN = re.compile(r"the best plan \((?:[^()]|\([^()]*\))*\)")
LEASE_SECONDS = 15 * 60 + 60  # the agent's timeout plus a margin: a crashed run frees the lease by itself
COLLECTOR_STATE_KEY = "collector"
GONE_KEY = "gone"  # collector state: deleted functions whose guards the apply function has yet to be sent
# collector state: the functions listed but excluded by the settings (not collected, so not among its
# functions), to be forgotten like the others once deleted
EXCLUDED_KEY = "excluded"
SHARED_PART = "#shared"  # sorts before any function name
RESUME_AFTER = timedelta(hours=1)
# A change a person rejected is not asked for again, and one whose ask expired unanswered goes behind the
# function's others, for this long after it was asked for (and is read back only so far). 30 days: a
# month of the same evidence says nothing new; after it, traffic and prices may have moved, and the
# person may answer otherwise.
REFUSED_FOR = timedelta(days=30)
# After REFUSED_FOR, auto mode asks a person again for a change like one a person rejected, rather than
# make it itself, for this long: the agent does not overrule a person's "no" because a month went by.
REJECTED_HEARD_FOR = timedelta(days=365)
UNSENT_WHY = "approval request not sent: the cycle that made it stopped before its digest went out"
DELETED_WHY = "the function no longer exists (deleted from the account): its approval request is withdrawn"
# A verified change's alarms not removed yet are asked for again while it was created this recently: it
# is verified at most about ten days after (its links' days, then up to a week for too few calls to tell)
GUARDS_ASKED_FOR = timedelta(days=30)
CANARY_SLACK = timedelta(hours=4)  # a canary's day is over a cycle later, give or take the schedule's jitter


class StoreLike(Protocol):
    def acquire_lease(self, owner: str, now: datetime, ttl_s: int) -> bool: ...
    def release_lease(self, owner: str) -> None: ...
    def put_recommendations(self, recs: list[Recommendation], *, unsent: Collection[str] = ()) -> None: ...
    def mark_sent(self, rec_ids: Collection[str], now: datetime) -> None: ...
    def withdraw_unsent(self, now: datetime, why: str) -> list[str]: ...
    def list_recommendations(
        self,
        status: str | None = None,
        function: str | None = None,
        since: datetime | None = None,
        *,
        sent_only: bool = ...,
    ) -> list[Recommendation]: ...
    def transition(
        self,
        rec_id: str,
        from_status: str,
        to_status: str,
        now: datetime,
        *,
        if_unsent: bool = ...,
        **attrs: Any,
    ) -> bool: ...
    def get_function_states(self, functions: list[str]) -> dict[str, dict[str, Any]]: ...
    def put_function_states(self, states: dict[str, dict[str, Any]]) -> None: ...
    def append_audit(self, type: Any, at: datetime, **fields: Any) -> AuditRecord: ...
    def append_audit_many(self, entries: list[tuple[Any, datetime, dict[str, Any]]]) -> list[AuditRecord]: ...
    def audit_head(self) -> AuditRecord | None: ...
    def expire_pending(self, created_before: datetime, now: datetime) -> list[str]: ...
    def delete_function_states(self, functions: Collection[str]) -> None: ...
    def load_parts(self, group: str) -> dict[str, dict[str, Any]]: ...
    def save_parts(
        self, group: str, parts: dict[str, dict[str, Any]], previous: dict[str, dict[str, Any]]
    ) -> int: ...
    def list_audit(self, since: datetime | None = None, function: str | None = None) -> list[AuditRecord]: ...
    def list_rolled_back(
        self, since: datetime
    ) -> list[tuple[Recommendation, dict[str, Any], datetime | None]]: ...
    def get_recommendation_item(self, rec_id: str) -> dict[str, Any] | None: ...
    def guards_left(self, since: datetime) -> list[str]: ...


class NotifierLike(Protocol):
    def publish(self, subject: str, body: str, attributes: Mapping[str, str]) -> str: ...


class HandOverError(Exception):
    """A request to the apply function could not be sent (the invoke was refused or got no answer)."""


@dataclass
class CycleDeps:
    store: StoreLike
    notifier: NotifierLike | None
    secret: Callable[[], bytes]
    invoke_apply: Callable[[dict[str, Any]], None] | None
    kill_switch: Callable[[], bool] = lambda: False
    # who else scales which PC, and where the agent's own schedules are; None when it could not be read
    pc_scaling: Callable[[], PcScaling | None] = PcScaling
    collector: Callable[..., CollectResult] = collect
    new_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex[:16])
    clients: dict[str, Any] = field(default_factory=dict)  # lambda_client, cloudwatch_client, logs_client
    # A function's tags as they are now, or None when they cannot be read; None: not read again (see
    # `_routes_by_mode_now`)
    read_tags: Callable[[str], Mapping[str, str] | None] | None = None


class RoutedRecommendation(BaseModel):
    recommendation: Recommendation
    route: guardrails.Route
    mode: Mode
    why: str
    links: dict[str, str] = {}


class HeldChange(BaseModel):
    """An approved change of the agent's own not sent again this cycle, and why (`_resume_approved`)."""

    recommendation: Recommendation
    why: str


class CycleSummary(BaseModel):
    time: datetime
    skipped: str | None = None
    functions: int = 0
    recommendations: list[RoutedRecommendation] = []
    applied_requests: list[str] = []
    concluded: list[str] = []  # canary experiments handed to the apply function to conclude
    # requests the apply function could not be sent; the next cycle sends them again
    handover_failed: list[str] = []
    # the agent's own approved changes not handed over earlier that wait for a later cycle (outside the
    # change window, over the budget), with why: the digest lists them
    held_back: list[HeldChange] = []
    verifications: list[str] = []
    expired: list[str] = []
    # approval requests withdrawn: an earlier cycle stored them and stopped before sending (its timeout),
    # so nobody has their links and the change is asked for afresh; or their function was deleted
    withdrawn: list[str] = []
    # functions deleted from the account since the last cycle: their state dropped, and the guards the
    # agent left on them (rollback alarms, PC schedules) handed to the apply function to remove
    forgotten: list[str] = []
    notified: bool = False
    digest: str | None = None
    asked: list[str] = []  # approval requests whose links went out in a message SNS took
    audit_head: str | None = None
    kill_switch: bool = False
    collect_stats: dict[str, Any] = {}
    monthly_saving_usd: float = 0.0
    insufficient: dict[str, str] = {}
    repeated_notes: int = 0  # functions whose note repeated last cycle's: neither stored nor audited again
    wall_s: float = 0.0


def run_cycle(
    settings: AgentSettings, now: datetime, deps: CycleDeps, *, read_only: bool = False
) -> CycleSummary:
    """Run one cycle. `read_only` decides and reports but writes nothing anywhere (`lambda-tuner run`); it
    reads what the store remembers (a `ReadOnlyStore` of the stack's tables, or one that remembers nothing),
    so that it decides as the scheduled run would."""
    started = time.monotonic()
    owner = f"agent-{deps.new_id()}"
    if not read_only and not deps.store.acquire_lease(owner, now, LEASE_SECONDS):
        return CycleSummary(time=now, skipped="another run holds the lease")
    try:
        summary = _cycle(settings, now, deps, read_only=read_only)
    finally:
        if not read_only:
            deps.store.release_lease(owner)
    summary.wall_s = round(time.monotonic() - started, 3)
    return summary


def _cycle(settings: AgentSettings, now: datetime, deps: CycleDeps, *, read_only: bool) -> CycleSummary:
    killed = deps.kill_switch()
    stored_parts = deps.store.load_parts(COLLECTOR_STATE_KEY)
    collector_state = join_state(stored_parts.pop(SHARED_PART, {}), stored_parts)
    history = _memory_history(deps.store, now - timedelta(days=settings.lookback_days))
    exclude = _excluded(settings)
    result = deps.collector(
        now,
        settings.lookback_days,
        settings.tag_prefix,
        collector_state,
        memory_history=history,
        exclude=exclude,
        control_plane_rps=settings.control_plane_rps,
        min_monthly_bill_usd=settings.min_monthly_bill_usd,
        agent_memory_mb=settings.agent_memory_mb,
        **deps.clients,
    )
    summary = CycleSummary(time=now, functions=len(result.inventory.functions), kill_switch=killed)
    summary.collect_stats = result.stats.model_dump(mode="json")
    rails = _rails(settings)
    made = 0  # automatic changes made before deciding: the agent's own approved ones, sent again
    if not read_only:
        made = _keep_books(settings, rails, deps, result, collector_state, stored_parts, now, summary)

    decider = Decider(
        now,
        deps.new_id,
        allow_iac_changes=settings.allow_iac_changes,
        max_step_factor=settings.max_step_factor,
        time_zone=settings.time_zone,
        unreserved_concurrency=result.inventory.unreserved_concurrency,
        p99_allowance=settings.p99_allowance,
        pc_scaling=deps.pc_scaling(),
    )
    functions = result.inventory.functions
    modes = {fn.name: guardrails.resolve_mode(settings.mode, fn.policy, killed) for fn in functions}

    def asks(fn: FunctionConfig) -> bool:
        """Whether its changes go to a person or are made: in recommend or off mode, all are shown."""
        return modes[fn.name] in ("approve", "auto")

    decided, states, said_no = _decide_all(decider, result, deps, summary, read_only=read_only, asks=asks)

    recs = [rec for _, rec in decided]
    routes = guardrails.route(recs, modes, rails, now, made=made, rejected_before=said_no)
    reread = (
        set()
        if read_only
        else _routes_by_mode_now(
            recs, modes, routes, rails, now, settings, deps, killed, made=made, rejected_before=said_no
        )
    )
    for (fn, rec), route in zip(decided, routes, strict=True):
        why = route.reason
        if fn.name in reread:
            why = f"{why} (its mode tag, read again before the change)"
        if fn.policy.errors and rec.kind in guardrails.CHANGING_KINDS:
            # what blocked its changes (a bad tag, tags unreadable this cycle), not only "recommend-only"
            why = f"{why}; changes blocked: {'; '.join(fn.policy.errors)}"
        routed = RoutedRecommendation(recommendation=rec, route=route.route, mode=modes[fn.name], why=why)
        summary.recommendations.append(routed)
    # Savings found: what the cost-lowering proposals would save (changes bought for speed are not savings).
    summary.monthly_saving_usd = round(
        sum(
            max(0.0, r.recommendation.monthly_saving_usd.expected)
            for r in summary.recommendations
            if r.recommendation.monthly_saving_usd and r.route != "skip"
        ),
        2,
    )
    if read_only:
        return summary
    try:
        _record(settings, deps, summary.recommendations, now, summary)
        if states:  # after the record: a note counts as said (see `_note_key`) only once it is audited
            deps.store.put_function_states(states)
        head = deps.store.audit_head()
        summary.audit_head = head.hash if head else None
        _notify(deps, summary, now)
    except Exception as exc:
        _withdraw_asks(deps, summary, now, exc)
        raise
    return summary


def _keep_books(  # noqa: PLR0917 - the cycle's state before and after collection, each needed
    settings: AgentSettings,
    rails: guardrails.Guardrails,
    deps: CycleDeps,
    result: CollectResult,
    collector_state: dict[str, Any],
    stored_parts: dict[str, dict[str, Any]],
    now: datetime,
    summary: CycleSummary,
) -> int:
    """What a cycle settles before deciding: the collector's state saved (deleted functions forgotten),
    canaries concluded, changes verified (their guards ended), requests expired or withdrawn, approved
    changes resumed. `collector_state` is the state the collection started from (it works on a copy).
    Returns the automatic changes it made (the agent's own approved ones, sent again), which the cycle's
    budget counts first."""
    # the functions the last cycle collected, and those it listed but did not (excluded by the settings):
    # the agent may hold their state and have left guards on them too
    known = set(collector_state.get("functions") or {}) | set(collector_state.get(EXCLUDED_KEY) or ())
    shared, parts = split_state(result.state)
    pending = set(collector_state.get(GONE_KEY) or ())
    shared.pop(GONE_KEY, None)
    listed = result.inventory.listed
    if listed is not None:  # else the last cycle's stay
        shared[EXCLUDED_KEY] = sorted(_excluded(settings) & listed)
    if left := _forget_deleted(deps, known, pending, listed, now, summary):
        shared[GONE_KEY] = left
    deps.store.save_parts(COLLECTOR_STATE_KEY, {**parts, SHARED_PART: shared}, stored_parts)
    summary.concluded = _conclude_canaries(deps, now, summary)
    summary.verifications = verify_applied(result.observations, deps.store, now)
    _end_guards(deps, now, summary)
    summary.expired = deps.store.expire_pending(now - timedelta(hours=settings.token_ttl_hours), now)
    summary.withdrawn = deps.store.withdraw_unsent(now, UNSENT_WHY)
    summary.withdrawn += _withdraw_deleted(deps, listed, now)
    resumed, made = _resume_approved(deps, now, summary, rails)
    summary.applied_requests += resumed
    return made


def _rails(settings: AgentSettings) -> guardrails.Guardrails:
    return guardrails.Guardrails(
        max_step_factor=settings.max_step_factor,
        max_changes_per_cycle=settings.max_changes_per_cycle,
        change_window_utc=settings.change_window_utc,
    )


def _excluded(settings: AgentSettings) -> set[str]:
    """The functions the settings exclude from tuning (the stack's own among them)."""
    return {f.strip() for f in settings.exclude_functions.split(",") if f.strip()}


def _routes_by_mode_now(  # noqa: PLR0917 - the routing's inputs, each needed
    recs: list[Recommendation],
    modes: dict[str, Mode],
    routes: list[guardrails.RouteDecision],
    rails: guardrails.Guardrails,
    now: datetime,
    settings: AgentSettings,
    deps: CycleDeps,
    killed: bool,
    *,
    made: int = 0,
    rejected_before: Mapping[str, datetime] | None = None,
) -> set[str]:
    """Auto mode makes a change itself only where the function's mode, read again now, still says so:
    the collector re-reads an unchanged function's tags once a week, and a `mode` tag set since (approve,
    off) or taken off (the account's mode decides again) must stop the agent's own change here. Left to
    the apply function's own check, a function now tagged mode=approve was refused there every cycle
    until the weekly read, while the digest listed its change as applied and nobody was asked; and one
    whose mode=auto tag was taken off was still changed (no tag: the apply function lets it be).

    Only the functions routed to be applied are read, one call each (a cycle's budget of changes). A
    function whose mode changed frees its place in the budget, so the routes are made again and a function
    newly routed to be applied is read too. `modes` and `routes` are updated in place; returns the
    functions whose mode the tags read now changed. One whose tags cannot be read keeps its mode (the apply
    function reads them before the change)."""
    if deps.read_tags is None:
        return set()
    read: set[str] = set()
    changed: set[str] = set()
    while todo := {r.function for r, d in zip(recs, routes, strict=True) if d.route == "apply"} - read:
        for name in sorted(todo):
            read.add(name)
            tags = deps.read_tags(name)
            mode = (
                guardrails.resolve_mode(settings.mode, parse_policy(tags, settings.tag_prefix), killed)
                if tags is not None
                else modes[name]
            )
            if mode != modes[name]:
                modes[name] = mode
                changed.add(name)
        routes[:] = guardrails.route(recs, modes, rails, now, made=made, rejected_before=rejected_before)
    return changed


def _withdraw_asks(deps: CycleDeps, summary: CycleSummary, now: datetime, exc: Exception) -> None:
    """The cycle failed before its digest went out (SNS refused it, the signing key or the store could
    not be read): its approval requests reached nobody. Left PENDING they would wait out their links
    unseen, and no later cycle would ask again (a change already pending is not asked twice), so they
    expire now, saying why, and the next cycle asks afresh. Best effort: the store may be what failed;
    the cycle's own error is raised after this, with a note when an ask could not be withdrawn."""
    why = f"approval request not sent: the cycle failed ({type(exc).__name__}: {exc})"
    for routed in summary.recommendations:
        # one whose links went out in an earlier message of a split digest stays: a person has them
        if routed.route != "approve" or routed.recommendation.id in summary.asked:
            continue
        try:
            deps.store.transition(routed.recommendation.id, "PENDING", "EXPIRED", now, expired_because=why)
        except Exception as failed:  # noqa: BLE001 - the cycle's own error is raised next, with this note
            exc.add_note(f"approval requests of this cycle not withdrawn ({failed}): they expire unseen")
            return


def _withdraw_deleted(deps: CycleDeps, listed: frozenset[str] | None, now: datetime) -> list[str]:
    """Approval requests of functions deleted from the account: nobody can make them any more, and a
    person's approval would only fail at the apply. Each is withdrawn (PENDING -> EXPIRED) with a record
    saying why, the record first, as the approval page does. Only when the cycle knows which functions
    exist (`listed`: a whole listing; a throttled one stops the cycle before this): a function it could
    not read is not taken for deleted."""
    if listed is None:
        return []
    gone = [r for r in deps.store.list_recommendations(status="PENDING") if r.function not in listed]
    if not gone:
        return []
    deps.store.append_audit_many(
        [
            (
                "refusal",
                now,
                {
                    "function": r.function,
                    "recommendation_id": r.id,
                    "actor": "agent",
                    "data": {"reason": DELETED_WHY, "status": r.status},
                },
            )
            for r in gone
        ]
    )
    return [
        r.id
        for r in gone
        if deps.store.transition(r.id, "PENDING", "EXPIRED", now, expired_because=DELETED_WHY)
    ]


def _forget_deleted(  # noqa: PLR0917 - what was known, what is listed now, and the cycle's own
    deps: CycleDeps,
    known: set[str],
    pending: set[str],
    listed: frozenset[str] | None,
    now: datetime,
    summary: CycleSummary,
) -> list[str]:
    """Forget the functions deleted from the account: those the last cycle collected or listed as
    excluded (`known`) or found deleted without sending them on (`pending`), missing from this cycle's
    whole listing (`listed`; None when the cycle cannot tell, and a function it could not read is never
    taken for deleted). Their states go, so a function created later under the same name starts afresh,
    and each goes to the apply function as a `forget` request: it alone may delete the rollback alarms
    and PC schedules the agent left on them, and it does so only once Lambda says the function does not
    exist. The names not sent are returned, kept in the collector's state for the next cycle; one
    listed again by then is left."""
    if listed is None:
        return sorted(pending)
    gone = sorted((known | pending) - listed)
    if not gone:
        return []
    deps.store.delete_function_states(gone)
    if deps.invoke_apply is None:  # `lambda-tuner run --apply`: the scheduled agent's next cycle sends them
        return gone
    left: list[str] = []
    for name in gone:
        event = {"action": "forget", "function": name, "time": now.isoformat(), "requested_by": "agent"}
        if _send(deps.invoke_apply, event, summary):
            summary.forgotten.append(name)
        else:
            left.append(name)
    return left


def _record(
    settings: AgentSettings,
    deps: CycleDeps,
    routed_recs: Sequence[RoutedRecommendation],
    now: datetime,
    summary: CycleSummary,
) -> None:
    """Audit the cycle's recommendations, then store them, in batches (at 10,000 functions one call each
    would take minutes), then make the approval links and hand auto-mode changes to the apply function,
    which finds them stored and audited. The audit comes first: a stored APPROVED change is resumed and
    applied by a later cycle, and a stored PENDING one is never asked again, so none may be stored
    without its record (an audit write that fails stores nothing; the next cycle decides again).
    Approval requests whose links go out by SNS are stored marked unsent until a message carried them:
    a cycle stopped before then (its timeout) cannot withdraw them itself, so the next one does."""
    status = {"record": "RECORDED", "skip": "RECORDED", "approve": "PENDING", "apply": "APPROVED"}
    for routed in routed_recs:
        routed.recommendation = routed.recommendation.model_copy(update={"status": status[routed.route]})
    deps.store.append_audit_many(
        [
            (
                "recommendation",
                now,
                {
                    "function": r.recommendation.function,
                    "recommendation_id": r.recommendation.id,
                    "data": {
                        "kind": r.recommendation.kind,
                        "route": r.route,
                        "why": r.why,
                        "current": r.recommendation.current,
                        "proposed": r.recommendation.proposed,
                        "reason": r.recommendation.reason.model_dump(mode="json"),
                    },
                },
            )
            for r in routed_recs
        ]
    )
    asks = [r.recommendation.id for r in routed_recs if r.route == "approve"] if deps.notifier else []
    deps.store.put_recommendations([r.recommendation for r in routed_recs], unsent=asks)
    for routed in routed_recs:
        rec = routed.recommendation
        if routed.route == "approve":
            routed.links = tokens.approval_links(
                settings.approval_base_url, deps.secret(), rec, now, settings.token_ttl_hours, deps.new_id
            )
        elif (
            routed.route == "apply"
            and deps.invoke_apply is not None
            and _hand_over(deps.invoke_apply, rec.id, "agent", now, summary)
        ):
            summary.applied_requests.append(rec.id)


def _decide_all(
    decider: Decider,
    result: CollectResult,
    deps: CycleDeps,
    summary: CycleSummary,
    *,
    read_only: bool,
    asks: Callable[[FunctionConfig], bool] = lambda fn: True,
) -> tuple[list[tuple[FunctionConfig, Recommendation]], dict[str, dict[str, Any]], dict[str, datetime]]:
    """Every observed function's recommendations, less repeated notes, asks already pending and changes
    held by an unverified one; the function states that changed (read in batches here, written by
    the caller once the recommendations are recorded); and, by recommendation id, when a person
    rejected a change like it more than REFUSED_FOR ago (auto mode asks a person again)."""
    pending = _by_function(deps.store, "PENDING")
    # A canary concluded this cycle no longer holds its function: the decision sees both sizes now.
    unverified = _by_function(deps.store, "APPLIED", skip=set(summary.concluded))
    # An approved change not made yet holds it too: the apply function works asynchronously, and one
    # handed over again (resumed) or approved by a person may still be on its way. A second copy
    # decided now would go to the apply function beside it, and fail on the first one's revision.
    for function, approved in _by_function(deps.store, "APPROVED").items():
        unverified.setdefault(function, approved)
    # What the guards of the agent's experiments said, for longer than the look-back remembers it
    stopped = _stopped_trials(deps.store, decider.now)
    # What a person rejected is not asked for again (for REFUSED_FOR), and one whose ask expired
    # unanswered does not go first again: the other change would wait for a person who does not answer
    # (each is asked in turn, then, the larger saving first again once both were asked).
    # One withdrawn before its links went out was not left unanswered: nobody saw it, and it leads again.
    # A rejection is read back further (REJECTED_HEARD_FOR): auto mode does not make on its own, later,
    # what a person said no to (`rejected_before`).
    refused: dict[str, list[Recommendation]] = {}
    rejected_earlier: dict[str, list[Recommendation]] = {}
    for status in ("REJECTED", "EXPIRED"):
        since = decider.now - (REJECTED_HEARD_FOR if status == "REJECTED" else REFUSED_FOR)
        for function, recs in _by_function(deps.store, status, since=since, sent_only=True).items():
            for rec in recs:
                recent = rec.created_at >= decider.now - REFUSED_FOR
                (refused if recent else rejected_earlier).setdefault(function, []).append(rec)
    rejected_before: dict[str, datetime] = {}
    decided: list[tuple[FunctionConfig, Recommendation]] = []
    observed = [fn for fn in result.inventory.functions if fn.name in result.observations]
    states = deps.store.get_function_states([fn.name for fn in observed])
    changed: dict[str, dict[str, Any]] = {}
    for fn in observed:
        obs = result.observations[fn.name]
        if obs.status != "ok":
            summary.insufficient[fn.name] = obs.reason or obs.status
        fstate = states.get(fn.name, {})
        recs = decider.decide(fn, obs, fstate, stopped=stopped.get(fn.name, ()))
        in_flight = unverified.get(fn.name, [])
        waiting, no = pending.get(fn.name, []), refused.get(fn.name, [])
        turns = _in_turn(recs, waiting, in_flight, refused=no, one_first=asks(fn), show_asked=read_only)
        for rec in turns:
            earlier = [r for r in rejected_earlier.get(fn.name, []) if guardrails.same_change(rec, r)]
            if rec.kind in guardrails.CHANGING_KINDS and earlier:
                rejected_before[rec.id] = max(r.created_at for r in earlier)
        # what is recorded, once a change waiting its turn or one a person rejected is a note too
        note = _note_of(turns, fstate)
        if note is not None and fstate.get(NOTE_STATE_KEY) == note and not read_only:
            summary.repeated_notes += 1  # the same notes and advice as last cycle
            turns = []
        decided += [(fn, rec) for rec in turns]
        if not read_only:
            new_state = decider.updated_state(fn, obs, fstate, stopped=stopped.get(fn.name, ()))
            new_state.pop(NOTE_STATE_KEY, None)
            if note is not None:
                new_state[NOTE_STATE_KEY] = note
            if new_state != fstate:
                changed[fn.name] = new_state
    return decided, changed, rejected_before


def _note_of(recs: Sequence[Recommendation], state: Mapping[str, Any]) -> str | None:
    """The key of the function's notes this cycle (`_note_key`); for a function not read since its last
    note (`_unread`), that note's: nothing new was learnt about it."""
    last = state.get(NOTE_STATE_KEY)
    return str(last) if last and _unread(recs) else _note_key(recs)


def _unread(recs: Sequence[Recommendation]) -> bool:
    """Whether the function's one note says it was not read this cycle: quiet (idle, or billed under the
    mark) when its census was last read, it is read again on its day of the week. Its last note, from the
    day it was read, still holds; said again in other words it would be recorded twice a week for each
    quiet function (the read day's note, then the next day's), with nothing learnt in between."""
    return (
        len(recs) == 1
        and recs[0].kind == "insufficient_data"
        and recs[0].reason.observed.startswith(UNREAD_QUIET)
    )


def _note_key(recs: Sequence[Recommendation]) -> str | None:
    """What identifies a function's notes ("keep", "insufficient data") and advice (arm64, a template
    change) from one cycle to the next, or None when it got anything else. Notes and advice repeated
    unchanged are not stored or audited again, nor shown in the digest again: at 10,000 functions, most
    of them under the bill mark, that would be five DynamoDB calls per function per cycle to say what
    the audit already says. Numbers in the wording (a bill, a count, a date) are left out, and so is the
    best plan a PC keep note did not make: it moves by a block or a weekday from one day to the next (on
    the twin's soak, storefront-api's note was recorded again every other day for it), and the note's
    decision is the same."""
    if not recs or any(r.kind not in NOTE_KINDS for r in recs):
        return None
    parts = sorted(
        f"{r.kind}|{r.qualifier or ''}|{r.current.get('memory_mb')}|{r.proposed.get('memory_mb')}|"
        f"{_NUMBERS.sub('#', _UNMADE_PLAN.sub('the best plan', r.reason.decided_by))}|"
        f"{_NUMBERS.sub('#', r.reason.summary)}"
        for r in recs
    )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _resume_approved(
    deps: CycleDeps, now: datetime, summary: CycleSummary, rails: guardrails.Guardrails
) -> tuple[list[str], int]:
    """Approved changes whose apply never started (the invoke failed) are handed over again; the apply
    function claims each recommendation once, so a duplicate hand-over does nothing. They go as
    `resume`, not `agent`: the apply function judges them by who approved them (a person's approval of
    a function tagged mode=approve must still be applied, as the approval page promises).

    Who approved them decides when, too (`guardrails.resume_holds`): a person's approval goes at the
    next cycle, whatever the hour (the approval page says the next cycle retries it; the change window
    and the budget are auto mode's); the agent's own change keeps to the change window and the cycle's
    budget of automatic changes, as when it was first decided. One held back stays APPROVED (holding
    its function: nothing else is decided for it meanwhile), is listed in the digest with the reason it
    waits (`summary.held_back`), and goes with the first cycle it fits in. Returns the ids handed over,
    and how many of the agent's own were sent: the budget they took, as a new change takes it when it is
    routed, whether its hand-over works or not."""
    if deps.invoke_apply is None:
        return [], 0
    stuck = [
        r for r in deps.store.list_recommendations(status="APPROVED") if now - r.created_at > RESUME_AFTER
    ]
    approvers = {
        r.id: guardrails.approver((deps.store.get_recommendation_item(r.id) or {}).get("attrs", {}))
        for r in stuck
    }
    held = guardrails.resume_holds(stuck, approvers, rails, now)
    summary.held_back = [HeldChange(recommendation=r, why=held[r.id]) for r in stuck if r.id in held]
    going = [r for r in stuck if r.id not in held]
    made = sum(1 for r in going if approvers[r.id] != "approval")
    return [r.id for r in going if _hand_over(deps.invoke_apply, r.id, guardrails.RESUME, now, summary)], made


def _hand_over(
    invoke_apply: Callable[[dict[str, Any]], Any],
    rec_id: str,
    actor: str,
    now: datetime,
    summary: CycleSummary,
) -> bool:
    """The apply function's `apply` event (handlers/apply.py validates it as ApplyEvent)."""
    event = {"action": "apply", "recommendation_id": rec_id, "requested_by": actor, "time": now.isoformat()}
    return _send(invoke_apply, event, summary)


def _send(
    invoke_apply: Callable[[dict[str, Any]], Any], event: dict[str, Any], summary: CycleSummary
) -> bool:
    """Send one request; one that cannot be sent does not stop the cycle (the other functions, the
    digest): it is listed, and the next cycle sends it again (an approved change not started resumes,
    a canary not concluded stays APPLIED until it is)."""
    try:
        invoke_apply(event)
    except HandOverError:
        summary.handover_failed.append(str(event.get("recommendation_id") or event.get("function")))
        return False
    return True


def _notify(deps: CycleDeps, summary: CycleSummary, now: datetime) -> None:
    actionable = [r for r in summary.recommendations if r.route in ("approve", "apply")]
    held = [h.recommendation for h in summary.held_back]  # the agent's own approved changes that wait
    if deps.notifier is None or not (actionable or held):
        return
    digests = render_digests(
        [r.recommendation for r in summary.recommendations if r.route != "skip"] + held,
        {r.recommendation.id: r.links for r in summary.recommendations if r.links},
        summary.audit_head or "",
        now,
        not_handed_over=summary.handover_failed,
        # an auto-mode function's change asked for: what kept the agent from making it
        asked_because={
            r.recommendation.id: r.why for r in actionable if r.route == "approve" and r.mode == "auto"
        },
        held_because={h.recommendation.id: h.why for h in summary.held_back},
    )
    if not digests:
        return
    functions = sorted({r.recommendation.function for r in actionable} | {r.function for r in held})
    attributes = {
        "severity": "action" if any(r.route == "approve" for r in actionable) else "info",
        "functions": ",".join(functions)[:250],
        "count": str(len(actionable) + len(held)),
    }
    links = {r.recommendation.id: r.links["approve"] for r in actionable if r.links}
    for subject, body in digests:  # one message, or several when SNS's size limit needs them
        deps.notifier.publish(subject, body, attributes)
        carried = [rec_id for rec_id, link in links.items() if link in body]
        summary.asked += carried
        deps.store.mark_sent(carried, now)  # a person has these links: no later cycle withdraws them
    summary.notified, summary.digest = True, "\n".join(body for _, body in digests)


def _by_function(
    store: StoreLike,
    status: str,
    skip: set[str] | frozenset[str] = frozenset(),
    since: datetime | None = None,
    *,
    sent_only: bool = False,
) -> dict[str, list[Recommendation]]:
    out: dict[str, list[Recommendation]] = {}
    for rec in store.list_recommendations(status=status, since=since, sent_only=sent_only):
        if rec.id not in skip:
            out.setdefault(rec.function, []).append(rec)
    return out


def _conclude_canaries(deps: CycleDeps, now: datetime, summary: CycleSummary) -> list[str]:
    """Hand every applied canary experiment whose `max_days` are over to the apply function (the only
    one allowed to change Lambda) as a `conclude` request, before deciding. Not in read-only runs (the
    caller does not come here then); a lost request is sent again next cycle, since the canary stays
    APPLIED until concluded, and concluding is idempotent."""
    if deps.invoke_apply is None:
        return []
    applied = deps.store.list_recommendations(status="APPLIED")
    canaries = [(rec, days) for rec in applied if (days := canary_days(rec)) is not None]
    if not canaries:
        return []
    records = deps.store.list_audit(since=min(rec.created_at for rec, _ in canaries))  # one read for all
    over: list[str] = []
    for rec, days in canaries:
        if now - applied_at_in(records, rec) < timedelta(days=days) - CANARY_SLACK:
            continue
        if _send(deps.invoke_apply, _conclude(rec.id, now), summary):
            over.append(rec.id)
    return over


def _end_guards(deps: CycleDeps, now: datetime, summary: CycleSummary) -> None:
    """A change the cycle verified is settled, and its guard ends: it hands each over to the apply
    function, which removes its rollback alarms (the agent may not delete alarms) and then clears the
    list of them on the change. A verified change still listing alarms (its request not sent, the cycle
    stopped before sending it, or the removal failed) is asked again by every later cycle until they are
    gone: left, they roll nothing back, but cost $0.10 a month each and fire on a slow day they no longer
    answer for. So is a change that ended otherwise (rolled back, failed) with alarms or links its end
    could not remove, and a failed canary whose undo failed too: its trial still takes a share of its
    alias's traffic, unguarded, until the apply function takes it out. Those created within
    `GUARDS_ASKED_FOR` are read from the status index, and this cycle's verifications beside them (the
    index lags its table)."""
    if deps.invoke_apply is None:  # `lambda-tuner run --apply`: the scheduled agent's next cycle asks
        return
    left = deps.store.guards_left(now - GUARDS_ASKED_FOR)
    for rec_id in dict.fromkeys([*summary.verifications, *left]):
        _send(deps.invoke_apply, _conclude(rec_id, now), summary)


def _conclude(rec_id: str, now: datetime) -> dict[str, Any]:
    """The apply function's `conclude` event (ConcludeEvent)."""
    return {
        "action": "conclude",
        "recommendation_id": rec_id,
        "time": now.isoformat(),
        "requested_by": "agent",
    }


def _hold(rec: Recommendation, in_flight: Recommendation) -> Recommendation:
    """One change at a time per function: the next step waits until the last one is verified."""
    state = "is approved and not made yet" if in_flight.status == "APPROVED" else "is not verified yet"
    why = (
        f"the change to {in_flight.proposed} of {in_flight.created_at:%Y-%m-%d} {state}; "
        f"next step after it is: {rec.reason.summary}"
    )
    return _as_note(rec, f"Keep while verifying: {why}", "one change in flight per function")


def _in_turn(
    recs: Sequence[Recommendation],
    waiting: Sequence[Recommendation],
    in_flight: Sequence[Recommendation],
    *,
    refused: Sequence[Recommendation] = (),
    one_first: bool = True,
    show_asked: bool = False,
) -> list[Recommendation]:
    """One function's recommendations, one change at a time: a change waits for the unverified one, for
    one a person has not answered yet, or for the one this cycle makes first; one already waiting for a
    person is not asked for twice. A change a person rejected (`refused`, REJECTED) is not asked for
    again within REFUSED_FOR: the decision makes it again every cycle from the same evidence, and the
    person would be asked the same question every morning; it is a note that says so instead, and the
    change behind it goes. One whose ask expired unanswered (`refused`, EXPIRED) goes first only when
    nothing else would: otherwise the change waiting behind it would wait for a person who does not
    answer. Without `one_first` (recommend or off mode: nothing is asked for or made) every change is
    shown. `show_asked` (a read-only run, which records nothing): a change already waiting for a person
    is a note that says so, rather than left out."""
    rejected = [r for r in refused if r.status == "REJECTED"]

    def said_no(rec: Recommendation) -> Recommendation | None:
        return next((r for r in rejected if guardrails.same_change(rec, r)), None)

    fresh = [
        r
        for r in recs
        if r.kind in guardrails.CHANGING_KINDS and not _same_as_pending(r, waiting) and said_no(r) is None
    ]
    unrefused = [r for r in fresh if not any(guardrails.same_change(r, no) for no in refused)]
    lead = guardrails.first_change(unrefused) or guardrails.first_change(fresh)
    out: list[Recommendation] = []
    for rec in recs:
        if rec.kind not in guardrails.CHANGING_KINDS:
            out.append(rec)
        elif _same_as_pending(rec, waiting):
            if show_asked:
                out.append(_asked(rec, waiting))
            continue  # already waiting for a person: do not ask twice
        elif (no := said_no(rec)) is not None:
            out.append(_rejected(rec, no))
        elif in_flight:
            out.append(_hold(rec, in_flight[0]))
        elif waiting:
            out.append(_wait(rec, waiting[0], "waits for a person's answer"))
        elif one_first and lead is not None and rec is not lead:
            out.append(_wait(rec, lead, "goes first"))
        else:
            out.append(rec)
    return out


def _rejected(rec: Recommendation, no: Recommendation) -> Recommendation:
    """A change a person rejected, decided again: a note until REFUSED_FOR after it was asked for."""
    until = no.created_at + REFUSED_FOR
    size = no.proposed.get("memory_mb")
    what = (
        f"{'a trial at' if no.kind == 'experiment' else 'a change to'} {size} MB" if size else change_text(no)
    )
    why = (
        f"a person rejected {what} (asked for on {no.created_at:%Y-%m-%d}); it is not asked for again "
        f"until {until:%Y-%m-%d}. The decision now: {rec.reason.summary}"
    )
    return _as_note(rec, f"Keep: {why}", "rejected by a person")


def _asked(rec: Recommendation, waiting: Sequence[Recommendation]) -> Recommendation:
    """A change decided again while the same one waits for a person's answer: a note of it."""
    asked = next(p for p in waiting if _same_as_pending(rec, [p]))
    why = f"asked for on {asked.created_at:%Y-%m-%d}, waiting for a person's answer: {rec.reason.summary}"
    return _as_note(rec, f"Keep for now: {why}", "asked already")


def _wait(rec: Recommendation, first: Recommendation, state: str) -> Recommendation:
    """The same rule before a change is made: the next one waits for the one proposed before it, or for
    the one this cycle makes first (the largest saving: `guardrails.first_change`)."""
    on = first.function + (f":{first.qualifier}" if first.qualifier else "")
    why = f"the change of {on} ({change_text(first)}) {state}; next step after it is: {rec.reason.summary}"
    return _as_note(rec, f"Keep for now: {why}", "one change in flight per function")


def _as_note(rec: Recommendation, summary: str, decided_by: str) -> Recommendation:
    """A change decided this cycle that is not asked for or made now: a keep note saying why."""
    reason = rec.reason.model_copy(update={"summary": summary, "decided_by": decided_by})
    return rec.model_copy(
        update={"kind": "keep", "proposed": rec.current, "reason": reason, "monthly_saving_usd": None}
    )


def _same_as_pending(rec: Recommendation, pending: Sequence[Recommendation]) -> bool:
    # the qualifier too: take-offs of the agent's PC schedule all propose "[]", each on its own PC
    return any((p.kind, p.qualifier, p.proposed) == (rec.kind, rec.qualifier, rec.proposed) for p in pending)


def _stopped_trials(store: StoreLike, now: datetime) -> dict[str, list[StoppedTrial]]:
    """Per function, the memory changes (experiments, moves) their guards rolled back within
    `STOPPED_FOR`, read from the recommendations rolled back (one query of the status index for the
    fleet, not one per function): the decision's look-back forgets them after `lookback_days`. The apply
    function has always stored a rollback so: rollbacks recorded before this rule was made are honoured
    too."""
    out: dict[str, list[StoppedTrial]] = {}
    for rec, attrs, updated_at in store.list_rolled_back(now - STOPPED_FOR - PROPOSED_BEFORE_STOP):
        if (trial := stopped_trial(rec, attrs, updated_at)) is not None:
            out.setdefault(trial.function, []).append(trial)
    return out


def _memory_history(store: StoreLike, since: datetime) -> dict[str, list[HistoryItem]]:
    """Memory changes the agent made and canaries it ran (from its audit), so collection can split epochs
    exactly there and read a canary's window as one epoch per size."""
    return history_from_audit(store.list_audit(since=since))
