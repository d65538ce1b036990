"""REPORT rows of a log group shared with a function whose rows are not wanted (excluded here) are never
counted as the remaining owner's: only rows tied to it by memory size are."""

from __future__ import annotations

from collect_helpers import run_collect


def _report_calls(result, name):
    return sum(cell[0] for window in result.state["reports"].get(name, []) for cell in window["m"].values())


def test_an_excluded_neighbour_at_another_size_keeps_its_rows_and_the_owner_stays_ok(fresh):
    """shared-a (256 MB) and shared-b (512 MB) log to /shared/ab; shared-b is excluded."""
    together = run_collect(fresh)
    fresh.reset(fresh.world)
    alone = run_collect(fresh, exclude={"shared-b"})
    assert alone.observations["shared-a"].status == together.observations["shared-a"].status == "ok"
    assert _report_calls(alone, "shared-a") == _report_calls(together, "shared-a") > 0
    assert list(alone.state["reports"]["shared-a"][0]["m"]) == ["256"]


def test_an_excluded_neighbour_at_the_same_size_lends_the_owner_no_rows(fresh):
    """shared-c and shared-d both run at 1024 MB in /shared/cd: with shared-d excluded, shared-c's rows
    cannot be told from its neighbour's, so none are its own (before, it counted both: twice its calls)."""
    alone = run_collect(fresh, exclude={"shared-d"})
    assert _report_calls(alone, "shared-c") == 0
    assert any("/shared/cd is shared by shared-c, shared-d" in p for p in alone.stats.partial)
