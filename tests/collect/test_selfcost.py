"""The cycle's own AWS cost at list prices, checked against hand arithmetic."""

from __future__ import annotations

import pytest

from lambda_tuner.core.selfcost import LIST_PRICES, CycleUsage, cycle_cost_usd, monthly_cost_usd


def test_each_line_of_the_cost_is_priced_as_the_table_says():
    usage = CycleUsage(
        metrics_requested=100_000,
        insights_bytes_scanned=2 * 1024**3,
        agent_memory_mb=2048,
        agent_run_s=300,
        dynamodb_writes=1_000_000,
        dynamodb_reads=4_000_000,
    )
    # $1.00 metrics + $0.01 Insights + 2 GB x 300 s x $0.0000133334 (arm64) + one request + $1.25 + $1.00
    expected = 1.0 + 0.01 + 600 * 0.0000133334 + 0.2e-6 + 1.25 + 1.0
    assert cycle_cost_usd(usage) == pytest.approx(expected)
    assert LIST_PRICES.as_of  # prices carry the date they were read


def test_a_daily_schedule_costs_a_month_of_cycles():
    assert monthly_cost_usd(0.5) == pytest.approx(15.2)
    assert monthly_cost_usd(0.5, cycles_per_day=24) == pytest.approx(0.5 * 24 * 30.4)


def test_negative_usage_is_refused():
    with pytest.raises(ValueError, match="must not be negative"):
        cycle_cost_usd(CycleUsage(metrics_requested=-1))
