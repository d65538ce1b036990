"""Every billing rule of shared/reference/pricing.md, against cases computed by hand."""

from __future__ import annotations

import pytest

from lambda_tuner.core.cost import (
    MONTH_DAYS,
    MonthlyUsage,
    billed_ms,
    expected_billed_ms,
    invocation_cost,
    marginal_duration_rate,
    monthly,
    monthly_bill,
    pc_allocation_cost,
    tiered_duration_cost,
)
from lambda_tuner.core.pricing import default_prices, load_prices

PRICES = default_prices()
X86 = 0.0000166667
ARM = 0.0000133334
REQ = 0.20 / 1e6


def test_the_default_table_is_us_east_1_with_an_as_of_date_and_both_architectures():
    assert PRICES.region == "us-east-1"
    assert PRICES.as_of.year == 2026
    assert PRICES.tier1_usd_per_gb_s("x86_64") == X86
    assert PRICES.tier1_usd_per_gb_s("arm64") == ARM


def test_a_single_duration_is_billed_rounded_up_to_the_next_millisecond():
    assert billed_ms(10.01) == 11
    assert billed_ms(10.0) == 10


def test_a_duration_distribution_is_billed_half_a_millisecond_above_its_mean():
    assert expected_billed_ms(100.0) == 100.5


def test_one_invocation_costs_the_request_fee_plus_gb_seconds_at_the_tier_1_rate():
    # 1024 MB = 1 GB, 99.2 ms billed as 100 ms = 0.1 GB-s
    cost = invocation_cost(PRICES, "x86_64", 1024, 99.2, distribution=False)
    assert cost == pytest.approx(REQ + 0.1 * X86, rel=1e-12)


def test_gb_is_memory_over_1024_and_arm64_uses_its_own_rate():
    # 512 MB = 0.5 GB, mean 199.5 ms -> expected billed 200 ms = 0.1 GB-s
    cost = invocation_cost(PRICES, "arm64", 512, 199.5)
    assert cost == pytest.approx(REQ + 0.5 * 0.2 * ARM, rel=1e-12)


def test_init_is_billed_on_the_cold_start_fraction_of_invocations():
    # 2 % cold starts x 299.5 ms init (300 ms billed) at 2 GB
    warm = invocation_cost(PRICES, "x86_64", 2048, 99.5)
    cold = invocation_cost(PRICES, "x86_64", 2048, 99.5, cold_start_rate=0.02, init_ms=299.5)
    assert cold - warm == pytest.approx(0.02 * 2 * 0.3 * X86, rel=1e-9)


def test_ephemeral_storage_is_billed_only_above_512_mb():
    # 1536 MB ephemeral = 1 GB above the free 512, for 0.1 s billed
    base = invocation_cost(PRICES, "x86_64", 1024, 99.5)
    with_storage = invocation_cost(PRICES, "x86_64", 1024, 99.5, ephemeral_mb=1536)
    assert with_storage - base == pytest.approx(1 * 0.1 * 0.0000000309, rel=1e-9)
    assert invocation_cost(PRICES, "x86_64", 1024, 99.5, ephemeral_mb=512) == base


def test_invocations_served_by_provisioned_concurrency_use_the_pc_duration_rate_and_no_init():
    cost = invocation_cost(PRICES, "x86_64", 1024, 999.5, pc_served=True, cold_start_rate=1.0, init_ms=500)
    assert cost == pytest.approx(REQ + 1.0 * 0.0000097222, rel=1e-9)


def test_pc_allocation_is_billed_in_whole_5_minute_increments():
    # 2 units x 0.5 GB for 301 s -> billed 600 s
    assert pc_allocation_cost(PRICES, "x86_64", 512, 2, 301) == pytest.approx(2 * 0.5 * 600 * 0.0000041667)
    assert pc_allocation_cost(PRICES, "arm64", 1024, 1, 300) == pytest.approx(300 * 0.0000033334)


def test_tiers_aggregate_the_accounts_monthly_gb_seconds():
    # 10 B GB-s of x86: 6 B at tier 1 plus 4 B at tier 2
    assert tiered_duration_cost(PRICES, "x86_64", 10e9) == pytest.approx(6e9 * X86 + 4e9 * 0.000015)
    # 20 B GB-s of arm64: 7.5 B + 11.25 B + 1.25 B
    expected = 7.5e9 * ARM + 11.25e9 * 0.0000120001 + 1.25e9 * 0.0000106667
    assert tiered_duration_cost(PRICES, "arm64", 20e9) == pytest.approx(expected)


def test_the_marginal_rate_depends_on_the_accounts_total():
    assert marginal_duration_rate(PRICES, "x86_64", 1e9) == X86
    assert marginal_duration_rate(PRICES, "x86_64", 7e9) == 0.000015
    assert marginal_duration_rate(PRICES, "x86_64", 16e9) == 0.0000133334


def test_the_free_tier_covers_1m_requests_and_400k_gb_s_shared_by_both_architectures():
    usage = MonthlyUsage(requests=3e6, x86_gb_s=300_000, arm_gb_s=300_000)
    # 2 M paid requests; 400k GB-s free taken from x86 first: 0 x86 + 200k arm GB-s paid
    expected = 2e6 * REQ + 200_000 * ARM
    assert monthly_bill(PRICES, usage, free_tier=True) == pytest.approx(expected)
    assert monthly_bill(PRICES, usage) == pytest.approx(3e6 * REQ + 300_000 * X86 + 300_000 * ARM)


def test_requests_of_pc_enabled_functions_get_no_free_tier():
    usage = MonthlyUsage(requests=0, pc_requests=500_000)
    assert monthly_bill(PRICES, usage, free_tier=True) == pytest.approx(500_000 * REQ)


def test_a_savings_plan_discount_applies_to_duration_and_pc_but_not_to_requests():
    discounted = load_prices({"discount": 0.17})
    cost = invocation_cost(discounted, "x86_64", 1024, 999.5)
    assert cost == pytest.approx(REQ + 1.0 * X86 * 0.83, rel=1e-9)
    assert pc_allocation_cost(discounted, "x86_64", 1024, 1, 300) == pytest.approx(300 * 0.0000041667 * 0.83)
    assert tiered_duration_cost(discounted, "x86_64", 1e6) == pytest.approx(1e6 * X86 * 0.83)


def test_a_month_is_30_4375_days():
    assert MONTH_DAYS == 30.4375
    assert monthly(2.0) == 60.875


def test_a_user_override_merges_over_the_default_table():
    table = load_prices('{"region": "me-south-1", "request_usd_per_million": 0.25}')
    assert table.region == "me-south-1"
    assert invocation_cost(table, "arm64", 1024, 0.0, distribution=False) == pytest.approx(0.25 / 1e6)
    assert table.tier1_usd_per_gb_s("arm64") == ARM  # untouched keys keep their default


@pytest.mark.parametrize(
    "override",
    ['{"discount": 1.5}', "not json", '{"archs": {"x86_64": {"pc_allocated_usd_per_gb_s": -1}}}', "[1]"],
)
def test_a_bad_override_is_refused_with_a_clear_error(override):
    with pytest.raises(ValueError):
        load_prices(override)


def test_a_negative_duration_or_bad_cold_start_rate_is_refused():
    with pytest.raises(ValueError):
        billed_ms(-1)
    with pytest.raises(ValueError):
        invocation_cost(PRICES, "x86_64", 1024, 10, cold_start_rate=1.5)
