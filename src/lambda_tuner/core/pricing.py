"""The AWS Lambda price table as data: region- and architecture-keyed, dated, overridable.

Source: shared/reference/pricing.md (us-east-1 list prices, 2025–2026). Prices never appear as literals
elsewhere: cost functions take a `PriceTable`. Users override it (another region, negotiated rates, a
Savings Plans discount) with a partial dict or JSON text merged over the default.
No numpy here: the approval and apply functions import this module without it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import Field, model_validator

from lambda_tuner.core.models import Arch, Frozen


class DurationTier(Frozen):
    """One step of the monthly duration tiers: `up_to_gb_s` is the cumulative upper bound (None = open)."""

    up_to_gb_s: float | None = Field(default=None, gt=0)
    usd_per_gb_s: float = Field(ge=0)


class ArchPrices(Frozen):
    duration_tiers: tuple[DurationTier, ...] = Field(min_length=1)
    pc_allocated_usd_per_gb_s: float = Field(ge=0)
    pc_duration_usd_per_gb_s: float = Field(ge=0)

    @model_validator(mode="after")
    def _tiers_ascend(self) -> ArchPrices:
        bounds = [t.up_to_gb_s for t in self.duration_tiers]
        if bounds[-1] is not None or any(b is None for b in bounds[:-1]):
            raise ValueError("only the last duration tier may be open-ended, and it must be")
        finite = [b for b in bounds if b is not None]
        if finite != sorted(finite):
            raise ValueError("duration tier bounds must ascend")
        return self


class PriceTable(Frozen):
    region: str = "us-east-1"
    as_of: date = date(2026, 1, 1)
    currency: str = "USD"
    request_usd_per_million: float = Field(default=0.20, ge=0)
    ephemeral_usd_per_gb_s: float = Field(default=0.0000000309, ge=0)  # storage above 512 MB
    archs: dict[Arch, ArchPrices]
    free_tier_requests: int = Field(default=1_000_000, ge=0)
    free_tier_gb_s: float = Field(default=400_000, ge=0)  # x86_64 and arm64 combined
    # Compute Savings Plans: a fraction off duration (including INIT) and provisioned concurrency.
    discount: float = Field(default=0.0, ge=0.0, lt=1.0)

    def for_arch(self, arch: Arch) -> ArchPrices:
        if arch not in self.archs:
            raise ValueError(f"price table {self.region} has no prices for architecture {arch!r}")
        return self.archs[arch]

    def tier1_usd_per_gb_s(self, arch: Arch) -> float:
        """The flat marginal duration rate of an account below the first tier bound, after discount."""
        return self.for_arch(arch).duration_tiers[0].usd_per_gb_s * (1.0 - self.discount)


_DEFAULT: dict[str, Any] = {
    "region": "us-east-1",
    "as_of": "2026-01-01",
    "archs": {
        "x86_64": {
            "duration_tiers": [
                {"up_to_gb_s": 6e9, "usd_per_gb_s": 0.0000166667},
                {"up_to_gb_s": 15e9, "usd_per_gb_s": 0.0000150000},
                {"up_to_gb_s": None, "usd_per_gb_s": 0.0000133334},
            ],
            "pc_allocated_usd_per_gb_s": 0.0000041667,
            "pc_duration_usd_per_gb_s": 0.0000097222,
        },
        "arm64": {
            "duration_tiers": [
                {"up_to_gb_s": 7.5e9, "usd_per_gb_s": 0.0000133334},
                {"up_to_gb_s": 18.75e9, "usd_per_gb_s": 0.0000120001},
                {"up_to_gb_s": None, "usd_per_gb_s": 0.0000106667},
            ],
            "pc_allocated_usd_per_gb_s": 0.0000033334,
            "pc_duration_usd_per_gb_s": 0.0000077778,
        },
    },
}


def default_prices() -> PriceTable:
    """us-east-1 list prices as published in 2025–2026."""
    return PriceTable.model_validate(_DEFAULT)


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_prices(
    override: Mapping[str, Any] | str | None = None, base: PriceTable | None = None
) -> PriceTable:
    """The default (or `base`) table with `override` merged over it; JSON text is accepted too.

    Nested mappings merge key by key (e.g. `{"archs": {"arm64": {"pc_allocated_usd_per_gb_s": ...}}}`);
    lists such as `duration_tiers` replace the whole list. Bad input raises ValueError naming the field.
    """
    table = base or default_prices()
    if override is None:
        return table
    if isinstance(override, str):
        try:
            parsed = json.loads(override)
        except json.JSONDecodeError as exc:
            raise ValueError(f"price override is not valid JSON: {exc}") from exc
        if not isinstance(parsed, dict):
            raise ValueError("price override must be a JSON object")
        override = parsed
    return PriceTable.model_validate(_merge(table.model_dump(mode="json"), override))
