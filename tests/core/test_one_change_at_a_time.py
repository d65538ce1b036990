"""One change at a time per function, before a change is made too: of a cycle's changes to one function
the largest saving goes first (taking the agent's PC schedule off, before anything), and while a change
waits for a person's answer a different one is not asked for beside it."""

from __future__ import annotations

from datetime import UTC, datetime

from lambda_tuner.core.guardrails import first_change
from lambda_tuner.core.models import Interval, Reason, Recommendation
from lambda_tuner.cycle import _in_turn

NOW = datetime(2026, 11, 2, 6, tzinfo=UTC)


def rec(
    rid: str, kind: str, proposed: dict[str, int | float | str | None], saving: float | None
) -> Recommendation:
    return Recommendation(
        id=rid,
        function="orders",
        kind=kind,  # type: ignore[arg-type]
        created_at=NOW,
        current={"pc": 20} if "pc" in proposed or "pc_schedule" in proposed else {"memory_mb": 1024},
        proposed=proposed,
        qualifier="live",
        monthly_saving_usd=None if saving is None else Interval(expected=saving, low=saving, high=saving),
        reason=Reason(summary=f"do {rid}", observed="o", model="m", decided_by="d"),
    )


MEMORY = rec("memory", "experiment", {"memory_mb": 512}, 3.3)
PC = rec("pc", "provisioned_concurrency", {"pc": 5}, 157.0)
ADVICE = rec("arm", "arm64_advice", {}, 3.0)
OFF = rec("off", "provisioned_concurrency", {"pc_schedule": "[]"}, None)


def test_the_largest_saving_goes_first_and_the_other_change_waits_saying_for_what() -> None:
    out = _in_turn([MEMORY, ADVICE, PC], waiting=[], in_flight=[])
    assert [(r.id, r.kind) for r in out] == [
        ("memory", "keep"), ("arm", "arm64_advice"), ("pc", "provisioned_concurrency")
    ]
    assert out[0].reason.summary == (
        "Keep for now: the change of orders:live (pc 20 → 5) goes first; next step after it is: do memory"
    )
    assert out[0].proposed == MEMORY.current and out[0].monthly_saving_usd is None


def test_taking_the_agents_schedule_off_goes_before_any_saving() -> None:
    assert first_change([MEMORY, PC, OFF]) is OFF
    assert first_change([]) is None


def test_a_change_waiting_for_a_person_is_not_asked_twice_and_holds_a_different_one() -> None:
    out = _in_turn([MEMORY, PC], waiting=[PC], in_flight=[])
    assert [(r.id, r.kind) for r in out] == [("memory", "keep")]
    assert "(pc 20 → 5) waits for a person's answer" in out[0].reason.summary


def test_one_change_alone_is_asked_for_as_it_is() -> None:
    assert _in_turn([MEMORY, ADVICE], waiting=[], in_flight=[]) == [MEMORY, ADVICE]


def test_in_recommend_mode_every_change_is_shown_since_none_is_asked_for_or_made() -> None:
    # Holding one behind the other serves the approval and the apply; a recommend-only account would
    # only ever see the first, the second's plan quoted in a note
    assert _in_turn([MEMORY, ADVICE, PC], waiting=[], in_flight=[], one_first=False) == [MEMORY, ADVICE, PC]


def test_a_change_held_behind_an_approved_one_says_that_one_is_not_made_yet() -> None:
    approved = PC.model_copy(update={"status": "APPROVED"})
    [held] = _in_turn([MEMORY], waiting=[], in_flight=[approved])
    assert "is approved and not made yet; next step after it is: do memory" in held.reason.summary
    [held] = _in_turn([MEMORY], waiting=[], in_flight=[PC.model_copy(update={"status": "APPLIED"})])
    assert "is not verified yet" in held.reason.summary


def test_a_rejected_change_is_a_note_and_one_near_it_is_the_same_question() -> None:
    # a person rejected a trial at 512 MB; the next cycle's trial at 530 MB (its stops moved with the
    # day's data) is the same question: a note, and the PC change behind it goes
    said_no = MEMORY.model_copy(update={"status": "REJECTED", "proposed": {"memory_mb": 512, "max_days": 1}})
    stops = {"max_days": 1, "max_extra_cost_usd": 0.1}
    again = MEMORY.model_copy(update={"proposed": {"memory_mb": 530, **stops}})
    out = _in_turn([again, PC], waiting=[], in_flight=[], refused=[said_no])
    assert [(r.id, r.kind) for r in out] == [("memory", "keep"), ("pc", "provisioned_concurrency")]
    assert out[0].reason.summary.startswith(
        "Keep: a person rejected a trial at 512 MB (asked for on 2026-11-02); it is not asked for again "
        "until 2026-12-02."
    ), out[0].reason.summary
    # a size further away, or on the other side of the size in force, is a new question
    for size in (384, 1280):
        other = MEMORY.model_copy(update={"proposed": {"memory_mb": size}})
        out = _in_turn([other], waiting=[], in_flight=[], refused=[said_no])
        assert [r.kind for r in out] == ["experiment"], size
    # an ask that expired unanswered is asked again, behind the other change
    expired = said_no.model_copy(update={"status": "EXPIRED"})
    out = _in_turn([again, PC], waiting=[], in_flight=[], refused=[expired])
    assert [(r.id, r.kind) for r in out] == [("memory", "keep"), ("pc", "provisioned_concurrency")]
    assert out[0].reason.summary.startswith("Keep for now: the change of orders:live (pc 20 → 5) goes first")
