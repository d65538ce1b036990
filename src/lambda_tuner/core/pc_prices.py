"""The few list prices the provisioned-concurrency policy needs, keyed by architecture.

Source: /work/shared/reference/pricing.md (us-east-1 list prices, 2025–2026). Kept here rather than in the
shared price table so the PC policy has no dependency on it; swap in the shared table when it exists.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lambda_tuner.core.models import Arch

PRICES_AS_OF = "2026-01"


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


PC_PRICES: dict[Arch, PcPrices] = {
    "x86_64": PcPrices("x86_64", 0.0000166667, 0.0000041667, 0.0000097222),
    "arm64": PcPrices("arm64", 0.0000133334, 0.0000033334, 0.0000077778),
}


def pc_prices(arch: Arch = "x86_64") -> PcPrices:
    try:
        return PC_PRICES[arch]
    except KeyError:
        raise ValueError(f"no PC prices for architecture {arch!r}; known: {sorted(PC_PRICES)}") from None
