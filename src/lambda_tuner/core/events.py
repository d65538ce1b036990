"""The one event shape the agent accepts: EventBridge's Scheduled Event.

A model of its own instead of Powertools' EventBridgeModel, whose module loads every event model it has
(about 200 ms of cold start for one field we need).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class MalformedEventError(ValueError):
    """The invocation's event is not a scheduled tick: no cycle ran."""


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
