"""PC levels per hour of the week -> Application Auto Scaling scheduled actions (cron, time zone).

Each action sets min = max = the level from that hour on, until the next action. Actions that fall at
the same hour with the same level on several days become one cron expression (`MON-FRI`).
A within-hour plan (a level per 5-minute block, the same every hour) becomes one action per change,
each running every hour at its minute (`cron(55 * * * ? *)`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lambda_tuner.core.models import PcScheduledAction
from lambda_tuner.core.pc_objective import DAYS

HOURS_PER_WEEK = 168


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}: use an IANA name such as 'Europe/Berlin'") from None


def local_hour_of_week(at: datetime, tz: str) -> int:
    """Monday 00:00–00:59 local time is 0, Sunday 23:00–23:59 is 167."""
    if at.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    local = at.astimezone(zone(tz))
    return local.weekday() * 24 + local.hour


def weekly_levels(levels: Sequence[int]) -> tuple[int, ...]:
    """A day's 24 levels repeat on every day; a week's 168 are kept as they are."""
    if len(levels) == 24:
        return tuple(levels) * 7
    if len(levels) != HOURS_PER_WEEK:
        raise ValueError(f"a schedule has 24 or 168 hourly levels, got {len(levels)}")
    return tuple(levels)


def scheduled_actions(
    levels: Sequence[int], tz: str, prefix: str = "lambda-tuner-pc"
) -> tuple[PcScheduledAction, ...]:
    """The actions that reproduce `levels` (24 or 168 hourly values); none when the level never changes."""
    zone(tz)
    week = weekly_levels(levels)
    if any(v < 0 for v in week):
        raise ValueError("PC levels must not be negative")
    changes: dict[tuple[int, int], list[int]] = {}  # (hour of day, level) -> days
    for how, level in enumerate(week):
        if level != week[how - 1]:  # how - 1 wraps to Sunday 23:00 for Monday 00:00
            day, hour = divmod(how, 24)
            changes.setdefault((hour, level), []).append(day)
    actions = [
        PcScheduledAction(
            name=f"{prefix}-{_days_name(days)}-{hour:02d}00",
            schedule=f"cron(0 {hour} ? * {cron_days(days)} *)",
            timezone=tz,
            capacity=level,
        )
        for (hour, level), days in changes.items()
    ]
    return tuple(sorted(actions, key=lambda a: a.name))


def cron_days(days: Sequence[int]) -> str:
    """0..6 (Monday first) as cron day-of-week text: `*`, `MON-FRI`, `SAT,SUN`, `MON,WED-FRI`."""
    ds = sorted(set(days))
    if ds == list(range(7)):
        return "*"
    parts, run = [], [ds[0]]
    for d in ds[1:]:
        if d == run[-1] + 1:
            run.append(d)
            continue
        parts.append(run)
        run = [d]
    parts.append(run)
    # cron counts SUN as day 1, so a Monday-first run ending on Sunday would wrap (SAT-SUN): split it
    split = [p for r in parts for p in ([r[:-1], [6]] if len(r) > 1 and r[-1] == 6 else [r])]
    return ",".join(DAYS[r[0]] if len(r) == 1 else f"{DAYS[r[0]]}-{DAYS[r[-1]]}" for r in split)


def _days_name(days: Sequence[int]) -> str:
    return cron_days(days).replace("*", "daily").replace(",", "_").lower()


def schedule_json(actions: Sequence[PcScheduledAction]) -> str:
    """Compact JSON for `Recommendation.proposed["pc_schedule"]`."""
    return json.dumps(
        [{"schedule": a.schedule, "tz": a.timezone, "pc": a.capacity} for a in actions], separators=(",", ":")
    )


def describe(levels: Sequence[int], tz: str) -> str:
    """'8 from 08:00 MON-FRI, 0 from 18:00 MON-FRI (Europe/Berlin)'-style text for a person."""
    actions = scheduled_actions(levels, tz)
    if not actions:
        return f"{weekly_levels(levels)[0]} at all hours"
    steps = sorted(actions, key=lambda a: (a.schedule.split()[1].zfill(2), a.name))
    return ", ".join(f"{a.capacity} from {_at(a)}" for a in steps) + f" ({tz})"


def _at(action: PcScheduledAction) -> str:
    _, hour, _, _, days, _ = action.schedule.removeprefix("cron(").removesuffix(")").split()
    return f"{int(hour):02d}:00 {'daily' if days == '*' else days}"


def within_hour_actions(
    block_levels: Sequence[int], tz: str, prefix: str = "lambda-tuner-pc"
) -> tuple[PcScheduledAction, ...]:
    """Every-hour actions reproducing one level per block of the hour; none when the level never changes."""
    zone(tz)
    if not block_levels or 60 % len(block_levels) or any(v < 0 for v in block_levels):
        raise ValueError(f"a within-hour plan needs non-negative levels dividing the hour: {block_levels}")
    step = 60 // len(block_levels)
    return tuple(
        PcScheduledAction(
            name=f"{prefix}-hourly-{b * step:02d}",
            schedule=f"cron({b * step} * * * ? *)",
            timezone=tz,
            capacity=level,
        )
        for b, level in enumerate(block_levels)
        if level != block_levels[b - 1]  # b - 1 wraps to the last block of the previous hour
    )


def describe_within_hour(block_levels: Sequence[int], tz: str) -> str:
    """'20 from :55 to :05, 0 otherwise, every hour (UTC)': the spans above the lowest level, in order."""
    actions = within_hour_actions(block_levels, tz)
    if not actions:
        return f"{block_levels[0]} at all hours"
    low = min(block_levels)
    starts = [int(a.schedule.removeprefix("cron(").split()[0]) for a in actions]
    spans = [
        f"{a.capacity} from :{start:02d} to :{starts[(i + 1) % len(starts)]:02d}"
        for i, (a, start) in enumerate(zip(actions, starts, strict=True))
        if a.capacity != low
    ]
    return ", ".join(spans) + f", {low} otherwise, every hour ({tz})"


def plan_of(actions: Sequence[PcScheduledAction], tz: str) -> tuple[str, tuple[int, ...]] | None:
    """The plan the agent's own actions carry out, read back from them: ("week", 168 hourly levels) from
    `scheduled_actions`, ("hour", one level per 5-minute block) from `within_hour_actions`. None for
    anything else: another time zone than `tz`, another form, or a mix of the two."""
    points = [_change_of(a) if a.timezone == tz else None for a in actions]
    forms = {p[0] for p in points if p is not None}
    if not points or None in points or len(forms) != 1:
        return None
    changes = {slot: level for p in points if p is not None for slot, level in p[1].items()}
    form = forms.pop()
    return form, _filled(changes, HOURS_PER_WEEK if form == "week" else 60 // BLOCK_MIN)


BLOCK_MIN = 5  # within_hour_actions' blocks


def _change_of(action: PcScheduledAction) -> tuple[str, dict[int, int]] | None:
    """Where one of the agent's actions changes the level: ("week", {hour of week: level}) or ("hour",
    {block of the hour: level}); None for a cron expression of another form."""
    fields = action.schedule.removeprefix("cron(").removesuffix(")").split()
    if len(fields) != 6:
        return None
    minute, hour, dom, month, dow, year = fields
    if (hour, dom, month, dow, year) == ("*", "*", "*", "?", "*") and minute.isdigit():
        at = int(minute)
        return ("hour", {at // BLOCK_MIN: action.capacity}) if at % BLOCK_MIN == 0 and at < 60 else None
    weekly = minute == "0" and hour.isdigit() and int(hour) < 24 and (dom, month, year) == ("?", "*", "*")
    days = _cron_day_numbers(dow) if weekly else None
    return None if days is None else ("week", {day * 24 + int(hour): action.capacity for day in days})


def _cron_day_numbers(dow: str) -> list[int] | None:
    if dow == "*":
        return list(range(7))
    out: list[int] = []
    for part in dow.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            return None
        out += range(DAYS.index(first), DAYS.index(last or first) + 1)
    return out


def _filled(changes: dict[int, int], n: int) -> tuple[int, ...]:
    """Levels over `n` slots from the slots where the level changes, wrapping round from the last."""
    level = changes[max(changes)]
    out = []
    for slot in range(n):
        level = changes.get(slot, level)
        out.append(level)
    return tuple(out)
