"""Apply function: the only code that changes other functions. Invoked by the approval function and
the agent (`apply`), by the agent when a canary's time is over or a change was verified (`conclude`) or
a function was deleted (`forget`), by the CLI (`revert`), and by CloudWatch rollback alarms
(`aws.cloudwatch`)."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger

from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import ApplyEvent, ApplyFlow, RevertEvent
from lambda_tuner.adapters.canary_flow import ConcludeEvent
from lambda_tuner.adapters.control import kill_switch_engaged
from lambda_tuner.adapters.deleted_flow import ForgetEvent
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store
from lambda_tuner.handlers.apply_events import AlarmEvent, an_object, checked
from lambda_tuner.settings import ApplySettings

logger = Logger(service="lambda-tuner-apply")


@cache
def _flow() -> ApplyFlow:
    settings = ApplySettings()  # read from LT_ environment variables
    return ApplyFlow(
        Store(settings.state_table, settings.audit_table),
        Applier(),
        Notifier(settings.topic_arn),
        allow_iac=settings.allow_iac_changes,
        alarm_action_arn=settings.alarm_action_arn,
        alarm_prefix=settings.alarm_name_prefix,
        kill_switch=lambda: kill_switch_engaged(settings.kill_switch_parameter),
        tag_prefix=settings.tag_prefix,
        max_event_age=timedelta(seconds=settings.max_event_age_s) if settings.max_event_age_s else None,
    )


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    event = an_object(event)  # each request is checked whole before anything is read or changed
    _flow().applier.deadline_from(context)  # its waits end in time to undo and record before the timeout
    max_age = _flow().max_event_age  # its records are dated with its time: one far from the clock is refused
    if event.get("source") == "aws.cloudwatch":
        alarm = checked(AlarmEvent, event, max_age)
        if alarm.alarm.state.value != "ALARM":
            return {"ok": True, "message": "alarm not in ALARM state: nothing to do"}
        result = _flow().on_alarm(alarm.alarm.name, alarm.time)
        return {"ok": True, "message": "no change to roll back"} if result is None else result.model_dump()
    if event.get("action") == "revert":
        revert = checked(RevertEvent, event, max_age)
        results = _flow().revert(revert.since, revert.function, revert.time, actor=revert.requested_by)
        return {"ok": all(r.ok for r in results), "results": [r.model_dump() for r in results]}
    if event.get("action") == "conclude":
        conclude = checked(ConcludeEvent, event, max_age)
        result = _flow().conclude(conclude.recommendation_id, conclude.time, actor=conclude.requested_by)
    elif event.get("action") == "forget":
        forget = checked(ForgetEvent, event, max_age)
        result = _flow().forget(forget.function, forget.time, actor=forget.requested_by)
    else:
        apply = checked(ApplyEvent, event, max_age)  # anything else is refused here with a validation error
        result = _flow().apply(apply.recommendation_id, apply.requested_by, apply.time)
    logger.info(f"{event['action']} finished", extra={"result": result.model_dump()})
    return result.model_dump()
