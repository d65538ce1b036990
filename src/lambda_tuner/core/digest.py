"""The per-cycle email: plain text a person can act on in ten seconds, pure."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime

from lambda_tuner.core.canary import share_text
from lambda_tuner.core.models import EXPERIMENT_KEYS, Interval, Recommendation

SUBJECT_MAX = 100  # SNS refuses longer email subjects
DIGEST_MAX_BYTES = 200_000  # an SNS message is at most 256 KiB, attributes included: room to spare
QUIET_KINDS = frozenset({"keep", "insufficient_data"})
ADVICE_KINDS = frozenset({"arm64_advice", "template_change"})


def money(value: float) -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def saving_text(saving: Interval | None) -> str:
    if saving is None:
        return "saving not estimated"
    if saving.expected < 0:  # a change bought for speed or to learn: say what it costs, not a negative saving
        dearer = f"(90%: {money(-saving.high)} to {money(-saving.low)})"  # the interval of what it costs too
        return f"costs {money(-saving.expected)}/month more {dearer}"
    return f"saves {money(saving.expected)}/month (90%: {money(saving.low)} to {money(saving.high)})"


# A memory recommendation's summary restates the change, its saving and its latency, which the lines
# above its "Why" already show; what decided it is the reason a person needs there, in words.
MEMORY_KINDS = frozenset({"memory", "experiment", "keep"})
_DECIDERS = {
    "p99 allowance": "a cheaper size would make p99 worse than now by more than the allowed fraction",
    "memory floor": "a smaller size would leave too little headroom over the most memory it used",
    "timeout margin": "a smaller size would bring p99 too close to the timeout",
    "step limit": "one change may move memory only so far (the step limit per cycle)",
    "bounds": "the memory bounds set for this function",
    "p99 objective": "the p99 objective set for this function",
    "p95 objective": "the p95 objective set for this function",
    "earlier rollback": "a change its guards rolled back rules that ground out for now",
}


def why_text(kind: str, summary: str, decided_by: str) -> str:
    """The "Why" a person reads: for memory recommendations what decided them (a constraint in words,
    or the exploration's or objective's own sentence), for the other kinds their summary."""
    if kind not in MEMORY_KINDS or not decided_by:
        return summary
    return _DECIDERS.get(decided_by, decided_by)




def _times_live(value: float) -> str:
    return f"{value:.3g} × the live version's, the same hours"


# How each experiment limit reads to a person: its label and its value's form.
_LIMITS: dict[str, tuple[str, Callable[[float], str]]] = {
    "canary_weight": ("Share of the alias's calls", lambda v: f"{v:.0%}"),
    "routing_weight": ("Share of the calls", lambda v: f"{v:.0%}"),
    "max_days": ("Runs at most", lambda v: f"{v:g} day(s)"),
    "max_extra_cost_usd": ("Extra cost over the current size, at most", money),
    "stop_if_p99_ratio_above": ("Stopped if its p99 passes", _times_live),
    "stop_if_p99_ms_above": ("Stopped if its p99 passes", lambda v: f"{v:,.0f} ms"),
    "stop_if_mean_ratio_above": ("Stopped if its mean duration (its cost a call) passes", _times_live),
    "stop_if_mean_ms_above": (
        "Stopped if its mean duration (its cost a call) passes",
        lambda v: f"{v:,.0f} ms",
    ),
    "stop_if_error_rate_above": (
        "Stopped on errors",
        lambda v: "above the function's usual rate" if v <= 0 else f"above {v:.1%} of calls",
    ),
    "best_guess_mb": ("The model's best guess", lambda v: f"{v:g} MB"),
}


def experiment_limits(rec: Recommendation) -> list[tuple[str, str]]:
    """An experiment's limits as (label, value) a person reads, in the order above. A canary's stops
    are ratios to the live version: its fixed ones then serve only when the live version is unpublished,
    and are not shown. The model's best guess is shown only when the experiment tries another size."""
    proposed = rec.proposed
    ratio = {
        "stop_if_p99_ms_above": "stop_if_p99_ratio_above",
        "stop_if_mean_ms_above": "stop_if_mean_ratio_above",
    }
    out = []
    for key, (label, form) in _LIMITS.items():
        value = proposed.get(key)
        if not isinstance(value, int | float) or proposed.get(ratio.get(key, "")) is not None:
            continue
        if key == "best_guess_mb" and value == proposed.get("memory_mb"):
            continue
        if key == "max_days" and proposed.get("canary_weight") is None:  # on all traffic nothing ends it
            stays = f"{value:g} day(s); the size stays until the next change"
            out.append(("Watched by its stops for", stays))
            continue
        out.append((label, form(float(value))))
    return out


