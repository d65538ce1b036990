"""What one agent cycle costs in AWS charges, at list prices (us-east-1), so it can be set against savings.

Prices are data with an as-of date; pass another `SelfCostPrices` for other regions or negotiated rates.
Lambda control-plane calls (ListFunctions, GetFunction, ...) and SNS at the agent's volume are free or
negligible and have no line.
"""

from __future__ import annotations

from dataclasses import dataclass

GB = 1024**3


@dataclass(frozen=True)
class SelfCostPrices:
    as_of: str = "2026-01"
    region: str = "us-east-1"
    get_metric_data_per_metric: float = 0.01 / 1_000  # GetMetricData: $0.01 per 1,000 metrics requested
    insights_per_gb_scanned: float = 0.005  # Logs Insights: $0.005 per GB scanned
    lambda_gb_s: float = 0.0000133334  # the agent's own duration (it runs on arm64; tier 1)
    lambda_request: float = 0.20 / 1_000_000
    dynamodb_write: float = 1.25 / 1_000_000  # on-demand write request units
    dynamodb_read: float = 0.25 / 1_000_000  # on-demand read request units


LIST_PRICES = SelfCostPrices()


@dataclass(frozen=True)
class CycleUsage:
    metrics_requested: int = 0  # MetricDataQueries sent (each query is one "metric requested")
    insights_bytes_scanned: float = 0.0
    agent_memory_mb: int = 2048  # the template's default
    agent_run_s: float = 0.0
    dynamodb_writes: int = 0
    dynamodb_reads: int = 0


def cycle_cost_usd(usage: CycleUsage, prices: SelfCostPrices = LIST_PRICES) -> float:
    """Dollars one cycle costs: metrics requested, bytes Insights scanned, the agent's GB-s, state I/O."""
    if usage.metrics_requested < 0 or usage.insights_bytes_scanned < 0 or usage.agent_run_s < 0:
        raise ValueError(f"usage must not be negative: {usage}")
    return (
        usage.metrics_requested * prices.get_metric_data_per_metric
        + usage.insights_bytes_scanned / GB * prices.insights_per_gb_scanned
        + usage.agent_memory_mb / 1024 * usage.agent_run_s * prices.lambda_gb_s
        + prices.lambda_request
        + usage.dynamodb_writes * prices.dynamodb_write
        + usage.dynamodb_reads * prices.dynamodb_read
    )


def monthly_cost_usd(cycle_cost: float, cycles_per_day: float = 1.0) -> float:
    """Per month (30.4 days) at the schedule; the default schedule is one cycle a day."""
    return cycle_cost * cycles_per_day * 30.4
