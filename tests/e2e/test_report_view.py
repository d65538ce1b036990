"""`lambda-tuner report` and `run` show every decision a cycle took: a PC plan beside a memory change is
one of its own, in words a person reads, with what it costs when it costs more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from lambda_tuner.cli.demo_view import recommendations_table, wide_console
from lambda_tuner.cli.report import newest_per_function, report_page
from lambda_tuner.core.models import Interval, Reason, Recommendation

NOW = datetime(2026, 11, 2, 6, tzinfo=UTC)
DEARER = Interval(expected=-1.62, low=-3.51, high=0.16)


def rec(
    rid: str, kind: str, proposed: dict[str, int | float | str | None], **extra: object
) -> Recommendation:
    fields: dict[str, object] = {
        "id": rid,
        "function": "orders",
        "kind": kind,
        "created_at": NOW,
        "current": {"memory_mb": 1024, "pc": 10} if "pc" in proposed else {"memory_mb": 1024},
        "proposed": proposed,
        "reason": Reason(summary=f"summary of {rid}", observed="o", model="m", decided_by=""),
    }
    return Recommendation.model_validate(fields | extra)


def cycle() -> list[Recommendation]:
    return [
        rec("keep-old", "memory", {"memory_mb": 512}, created_at=NOW - timedelta(days=1), status="EXPIRED"),
        rec("mem", "memory", {"memory_mb": 2048}, monthly_saving_usd=DEARER),
        rec("pc", "provisioned_concurrency", {"pc": 0}, qualifier="live"),
        rec("arm", "arm64_advice", {}),
    ]


def test_the_report_shows_each_change_of_the_newest_cycle_and_its_advice_changes_first() -> None:
    shown = newest_per_function([*cycle(), rec("note", "keep", {"memory_mb": 1024})])
    assert [r.id for r in shown] == ["mem", "pc", "arm"]  # the older cycle and the note are not shown


def test_a_function_whose_newest_cycle_asked_nothing_shows_its_note() -> None:
    old = rec("old", "memory", {"memory_mb": 512}, created_at=NOW - timedelta(days=1), status="EXPIRED")
    assert [r.id for r in newest_per_function([old, rec("note", "keep", {"memory_mb": 1024})])] == ["note"]


def test_the_page_says_what_each_change_is_and_what_a_dearer_one_costs() -> None:
    page = report_page(newest_per_function(cycle()))
    pc = page.split("(alias live)")[1].split("</section>")[0]
    assert "pc 10 → 0" in pc and "None" not in pc
    assert "memory 1024 → 2048 MB" in page
    assert "costs $1.62/month more (90%: -$0.16 to $3.51)" in page and "$-" not in page


def test_the_table_gives_an_aliases_pc_plan_a_row_of_its_own() -> None:
    rows = [r.model_dump(mode="json") for r in cycle()[1:]]
    console = Console(width=200, record=True)
    console.print(recommendations_table(rows + rows))  # the demo's: first decisions only
    lines = [line for line in console.export_text().splitlines() if line.strip().startswith("orders")]
    assert len(lines) == 2  # the function's first memory decision, and the alias's PC beside it
    assert "1024 → 2048 MB" in lines[0] and "orders:live" in lines[1] and "PC 10 → 0" in lines[1], lines
    console = Console(width=200, record=True)
    console.print(recommendations_table(rows, first_only=False))
    lines = [line for line in console.export_text().splitlines() if line.strip().startswith("orders")]
    assert len(lines) == 3 and any("1024 → 2048 MB" in line for line in lines), lines


def test_piped_output_is_wide_enough_for_the_tables_unless_columns_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert wide_console().width == 160  # pytest captures stdout: not a terminal
    monkeypatch.setenv("COLUMNS", "100")
    assert wide_console().width == 100


def test_a_change_still_waiting_for_a_person_is_shown_beside_the_newer_cycle_holding_the_next() -> None:
    # Given a memory change asked for yesterday and not answered yet (its links last 72 hours), and
    # today's cycle, which did not ask for it twice and held the PC change behind it
    asked = rec("asked", "memory", {"memory_mb": 512}, created_at=NOW - timedelta(days=1), status="PENDING")
    held = rec("held", "keep", {"memory_mb": 1024, "pc": 10}, qualifier="live", status="RECORDED")
    arm = rec("arm", "arm64_advice", {}, status="RECORDED")
    # When the report picks what each function asks for
    shown = newest_per_function([asked, held, arm])
    # Then the change waiting for the person's answer is among it, first, not only today's advice
    assert [r.id for r in shown] == ["asked", "arm"]
    # and, where today's cycle asked nothing at all, beside its note
    assert [r.id for r in newest_per_function([asked, held])] == ["asked", "held"]


def test_a_long_latency_text_does_not_squeeze_the_reason_into_a_narrow_column() -> None:
    # Given arm64 advice, whose latency text is long, beside a change whose reason is long
    why = "exploration: untried 1760 MB is expected to beat the best guess 3008 MB by 23.4%, worth more"
    latency = "duration 83 ms → 66–99 ms (unknown until tried on arm64)"
    arm = rec("arm", "arm64_advice", {}, latency_effect=latency)
    reason = Reason(summary=why, observed="o", model="m", decided_by="")
    mem = rec("mem", "experiment", {"memory_mb": 1760}, reason=reason)
    console = Console(width=160, record=True)
    # When the table is printed 160 columns wide (piped output)
    rows = [arm.model_dump(mode="json"), mem.model_dump(mode="json")]
    console.print(recommendations_table(rows, first_only=False, width=console.width))
    lines = console.export_text().splitlines()
    # Then the reason reads in a few lines, not a word a line
    start = next(i for i, line in enumerate(lines) if "1024 → 1760 MB" in line)
    rest = [line for line in lines[start + 1 :] if line.strip()]
    assert len(rest) <= 2, "\n".join(lines)
    assert "beat the best guess" in " ".join(" ".join(lines[start : start + 3]).split()), "\n".join(lines)


def test_the_report_fits_160_columns_without_cutting_a_reason_short() -> None:
    # Given the rows `lambda-tuner report` showed for the e2e fleet (stored: no route)
    why = "Insufficient data: idle or billed under $1.00/month when last read (2026-11-03): read again"
    rows = [
        rec("note", "insufficient_data", {"memory_mb": 1024}, function="nightly-report",
            reason=Reason(summary=why, observed="o", model="m", decided_by="")),
        rec("mem", "memory", {"memory_mb": 1408}, current={"memory_mb": 1760},
            latency_effect="p99 116 → 117 ms (+1%)",
            monthly_saving_usd=Interval(expected=0.81, low=0.73, high=0.87)),
        rec("arm", "arm64_advice", {}, function="thumbnailer-resizer",
            latency_effect="duration 2,864 ms → 2,306–3,407 ms (unknown until tried on arm64)",
            monthly_saving_usd=Interval(expected=2.39, low=0.71, high=4.01)),
    ]
    console = Console(width=160, record=True)
    shown = [r.model_dump(mode="json") for r in rows]
    console.print(recommendations_table(shown, first_only=False, width=console.width))
    text = console.export_text()
    # Then no line passes the edge, and every word of each reason is there (wrapped, not cropped)
    assert max(len(line) for line in text.splitlines()) <= 160
    words = " ".join(text.split())
    assert all(word in words for word in why.split()), text
    assert "route" not in text  # stored recommendations carry no route: no empty column for it
