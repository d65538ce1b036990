"""The few prices the provisioned-concurrency policy needs, read from the one price table (`core.pricing`).

A flat view for vectorised scoring: tier-1 on-demand duration (the marginal rate of most accounts), PC
allocation and PC-served duration, the request fee, and the table's Savings Plans discount.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lambda_tuner.core.models import Arch
from lambda_tuner.core.pricing import PriceTable, default_prices


@dataclass(frozen=True)
class PcPrices:
    """USD prices; `discount` scales duration and PC (Compute Savings Plans give up to about 17 %)."""

    arch: Arch
    duration_gb_s: float  # on-demand duration (tier 1), also what INIT costs on a cold start
    pc_allocation_gb_s: float  # PC kept configured, used or not
    pc_duration_gb_s: float  # duration of invocations served by PC
    request: float = 0.20 / 1_000_000
    discount: float = 0.0

    def discounted(self, discount: float) -> PcPrices:
        if not 0.0 <= discount < 1.0:
            raise ValueError(f"discount must be in [0, 1), got {discount}")
        factor = 1.0 - discount
        return replace(
            self,
            duration_gb_s=self.duration_gb_s * factor,
            pc_allocation_gb_s=self.pc_allocation_gb_s * factor,
            pc_duration_gb_s=self.pc_duration_gb_s * factor,
            discount=discount,
        )

    @property
    def break_even_utilisation(self) -> float:
        """Utilisation above which PC is cheaper than on-demand on cost alone (0.600 at list prices)."""
        return self.pc_allocation_gb_s / (self.duration_gb_s - self.pc_duration_gb_s)


def pc_prices(arch: Arch = "x86_64", table: PriceTable | None = None) -> PcPrices:
    table = table or default_prices()
    rates = table.for_arch(arch)  # raises ValueError naming the architecture when the table lacks it
    keep = 1.0 - table.discount
    return PcPrices(
        arch=arch,
        duration_gb_s=table.tier1_usd_per_gb_s(arch),
        pc_allocation_gb_s=rates.pc_allocated_usd_per_gb_s * keep,
        pc_duration_gb_s=rates.pc_duration_usd_per_gb_s * keep,
        request=table.request_usd_per_million / 1_000_000,
        discount=table.discount,
    )