def change_text(rec: Recommendation) -> str:
    """`memory 1024 → 512 MB`, `pc 0 → 5`: every proposed setting against the current one (`memory
    1024 MB` where it stays: a note, or arm64 advice at the same size)."""
    parts = []
    for key, new in rec.proposed.items():
        old = rec.current.get(key)
        if key in EXPERIMENT_KEYS:
            continue
        if key == "memory_mb":
            parts.append(f"memory {new} MB" if old == new else f"memory {old} → {new} MB")
        elif key == "pc_schedule" and new == "[]" and not rec.pc_schedule:
            parts.append("take the agent's provisioned-concurrency schedule off")  # no rows to see
        elif key == "pc_schedule":
            parts.append("provisioned-concurrency schedule (see page)")
        else:
            name = key.replace("_", " ")
            parts.append(f"{name} {new}" if old == new else f"{name} {old} → {new}")
    if rec.kind == "experiment":
        weight, days = rec.proposed.get("canary_weight"), rec.proposed.get("max_days")
        # Only `canary_weight` is routed; an older `routing_weight` never was (those trials took all traffic).
        routed = float(weight) if isinstance(weight, int | float) else None
        share = share_text(routed, rec.qualifier)
        if routed is None:  # nothing ends it: the function stays at the trial size until a next change
            parts.append(f"experiment {share}, its stops watching it for {days} day(s); the size stays after "
                         "that until the next change")
        else:  # a canary is concluded after its days: its routing removed, its version deleted
            parts.append(f"experiment {share} for at most {days} day(s), stopped early by its guards")
    return ", ".join(parts) or rec.kind.replace("_", " ")


def one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _change_block(
    n: int, rec: Recommendation, links: Mapping[str, str] | None, asked_because: str | None = None
) -> list[str]:
    target = rec.function + (f":{rec.qualifier}" if rec.qualifier else "")
    lines = [
        f"{n}. {target}: {change_text(rec)}",
        f"   {saving_text(rec.monthly_saving_usd)}; latency: {rec.latency_effect or 'no change expected'}",
        f"   Why: {one_line(why_text(rec.kind, rec.reason.summary, rec.reason.decided_by))}",
    ]
    if asked_because:
        lines.append(f"   Asked, not made automatically: {asked_because}")
    if links:
        lines += [f"   Approve: {links['approve']}", f"   Reject:  {links['reject']}"]
    return lines


def _section(title: str, recs: Sequence[Recommendation]) -> list[str]:
    if not recs:
        return []
    return ["", title] + [f"- {r.function}: {one_line(r.reason.summary, 120)}" for r in recs]


