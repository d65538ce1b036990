"""Functions billed under the mark stay in the census but their detail series are not read (issue 3: the
agent must cost at most 1 % of what it finds)."""

from __future__ import annotations

import zlib
from datetime import timedelta
from typing import Any

from collect_helpers import NOW, run_collect

from lambda_tuner.adapters.inventory import is_due
from lambda_tuner.bench.lower_bound import CycleFacts, FunctionFacts, lower_bound
from lambda_tuner.twin.server import Twin

# 7 duration/error/throttle series + per-minute concurrency and invocations (every gated function in the
# small fleet has at least 600 calls in some hour, so provisioned concurrency is a question for it)
DETAIL_SERIES = 9


def without_quiet(state: dict[str, Any]) -> dict[str, Any]:
    functions = {n: {k: v for k, v in e.items() if k != "q"} for n, e in state["functions"].items()}
    return {**state, "functions": functions}


def test_a_function_billed_under_the_mark_is_watched_but_not_read_and_says_why(fresh: Twin) -> None:
    # Given a first cycle, which knows no durations yet and bounds every bill by the timeout
    first = run_collect(fresh)
    assert first.observations["json-info"].status == "ok"

    # When the next day runs with and without a $1/month mark
    day2 = NOW + timedelta(days=1)
    fresh.advance(day2)
    state = without_quiet(first.state)  # the census of every function is read (see the quiet census below)
    unmarked = run_collect(fresh, now=day2, state=state, min_monthly_bill_usd=0.0)
    marked = run_collect(fresh, now=day2, state=state)

    # Then the small functions (30 calls a minute of 20 ms: about $0.70 a month) are insufficient, saying why
    gated = {n for n, o in marked.observations.items() if o.reason and "under the $1.00/month" in o.reason}
    assert {"json-info", "shared-a", "shared-b", "shared-c", "shared-d"} <= gated
    assert "its mean duration" in (marked.observations["json-info"].reason or "")
    assert unmarked.observations["json-info"].status == "ok"
    # and functions with PC (checkout) or the agent's tags (cruncher, bad-tags) are read whatever their bill
    assert not gated & {"checkout", "cruncher", "bad-tags"}
    # and exactly their detail series were saved
    assert marked.stats.metric_queries == unmarked.stats.metric_queries - DETAIL_SERIES * len(gated)
    # and their log groups were not scanned, their watermarks kept for when they pass the mark
    assert marked.stats.insights_bytes_scanned < unmarked.stats.insights_bytes_scanned
    assert marked.state["logs"]["/custom/json-info"] == first.state["logs"]["/custom/json-info"]
    assert unmarked.state["logs"]["/custom/json-info"] > first.state["logs"]["/custom/json-info"]
    assert marked.stats.cost_usd < unmarked.stats.cost_usd


def test_a_function_the_agent_changed_is_read_whatever_its_bill(fresh: Twin) -> None:
    first = run_collect(fresh)
    day2 = NOW + timedelta(days=1)
    fresh.advance(day2)
    changed = {"json-info": [(day2 - timedelta(days=3), 1024)]}
    second = run_collect(fresh, now=day2, state=first.state, memory_history=changed)
    assert second.observations["json-info"].status == "ok"  # its change is being verified


def test_the_lower_bound_reads_details_only_for_functions_worth_reading() -> None:
    def fleet(bill: float, **kw: bool) -> list[FunctionFacts]:
        return [FunctionFacts(f"f{i}", active_hours=2, monthly_bill_usd=bill, **kw) for i in range(100)]

    day = CycleFacts(day=739_900, budget_calls=0)
    # 100 census series + 800 detail series = 900: two calls; census alone: one
    assert lower_bound(fleet(5.0), day).calls["cloudwatch.GetMetricData"] == 2
    assert lower_bound(fleet(0.5), day).calls["cloudwatch.GetMetricData"] == 1
    assert lower_bound(fleet(0.5, agent_tags=True), day).calls["cloudwatch.GetMetricData"] == 2
    assert lower_bound(fleet(0.5, cold_start_objective=True), day).calls["cloudwatch.GetMetricData"] == 2
    # and only log groups with a function worth reading are scanned
    def logged(bill: float) -> list[FunctionFacts]:
        return [FunctionFacts("g", active_hours=2, monthly_bill_usd=bill, log_group="/aws/lambda/g")]

    assert "logs.StartQuery" not in lower_bound(logged(0.5), day).calls
    assert lower_bound(logged(5.0), day).calls["logs.StartQuery"] == 1


def test_a_quiet_function_has_its_census_read_on_its_day_of_the_week_only(fresh: Twin) -> None:
    # Given a first cycle, which marks the functions it found idle or under the bill mark as quiet
    first = run_collect(fresh)
    functions = first.state["functions"]
    quiet = {n for n, e in functions.items() if "q" in e}
    assert {"json-info", "shared-a", "idle"} <= quiet
    assert not quiet & {"checkout", "cruncher", "bad-tags"}  # PC or the agent's tags: always read

    # When the next day runs, with and without those marks
    day2 = NOW + timedelta(days=1)
    fresh.advance(day2)
    marked = run_collect(fresh, now=day2, state=first.state)
    unmarked = run_collect(fresh, now=day2, state=without_quiet(first.state))

    # Then a quiet function not due today is not in the census, and says when it will be
    day = day2.date().toordinal()
    skipped = {n for n in quiet if not is_due(n, day, functions[n]["q"])}
    assert skipped  # the small fleet's quiet functions are not all due on the same day
    for name in skipped:
        assert "read again within 7 days" in (marked.observations[name].reason or "")
        assert marked.state["functions"][name]["q"] == functions[name]["q"]  # still waiting its turn
    for name in quiet - skipped:
        assert "read again within 7 days" not in (marked.observations[name].reason or "")
    # and it saved exactly their census series
    assert marked.stats.metric_queries == unmarked.stats.metric_queries - len(skipped)


def test_the_lower_bound_reads_a_quiet_census_only_when_due() -> None:
    names = [f"f{i}" for i in range(14)]
    fleet = [FunctionFacts(n) for n in names]
    day = 739_900
    quiet = dict.fromkeys(names, day - 1)
    due = sum(1 for n in names if zlib.crc32(n.encode()) % 7 == day % 7)
    # 14 census series either way fit one call; count the series through the rule's effect on points
    bound = lower_bound(fleet, CycleFacts(day=day, budget_calls=0, quiet_since=quiet))
    everyone = lower_bound(fleet, CycleFacts(day=day, budget_calls=0))
    assert everyone.calls["cloudwatch.GetMetricData"] == 1
    assert bound.calls.get("cloudwatch.GetMetricData", 0) == (1 if due else 0)
    week_later = lower_bound(fleet, CycleFacts(day=day + 6, budget_calls=0, quiet_since=quiet))
    assert week_later.calls["cloudwatch.GetMetricData"] == 1  # 7 days since: all due
