"""Lambda cost as small pure functions over a `PriceTable` (rules: shared/reference/pricing.md).

Plain Python only (no numpy): the apply and approval functions use these too. Durations in ms, memory in
MB, GB = MB / 1024, duration billed in 1 ms increments. A month is 30.4375 days (365.25 / 12).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lambda_tuner.core.models import Arch
from lambda_tuner.core.pricing import PriceTable

MONTH_DAYS = 30.4375
SECONDS_PER_MONTH = MONTH_DAYS * 86_400
EPHEMERAL_FREE_MB = 512
PC_INCREMENT_S = 300  # provisioned concurrency is billed in 5-minute increments


def gb(memory_mb: float) -> float:
    return memory_mb / 1024.0


def billed_ms(duration_ms: float) -> int:
    """One invocation's billed duration: rounded up to the next whole millisecond."""
    if duration_ms < 0:
        raise ValueError(f"duration must be >= 0 ms, got {duration_ms}")
    return math.ceil(duration_ms)


def expected_billed_ms(mean_ms: float) -> float:
    """Expected billed ms of a duration *distribution* with this mean: rounding up adds 0.5 ms on average."""
    return mean_ms + 0.5


@dataclass(frozen=True)
class CostRates:
    """Per-unit rates after discount, for one architecture: what vectorised callers multiply by."""

    request_usd: float  # per request
    duration_usd_per_gb_ms: float  # on demand, tier-1 (flat marginal) rate; also INIT
    pc_duration_usd_per_gb_ms: float  # invocations served by provisioned concurrency
    pc_allocated_usd_per_gb_s: float
    ephemeral_usd_per_gb_ms: float


def cost_rates(prices: PriceTable, arch: Arch) -> CostRates:
    keep = 1.0 - prices.discount
    arch_prices = prices.for_arch(arch)
    return CostRates(
        request_usd=prices.request_usd_per_million / 1e6,
        duration_usd_per_gb_ms=prices.tier1_usd_per_gb_s(arch) / 1000.0,
        pc_duration_usd_per_gb_ms=arch_prices.pc_duration_usd_per_gb_s * keep / 1000.0,
        pc_allocated_usd_per_gb_s=arch_prices.pc_allocated_usd_per_gb_s * keep,
        ephemeral_usd_per_gb_ms=prices.ephemeral_usd_per_gb_s / 1000.0,
    )


def invocation_cost(
    prices: PriceTable,
    arch: Arch,
    memory_mb: float,
    mean_duration_ms: float,
    *,
    cold_start_rate: float = 0.0,
    init_ms: float = 0.0,
    ephemeral_mb: int = EPHEMERAL_FREE_MB,
    pc_served: bool = False,
    distribution: bool = True,
) -> float:
    """Expected USD of one invocation at the flat (tier-1) marginal rate.

    `distribution=True` treats `mean_duration_ms` as the mean of many invocations (expected ceil = mean
    + 0.5 ms); False bills this one duration rounded up. INIT is billed on the cold-start fraction of
    invocations (on-demand only: PC environments' INIT is part of the PC allocation). Ephemeral storage
    above 512 MB is billed for the billed duration.
    """
    if not 0.0 <= cold_start_rate <= 1.0:
        raise ValueError(f"cold_start_rate must be in [0, 1], got {cold_start_rate}")
    if memory_mb <= 0:
        raise ValueError(f"memory must be > 0 MB, got {memory_mb}")
    rates = cost_rates(prices, arch)
    billed = expected_billed_ms(mean_duration_ms) if distribution else float(billed_ms(mean_duration_ms))
    rate = rates.pc_duration_usd_per_gb_ms if pc_served else rates.duration_usd_per_gb_ms
    billed_init = expected_billed_ms(init_ms) if init_ms > 0 else 0.0
    init = 0.0 if pc_served else cold_start_rate * billed_init
    extra_gb = gb(max(0, ephemeral_mb - EPHEMERAL_FREE_MB))
    return (
        rates.request_usd
        + gb(memory_mb) * billed * rate
        + gb(memory_mb) * init * rates.duration_usd_per_gb_ms
        + extra_gb * billed * rates.ephemeral_usd_per_gb_ms
    )


def monthly(per_day: float) -> float:
    return per_day * MONTH_DAYS


def pc_allocation_cost(prices: PriceTable, arch: Arch, memory_mb: float, units: int, seconds: float) -> float:
    """Provisioned concurrency kept configured for `seconds`, rounded up to 5-minute increments."""
    if units < 0 or seconds < 0:
        raise ValueError("units and seconds must be >= 0")
    billed_s = math.ceil(seconds / PC_INCREMENT_S) * PC_INCREMENT_S
    return units * gb(memory_mb) * billed_s * cost_rates(prices, arch).pc_allocated_usd_per_gb_s


def tiered_duration_cost(prices: PriceTable, arch: Arch, monthly_gb_s: float) -> float:
    """USD for an account's whole monthly on-demand GB-s of one architecture, walking the tiers."""
    if monthly_gb_s < 0:
        raise ValueError("GB-s must be >= 0")
    total, lower = 0.0, 0.0
    for tier in prices.for_arch(arch).duration_tiers:
        upper = math.inf if tier.up_to_gb_s is None else tier.up_to_gb_s
        in_tier = max(0.0, min(monthly_gb_s, upper) - lower)
        total += in_tier * tier.usd_per_gb_s
        lower = upper
        if monthly_gb_s <= upper:
            break
    return total * (1.0 - prices.discount)


def marginal_duration_rate(prices: PriceTable, arch: Arch, account_monthly_gb_s: float) -> float:
    """USD per GB-s of one more GB-s, given the account's monthly total of this architecture."""
    for tier in prices.for_arch(arch).duration_tiers:
        if tier.up_to_gb_s is None or account_monthly_gb_s < tier.up_to_gb_s:
            return tier.usd_per_gb_s * (1.0 - prices.discount)
    raise AssertionError("unreachable: the last tier is open-ended")


@dataclass(frozen=True)
class MonthlyUsage:
    """One account's monthly on-demand usage, per architecture (PC-enabled functions listed apart)."""

    requests: float = 0.0
    x86_gb_s: float = 0.0
    arm_gb_s: float = 0.0
    pc_requests: float = 0.0  # requests of PC-enabled functions: never covered by the free tier


def monthly_bill(prices: PriceTable, usage: MonthlyUsage, *, free_tier: bool = False) -> float:
    """Requests plus tiered duration for an account's month; the free tier optional.

    The free tier's 400,000 GB-s are shared by x86_64 and arm64; they are taken from x86_64 first
    (its rate is higher, which is how a bill that credits the pooled allowance comes out cheapest).
    """
    free_requests = prices.free_tier_requests if free_tier else 0
    free_gb_s = prices.free_tier_gb_s if free_tier else 0.0
    x86_free = min(usage.x86_gb_s, free_gb_s)
    arm_free = min(usage.arm_gb_s, free_gb_s - x86_free)
    requests = max(0.0, usage.requests - free_requests) + usage.pc_requests
    return (
        requests * prices.request_usd_per_million / 1e6
        + tiered_duration_cost(prices, "x86_64", usage.x86_gb_s - x86_free)
        + tiered_duration_cost(prices, "arm64", usage.arm_gb_s - arm_free)
    )