def render_digest(
    recs: Sequence[Recommendation],
    links: Mapping[str, dict[str, str]],
    chain_head: str,
    now: datetime,
    *,
    not_handed_over: Collection[str] = (),
    asked_because: Mapping[str, str] | None = None,
    held_because: Mapping[str, str] | None = None,
) -> tuple[str, str] | None:
    """(subject, body), or None when nothing needs a decision and nothing was changed or went wrong.
    `not_handed_over`: auto-mode changes the apply function could not be sent (the next cycle sends them
    again); they are not listed as applied. `asked_because`: why an auto-mode function's change is asked
    for rather than made (outside the change window, over the cycle's budget, too large a step).
    `held_because`: the agent's own approved changes, not handed over before, that a later cycle makes
    (outside the change window, over the cycle's budget), and why each waits."""
    held = held_because or {}
    waiting = [r for r in recs if r.status == "PENDING" and r.id in links]
    delayed = [r for r in recs if r.status == "APPROVED" and r.id in not_handed_over]
    postponed = [r for r in recs if r.status == "APPROVED" and r.id in held and r.id not in not_handed_over]
    # APPROVED without links: auto mode approved it and the apply function is applying it right now.
    applied = [
        r
        for r in recs
        if r.status in ("APPLIED", "VERIFIED")
        or (r.status == "APPROVED" and r.id not in links and r.id not in not_handed_over and r.id not in held)
    ]
    trouble = [r for r in recs if r.status in ("FAILED", "ROLLED_BACK")]
    if not (waiting or applied or delayed or postponed or trouble):
        return None
    total = sum(r.monthly_saving_usd.expected for r in waiting if r.monthly_saving_usd is not None)
    body = [f"lambda-tuner digest, {now:%Y-%m-%d %H:%M} UTC"]
    if waiting:
        body += ["", f"Waiting for your decision ({len(waiting)}; links expire, each works once):"]
        for n, rec in enumerate(waiting, 1):
            body += _change_block(n, rec, links[rec.id], (asked_because or {}).get(rec.id))
    if applied:
        body += ["", "Applied automatically (within guardrails; rolled back on alarms):"]
        for n, rec in enumerate(applied, 1):
            body += _change_block(n, rec, None)
    if delayed:
        body += [
            "",
            "Not made yet (the apply function could not be reached; the next cycle sends them again):",
        ]
        for n, rec in enumerate(delayed, 1):
            body += _change_block(n, rec, None)
    if postponed:
        note = "a later cycle makes each; nothing else changes its function first"
        body += ["", f"Approved, not made yet ({note}):"]
        for n, rec in enumerate(postponed, 1):
            body += [*_change_block(n, rec, None), f"   Waits: {held[rec.id]}"]
    body += _section("Failed or rolled back:", trouble)
    body += _section("Advice (no change made):", [r for r in recs if r.kind in ADVICE_KINDS])
    kept = [r for r in recs if r.kind in QUIET_KINDS]
    if kept:
        body += [
            "",
            f"Kept as is: {len(kept)} function(s) ({', '.join(sorted(r.function for r in kept)[:8])}"
            + (", …)" if len(kept) > 8 else ")"),
        ]
    body += ["", f"Audit chain head: {chain_head}", f"Verify: lambda-tuner audit verify --head {chain_head}"]
    return _subject(waiting, applied, trouble, total, [*delayed, *postponed]), "\n".join(body) + "\n"


def _subject(
    waiting: Sequence[Recommendation],
    applied: Sequence[Recommendation],
    trouble: Sequence[Recommendation],
    total: float,
    delayed: Sequence[Recommendation] = (),
) -> str:
    parts = []
    if waiting:
        parts.append(f"{len(waiting)} change(s) to approve, ~{money(total)}/month")
    if applied:
        parts.append(f"{len(applied)} applied")
    if delayed:
        parts.append(f"{len(delayed)} not made yet")
    if trouble:
        parts.append(f"{len(trouble)} failed/rolled back")
    subject = "lambda-tuner: " + "; ".join(parts)
    # SNS email subjects must be ASCII without line breaks.
    return subject if len(subject) <= SUBJECT_MAX else subject[: SUBJECT_MAX - 3] + "..."


def render_digests(
    recs: Sequence[Recommendation],
    links: Mapping[str, dict[str, str]],
    chain_head: str,
    now: datetime,
    max_bytes: int = DIGEST_MAX_BYTES,
    *,
    not_handed_over: Collection[str] = (),
    asked_because: Mapping[str, str] | None = None,
    held_because: Mapping[str, str] | None = None,
) -> list[tuple[str, str]]:
    """`render_digest`, split into as many messages as SNS's size limit needs (about 770 bytes a waiting
    change: one message holds some 250). One too large would be refused and its links never sent, and
    the changes would wait, unseen, until they expired. Parts are marked [n/k] in their subjects."""

    def render(part: Sequence[Recommendation]) -> tuple[str, str] | None:
        return render_digest(
            part,
            links,
            chain_head,
            now,
            not_handed_over=not_handed_over,
            asked_because=asked_because,
            held_because=held_because,
        )

    whole = render(recs)
    if whole is None or len(whole[1].encode()) <= max_bytes:
        return [whole] if whole else []
    for parts in range(max(2, -(-len(whole[1].encode()) // max_bytes)), len(recs) + 1):  # from the fewest
        size = -(-len(recs) // parts)
        chunks = [render(recs[i : i + size]) for i in range(0, len(recs), size)]
        digests = [d for d in chunks if d is not None]
        if all(len(body.encode()) <= max_bytes for _, body in digests):
            k = len(digests)
            return [
                (f"[{n}/{k}] {subject}"[:SUBJECT_MAX], body) for n, (subject, body) in enumerate(digests, 1)
            ]
    return [whole]  # a single change over the limit: nothing smaller to send
