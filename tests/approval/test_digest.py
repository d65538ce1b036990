"""The digest email: actionable in ten seconds, silent when there is nothing to act on."""

from __future__ import annotations

from approval_support import NOW, make_rec

from lambda_tuner.core.digest import DIGEST_MAX_BYTES, render_digest, render_digests
from lambda_tuner.core.models import Interval, Reason

HEAD = "ab" * 32
LINKS = {"approve": "https://u/?token=A", "reject": "https://u/?token=R"}


def test_nothing_actionable_gives_no_digest() -> None:
    keep = make_rec(rec_id="k", kind="keep", status="RECORDED", proposed={})
    assert render_digest([keep], {}, HEAD, NOW) is None


def test_a_pending_change_shows_function_sizes_saving_latency_reason_and_both_links() -> None:
    rec = make_rec()
    subject, body = render_digest([rec], {rec.id: LINKS}, HEAD, NOW)  # type: ignore[misc]
    assert "1 change(s) to approve" in subject and "$18.00" in subject
    assert "orders-api: memory 1024 → 512 MB" in body
    assert "saves $18.00/month (90%: $14.50 to $21.00)" in body
    assert "p99 +20 ms" in body
    assert "Why: cost strategy within p99 objective" in body  # what decided it, not the summary again
    assert "Approve: https://u/?token=A" in body and "Reject:  https://u/?token=R" in body
    assert f"Audit chain head: {HEAD}" in body


def test_why_names_the_deciding_constraint_in_words_for_memory_and_the_summary_for_other_kinds() -> None:
    memory = make_rec(
        reason=Reason(
            summary="Change memory 1024 → 512 MB: saves", observed="o", model="m", decided_by="p99 allowance"
        )
    )
    pc = make_rec(rec_id="pc", kind="provisioned_concurrency", proposed={"pc": 2}, current={"pc": 5})
    _, body = render_digest([memory, pc], {memory.id: LINKS, pc.id: LINKS}, HEAD, NOW)  # type: ignore[misc]
    assert "Why: a cheaper size would make p99 worse than now by more than the allowed fraction" in body
    assert "Why: Change memory" not in body
    assert "Why: orders-api uses 31 %" in body  # the PC change's own summary


def test_a_pending_change_without_links_is_not_offered_for_approval() -> None:
    assert render_digest([make_rec()], {}, HEAD, NOW) is None


def test_applied_failed_and_advice_each_get_a_short_section() -> None:
    applied = make_rec(rec_id="a", function="auto-fn", status="APPLIED")
    failed = make_rec(rec_id="f", function="broken-fn", status="FAILED")
    advice = make_rec(rec_id="v", function="x86-fn", kind="arm64_advice", status="RECORDED", proposed={})
    keep = make_rec(rec_id="k", function="fine-fn", kind="keep", status="RECORDED", proposed={})
    subject, body = render_digest([applied, failed, advice, keep], {}, HEAD, NOW)  # type: ignore[misc]
    assert "1 applied" in subject and "1 failed/rolled back" in subject
    assert "Applied automatically" in body and "auto-fn" in body
    assert "Failed or rolled back:\n- broken-fn" in body
    assert "Advice (no change made):\n- x86-fn" in body
    assert "Kept as is: 1 function(s) (fine-fn)" in body


def test_the_subject_is_short_ascii_for_sns() -> None:
    recs = [
        make_rec(
            rec_id=f"r{i}",
            function=f"fn-{i}" * 10,
            monthly_saving_usd=Interval(expected=1e6, low=1, high=2e6),
        )
        for i in range(30)
    ]
    subject, _ = render_digest(recs, {r.id: LINKS for r in recs}, HEAD, NOW)  # type: ignore[misc]
    assert len(subject) <= 100
    subject.encode("ascii")


def test_a_change_auto_mode_approved_and_is_applying_is_reported_as_applied() -> None:
    applying = make_rec(rec_id="a", function="auto-fn", status="APPROVED")
    subject, body = render_digest([applying], {}, HEAD, NOW)  # type: ignore[misc]
    assert "1 applied" in subject and "auto-fn: memory 1024 → 512 MB" in body and "Approve:" not in body


def test_a_digest_too_large_for_one_sns_message_is_split_and_keeps_every_link() -> None:
    # Given 400 changes waiting, each with its own links (about 300 KB as one message)
    recs = [make_rec(rec_id=f"r{i}", function=f"fn-{i:03d}") for i in range(400)]
    pad = "x" * 230  # a real token is about 230 characters
    links = {
        r.id: {"approve": f"https://u/?token={pad}A{r.id}", "reject": f"https://u/?token={pad}R"}
        for r in recs
    }
    assert len(render_digest(recs, links, HEAD, NOW)[1].encode()) > DIGEST_MAX_BYTES  # type: ignore[index]
    # When it is rendered for SNS, then it comes in parts, each under the limit and marked [n/k]
    parts = render_digests(recs, links, HEAD, NOW)
    assert len(parts) >= 2
    assert all(len(body.encode()) <= DIGEST_MAX_BYTES and len(subject) <= 100 for subject, body in parts)
    assert [subject.split("]")[0] for subject, _ in parts] == [
        f"[{n}/{len(parts)}" for n in range(1, len(parts) + 1)
    ]
    # And every change's approve link is in one of them, once
    bodies = "".join(body for _, body in parts)
    assert all(bodies.count(f"{pad}A{r.id}\n") == 1 for r in recs)


def test_a_digest_that_fits_is_one_message_as_before() -> None:
    rec = make_rec()
    assert render_digests([rec], {rec.id: LINKS}, HEAD, NOW) == [
        render_digest([rec], {rec.id: LINKS}, HEAD, NOW)
    ]


def test_an_auto_mode_change_asked_for_says_why_it_was_not_made() -> None:
    rec = make_rec()
    why = {rec.id: "outside the change window 02:00-03:00 UTC"}
    _, body = render_digest([rec], {rec.id: LINKS}, HEAD, NOW, asked_because=why)  # type: ignore[misc]
    assert "   Asked, not made automatically: outside the change window 02:00-03:00 UTC" in body
    _, plain = render_digest([rec], {rec.id: LINKS}, HEAD, NOW)  # type: ignore[misc]
    assert "Asked, not made" not in plain  # approve mode: a person decides every change anyway
