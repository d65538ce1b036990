"""The apply function's requests, checked at its edge: a request it could not carry out to the end, its
audit record included, is refused before anything is read or changed.

The audit refuses a time without a zone and DynamoDB an item over 400 KB, but only when the record is
written: after the change it records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import AwareDatetime, BaseModel, Field

from lambda_tuner.core.events import untimely

# Our callers send ids, function names and actors of a few dozen characters. A longer text would only
# fail later, when the audit record holding it outgrows DynamoDB's item, after the change it records.
MAX_TEXT = 256
Request = TypeVar("Request", bound=BaseModel)


class AlarmState(BaseModel):
    value: str


class Alarm(BaseModel):
    name: str = Field(alias="alarmName", max_length=MAX_TEXT)
    state: AlarmState


class AlarmEvent(BaseModel):
    """A rollback alarm's action (the fields of events/alarm.json the apply function reads)."""

    time: AwareDatetime
    alarm: Alarm = Field(alias="alarmData")


def checked(model: type[Request], event: dict[str, Any], max_age: timedelta | None = None) -> Request:
    """`event` as `model`, refused when one of its times has no zone, a text is longer than MAX_TEXT, or
    its `time` (what its records are dated) is further than `max_age` from the clock (None: no bound)."""
    request = model.model_validate(event)
    for name, value in request:
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError(
                f"{name} must carry its time zone (2026-11-26T09:16:03Z), not {value.isoformat()}"
            )
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise ValueError(f"{name} is {len(value)} characters long; at most {MAX_TEXT}")
        if name == "time" and (why := untimely(value, datetime.now(UTC), max_age)):
            raise ValueError(f"{why}; nothing was read or changed")
    return request


def an_object(event: object) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise ValueError(f"an apply function event is a JSON object, not {type(event).__name__}")
    return event
