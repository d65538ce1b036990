"""Scheduled agent: one cycle per EventBridge schedule tick. The event's `time` is the cycle's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from lambda_tuner.core.events import MalformedEventError, ScheduledEvent, untimely
from lambda_tuner.cycle import CycleDeps, run_cycle
from lambda_tuner.settings import AgentSettings
from lambda_tuner.wiring import agent_deps

logger = Logger(service="lambda-tuner-agent")

metrics = Metrics(namespace="LambdaTuner", service="lambda-tuner-agent")


@cache
def _wiring() -> tuple[AgentSettings, CycleDeps]:
    settings = AgentSettings()  # values come from the environment
    return settings, agent_deps(settings)


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        tick = ScheduledEvent.model_validate(event)
    except ValidationError as exc:
        # Raised, not returned: a schedule whose input went wrong would otherwise skip every cycle with
        # nobody told; as an error it trips the agent-errors alarm, which notifies the topic.
        logger.error("malformed scheduled event", extra={"errors": exc.errors(include_url=False)})
        raise MalformedEventError(
            f"malformed scheduled event: {exc.error_count()} problem(s); "
            "expected an EventBridge Scheduled Event with 'time'"
        ) from None
    settings, deps = _wiring()
    max_age = timedelta(seconds=settings.max_event_age_s) if settings.max_event_age_s else None
    if why := untimely(tick.now, datetime.now(UTC), max_age):
        logger.error("untimely scheduled event", extra={"time": tick.now.isoformat()})
        raise MalformedEventError(f"{why}; no cycle ran (to run one by hand, set the event's time to now)")
    summary = run_cycle(settings, tick.now, deps)
    stats = summary.collect_stats
    for name, value, unit in (
        ("Functions", summary.functions, MetricUnit.Count),
        ("Recommendations", len(summary.recommendations), MetricUnit.Count),
        ("AwsApiCalls", sum(stats.get("api_calls", {}).values()), MetricUnit.Count),
        ("MetricQueries", stats.get("metric_queries", 0), MetricUnit.Count),
        ("InsightsBytesScanned", stats.get("insights_bytes_scanned", 0), MetricUnit.Bytes),
        ("CycleCostUsd", stats.get("cost_usd", 0.0), MetricUnit.NoUnit),
        ("SavingsFoundUsdPerMonth", summary.monthly_saving_usd, MetricUnit.NoUnit),
        ("WallSeconds", summary.wall_s, MetricUnit.Seconds),
    ):
        metrics.add_metric(name=name, unit=unit, value=float(value))
    # The audit chain head leaves the table every cycle, so a rewritten history is detectable later.
    logger.info(
        "cycle done",
        extra={
            "audit_head": summary.audit_head,
            "skipped": summary.skipped,
            "recommendations": len(summary.recommendations),
            # what the cycle could not read or send: its return value is discarded (asynchronous invoke)
            "partial": stats.get("partial", []),
            "handover_failed": summary.handover_failed,
        },
    )
    return {"ok": True, "summary": summary.model_dump(mode="json")}
