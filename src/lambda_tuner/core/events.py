"""The one event shape the agent accepts: EventBridge's Scheduled Event.

A model of its own instead of Powertools' EventBridgeModel, whose module loads every event model it has
(about 200 ms of cold start for one field we need).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

FUTURE_SKEW = timedelta(minutes=5)  # a tick's time is when it fell due: not after the clock, but for skew


class MalformedEventError(ValueError):
    """The invocation's event is not a scheduled tick: no cycle ran."""


def untimely(time: datetime, wall: datetime, max_age: timedelta | None) -> str | None:
    """Why a tick's `time` cannot be a cycle's clock (None: it can).

    The cycle stamps every record with it and reads its look-back back from it, so a tick far from the
    wall clock would file a day's audit out of order (the audit read back from a time stops at records
    a day older than it, and would stop at these) and move the collector's watermarks back. That happens
    to a hand-made event: the console's sample Scheduled Event carries 1970-01-01. `max_age`: how late a
    real tick may run (its queue's maximum event age plus a margin); None: no bound, for a clock that is
    simulated (the twin's days)."""
    if max_age is None:
        return None
    stamp = time.isoformat().replace("+00:00", "Z")
    if time < wall - max_age:
        return f"event time {stamp} is older than {max_age} before now: a stale or hand-made event"
    if time > wall + FUTURE_SKEW:
        return f"event time {stamp} is ahead of now: a hand-made event"
    return None


class ScheduledEvent(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    time: AwareDatetime  # the tick's own time: the cycle's clock
    source: Literal["aws.events"]
    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
    id: str = ""
    account: str = ""
    region: str = ""
    resources: tuple[str, ...] = ()
    detail: dict[str, Any] = Field(default_factory=dict)

    @property
    def now(self) -> datetime:
        return self.time
