"""Application Auto Scaling scheduled actions for Lambda PC, carried out when the twin's clock moves.

moto only stores scheduled actions. On `Twin.advance` every action on `lambda:function:
ProvisionedConcurrency` that falls due in the elapsed interval sets the alias's PC to its MinCapacity
(in time order, at the time it fell due), as the schedule would through Auto Scaling. Schedules:
`at(...)`, `rate(N unit)` counted from StartTime (or the World's epoch), and six-field `cron(...)`
with `*`, `?`, lists, ranges, steps and month/day names, in the action's time zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from moto.applicationautoscaling.models import applicationautoscaling_backends

from lambda_tuner.twin.lambda_api import timestamp
from lambda_tuner.twin.lambda_pc import PcConfig
from lambda_tuner.twin.wire import Call, Reply, aws_error

if TYPE_CHECKING:
    from collections.abc import Iterator

    from lambda_tuner.twin.server import Twin

DIMENSION = "lambda:function:ProvisionedConcurrency"
MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    )
}
DAYS = {
    d: i + 1 for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])
}  # AWS cron: 1 = Sunday
MAX_DAYS = 400  # an advance longer than this evaluates only its last MAX_DAYS days of schedules


def apply_due_actions(twin: Twin, since: datetime, until: datetime) -> None:
    backend = applicationautoscaling_backends[twin.account][twin.region]
    due: list[tuple[datetime, str, str, int]] = []
    for action in backend.scheduled_actions:
        if action.scalable_dimension != DIMENSION:
            continue
        _, name, alias = str(action.resource_id).split(":", 2)
        target: Any = action.scalable_target_action or {}  # moto annotates it as str; it holds the dict
        level = int(target.get("MinCapacity", 0))
        due += [
            (t, name, alias, level)
            for t in fire_times(action, since, until, getattr(twin.world, "epoch", since))
        ]
    for at, name, alias, level in sorted(due):
        if name not in twin.lambdas.latest:
            continue
        if level > 0:
            twin.lambdas.pc[name, alias] = PcConfig(level, "READY", timestamp(twin))
        else:
            twin.lambdas.pc.pop((name, alias), None)
        if name in twin.world.specs:
            twin.world.set_pc(name, alias, level, at=at)


def fire_times(action: Any, since: datetime, until: datetime, epoch: datetime) -> list[datetime]:
    """When `action` fires in (since, until], within its StartTime/EndTime."""
    zone = ZoneInfo(action.timezone or "UTC")
    start, end = _bound(action.start_time), _bound(action.end_time)
    schedule = str(action.schedule).strip()
    kind, _, body = schedule.partition("(")
    body = body.rstrip(")")
    if kind == "at":
        times = [datetime.fromisoformat(body).replace(tzinfo=zone).astimezone(UTC)]
    elif kind == "rate":
        times = list(_rate(body, start or epoch, since, until))
    elif kind == "cron":
        times = list(_cron(body, zone, since, until))
    else:
        raise ValueError(f"unsupported schedule expression {schedule!r}")
    return [
        t for t in times if since < t <= until and (start is None or t >= start) and (end is None or t <= end)
    ]


def _bound(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _rate(body: str, origin: datetime, since: datetime, until: datetime) -> Iterator[datetime]:
    amount, unit = body.split()
    step = timedelta(**{unit.rstrip("s") + "s": int(amount)})
    k = max(0, int((since - origin) / step))
    t = origin + k * step
    while t <= until:
        yield t
        t += step


def _cron(body: str, zone: ZoneInfo, since: datetime, until: datetime) -> Iterator[datetime]:
    fields = body.split()
    if len(fields) != 6:
        raise ValueError(f"cron needs 6 fields (minutes hours day-of-month month day-of-week year): {body!r}")
    minutes, hours = _field(fields[0], 0, 59), _field(fields[1], 0, 23)
    doms, months = _field(fields[2], 1, 31), _field(fields[3], 1, 12, MONTHS)
    dows, years = _field(fields[4], 1, 7, DAYS), _field(fields[5], 1970, 2199)
    day = max(since, until - timedelta(days=MAX_DAYS)).astimezone(zone).date()
    last = until.astimezone(zone).date()
    while day <= last:
        dow = day.isoweekday() % 7 + 1
        if day.month in months and day.year in years and day.day in doms and dow in dows:
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    yield datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(UTC)
        day += timedelta(days=1)


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    if text in ("*", "?"):
        return set(range(low, high + 1))
    values: set[int] = set()
    for part in text.upper().split(","):
        base, _, step = part.partition("/")
        if base in ("*", ""):
            lo, hi = low, high
        elif "-" in base:
            lo, hi = (_value(x, names) for x in base.split("-", 1))
        else:
            lo = _value(base, names)
            hi = high if step else lo
        values |= set(range(lo, hi + 1, int(step) if step else 1))
    if not values or min(values) < low or max(values) > high:
        raise ValueError(f"cron field {text!r} is outside {low}-{high}")
    return values


def _value(token: str, names: dict[str, int] | None) -> int:
    if names and token in names:
        return names[token]
    if not re.fullmatch(r"\d+", token):
        raise ValueError(f"unsupported cron token {token!r} (L, W and # are not simulated)")
    return int(token)


def delete_scheduled_action(twin: Twin, call: Call) -> Reply:
    """AWS answers ObjectNotFoundException for an action that does not exist; moto deletes nothing and
    answers 200, which would hide a retried delete whose first attempt landed."""
    body = call.json()
    wanted = tuple(
        body.get(k) for k in ("ServiceNamespace", "ScheduledActionName", "ResourceId", "ScalableDimension")
    )
    backend = applicationautoscaling_backends[twin.account][twin.region]
    with twin.lock:
        found = any(
            (a.service_namespace, a.scheduled_action_name, a.resource_id, a.scalable_dimension) == wanted
            for a in backend.scheduled_actions
        )
    if not found:
        return aws_error(call, "ObjectNotFoundException", f"No scheduled action found for {wanted[1]}")
    return call.forward()


ROUTES = {"application-autoscaling.DeleteScheduledAction": delete_scheduled_action}
