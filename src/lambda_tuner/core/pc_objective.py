"""The per-function cold-start objective, read from the `cold-start-objective` tag.

It sets λ, the dollar value of one avoided cold start, which the PC planner trades against cost:
- absent, `cost` or `none` — cost only (λ = 0): PC only where it pays for itself (above 60 % utilisation);
- `usd-per-cold-start=0.01` — λ given directly;
- `max-rate=0.005` — the smallest λ whose plan keeps projected cold starts at or below 0.5 % of calls
  (a fraction of calls: a Lambda tag value cannot hold `%`; `0.5%` is read too, should one arrive);
- `none-in-business-hours` (optionally `=MON-FRI/08-18`) — no cold starts in business hours of the
  policy's time zone (a λ too large to trade against), cost only outside them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

ObjectiveKind = Literal["cost", "usd", "max_rate", "business_hours"]

MAX_RATE = 0.2  # a cold-start rate above this is no objective; as a fraction it reads like a per cent
DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
# One avoided cold start in business hours is worth more than any PC level that can be bought for it.
BUSINESS_HOURS_LAMBDA = 10.0
_BH = re.compile(r"(?P<d0>[A-Z]{3})-(?P<d1>[A-Z]{3})/(?P<h0>\d{1,2})-(?P<h1>\d{1,2})")


class ObjectiveError(ValueError):
    """The tag value cannot be read; the message says what is accepted."""


@dataclass(frozen=True)
class PcObjective:
    kind: ObjectiveKind = "cost"
    usd_per_cold_start: float = 0.0
    max_rate: float | None = None  # fraction of invocations, e.g. 0.005
    business_days: tuple[int, ...] = (0, 1, 2, 3, 4)  # Monday = 0
    business_hours: tuple[int, int] = (8, 18)  # [start, end) in local time
    source: str = ""

    def in_business_hours(self, hour_of_week: int) -> bool:
        day, hour = divmod(hour_of_week, 24)
        return day in self.business_days and self.business_hours[0] <= hour < self.business_hours[1]

    def lambdas(self, base: float) -> list[float]:
        """λ per hour of the week (Monday 00:00 local first) when the uniform λ is `base`."""
        if self.kind != "business_hours":
            return [base] * 168
        return [BUSINESS_HOURS_LAMBDA if self.in_business_hours(h) else base for h in range(168)]

    def describe(self) -> str:
        if self.kind == "usd":
            return f"one avoided cold start is worth ${self.usd_per_cold_start:g}"
        if self.kind == "max_rate":
            return f"cold starts at most {100 * (self.max_rate or 0):g} % of invocations"
        if self.kind == "business_hours":
            d0, d1 = DAYS[self.business_days[0]], DAYS[self.business_days[-1]]
            h0, h1 = self.business_hours
            return f"no cold starts {d0}–{d1} {h0:02d}:00–{h1:02d}:00"
        return "cost only (no value placed on cold starts)"


HELP = (
    "accepted: 'cost', 'usd-per-cold-start=<dollars>', 'max-rate=<fraction of calls>' (0 < f ≤ 0.2, "
    "0.005 for 0.5 %), "
    "'none-in-business-hours' or 'none-in-business-hours=MON-FRI/08-18'"
)


def parse_objective(value: str | None) -> PcObjective:
    """Read a tag value; raise ObjectiveError naming the accepted forms when it cannot be read."""
    text = (value or "").strip()
    if text.lower() in ("", "cost", "none"):
        return PcObjective(source=text)
    key, sep, arg = text.partition("=")
    key, arg = key.strip().lower(), arg.strip()
    if key == "usd-per-cold-start" and sep:
        usd = _number(arg, text)
        if usd < 0:
            raise ObjectiveError(f"cold-start objective {text!r}: dollars must not be negative; {HELP}")
        return PcObjective(kind="usd", usd_per_cold_start=usd, source=text)
    if key == "max-rate" and sep:
        percent = arg.endswith("%")
        rate = _number(arg.removesuffix("%"), text) / (100 if percent else 1)
        if not 0 < rate <= MAX_RATE:
            raise ObjectiveError(
                f"cold-start objective {text!r}: the rate is a fraction of calls above 0 and at most "
                f"{MAX_RATE:g} (a larger number reads like a per cent: 0.005 is 0.5 %); {HELP}"
            )
        return PcObjective(kind="max_rate", max_rate=rate, source=text)
    if key == "none-in-business-hours":
        return _business_hours(arg, text) if sep else PcObjective(kind="business_hours", source=text)
    raise ObjectiveError(f"cold-start objective {text!r} not understood; {HELP}")


def _number(arg: str, text: str) -> float:
    try:
        number = float(arg)
    except ValueError:
        raise ObjectiveError(f"cold-start objective {text!r}: {arg!r} is not a number; {HELP}") from None
    if not math.isfinite(number):
        raise ObjectiveError(f"cold-start objective {text!r}: {arg!r} is not a finite number; {HELP}")
    return number


def _business_hours(arg: str, text: str) -> PcObjective:
    match = _BH.fullmatch(arg.upper())
    if not match or match["d0"] not in DAYS or match["d1"] not in DAYS:
        raise ObjectiveError(f"cold-start objective {text!r}: expected e.g. MON-FRI/08-18; {HELP}")
    d0, d1 = DAYS.index(match["d0"]), DAYS.index(match["d1"])
    h0, h1 = int(match["h0"]), int(match["h1"])
    if d1 < d0 or not 0 <= h0 < h1 <= 24:
        raise ObjectiveError(f"cold-start objective {text!r}: days or hours out of order; {HELP}")
    return PcObjective(
        kind="business_hours", business_days=tuple(range(d0, d1 + 1)), business_hours=(h0, h1), source=text
    )
