"""A canary day collected over HTTP from the twin: an alias that routed 10 % of its calls to a version at
another memory size yields two epochs over the same window, split as the versions ran the calls."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config

from lambda_tuner.collect import CanaryWindow, CollectResult, collect
from lambda_tuner.core.models import Epoch
from lambda_tuner.twin.server import Twin
from lambda_tuner.twin.shapes import cpu_bound
from lambda_tuner.twin.spec import AliasSpec, FunctionSpec
from lambda_tuner.twin.traffic import steady
from lambda_tuner.twin.world import World

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

EPOCH = datetime(2026, 11, 1, tzinfo=UTC)
CANARY_START = EPOCH + timedelta(days=13)  # the canary runs one day from here (the agent's cycle)
CANARY_END = CANARY_START + timedelta(days=1)
NOW = CANARY_END + timedelta(hours=3)
MAIN_MB, TRIAL_MB = 1024, 512
NAMES = ("concluded", "deciding", "still-on")
H = timedelta(hours=1)


def _fleet() -> list[FunctionSpec]:
    # All behind alias "live" on version 1 at 1 GB, each with a canary routing 10 % to a 512 MB version:
    # "concluded" has had it concluded by the agent; "deciding" still routes, as the agent's next cycle
    # collects it just before concluding it; "still-on" routes with no record (seen in the alias only).
    return [FunctionSpec(name, cpu_bound(300.0, fixed_ms=20.0), steady(40.0, seed=i), MAIN_MB,
                         aliases=(AliasSpec("live", "1"),), invoked=(("live", 1.0),))
            for i, name in enumerate(NAMES)]


def _client(twin: Twin, service: str) -> Any:
    return boto3.client(service, endpoint_url=twin.endpoint_url, region_name=twin.region,
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(retries={"mode": "standard", "max_attempts": 2}, read_timeout=60))


def _start_canary(lam: Any, name: str) -> str:
    # What the apply function does: $LATEST to the trial size, publish it, set $LATEST back, route 10 %
    lam.update_function_configuration(FunctionName=name, MemorySize=TRIAL_MB)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
    version = str(lam.publish_version(FunctionName=name)["Version"])
    lam.update_function_configuration(FunctionName=name, MemorySize=MAIN_MB)
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {version: 0.1}})
    return version


@pytest.fixture(scope="module")
def collected() -> Iterator[tuple[CollectResult, World, str, CollectResult]]:
    """The first collection, and a second one an hour later from the state the first left."""
    world = World(_fleet(), seed=5, epoch=EPOCH, now=CANARY_START)
    with Twin(world) as twin:
        lam = _client(twin, "lambda")
        (trial,) = {_start_canary(lam, name) for name in NAMES}
        world.advance(CANARY_END)
        lam.update_alias(FunctionName="concluded", Name="live", FunctionVersion="1",
                         RoutingConfig={"AdditionalVersionWeights": {}})  # the next cycle concludes it
        world.advance(NOW)
        recorded = CanaryWindow("live", "1", MAIN_MB, trial, TRIAL_MB, start=CANARY_START)
        history = {"concluded": [replace(recorded, end=CANARY_END)], "deciding": [recorded]}
        clock = [0.0]

        def sleep(s: float) -> None:
            clock[0] += s

        twin.queries.clock = lambda: clock[0]
        clients = {"lambda_client": lam, "cloudwatch_client": _client(twin, "cloudwatch"),
                   "logs_client": _client(twin, "logs")}
        result = collect(NOW, 14, "lambda-tuner:", {}, memory_history=history, sleep=sleep,
                         monotonic=lambda: clock[0], **clients)
        world.advance(NOW + H)
        second = collect(NOW + H, 14, "lambda-tuner:", result.state, memory_history=history, sleep=sleep,
                         monotonic=lambda: clock[0], **clients)
        yield result, world, trial, second


def _pair(result: CollectResult, name: str) -> dict[int, Epoch]:
    obs = result.observations[name]
    assert obs.status == "ok" and obs.qualifier == "live", obs.reason
    windows: dict[tuple[datetime, datetime], list[Epoch]] = {}
    for e in obs.epochs:
        windows.setdefault((e.start, e.end), []).append(e)
    (pair,) = [es for es in windows.values() if len(es) > 1]  # exactly one window holds both sizes
    return {e.memory_mb: e for e in pair}


def _follows_curve(epoch: Epoch, world: World, name: str) -> bool:
    truth = float(world.truth(name).curve.duration(epoch.memory_mb))
    return epoch.duration_avg_ms is not None and abs(epoch.duration_avg_ms / truth - 1) < 0.1


def test_a_recorded_canary_day_becomes_two_epochs_over_the_canary_window(collected):
    result, world, _, _ = collected
    pair = _pair(result, "concluded")
    # Then both sizes share exactly the canary's day ...
    assert sorted(pair) == [TRIAL_MB, MAIN_MB]
    assert {(e.start, e.end) for e in pair.values()} == {(CANARY_START, CANARY_END)}
    # ... the calls split about 90/10 ...
    share = pair[TRIAL_MB].invocations / (pair[TRIAL_MB].invocations + pair[MAIN_MB].invocations)
    assert 0.08 < share < 0.12
    # ... and each size's mean duration is that size's on the function's curve (512 MB is ~2x slower)
    assert _follows_curve(pair[MAIN_MB], world, "concluded") and _follows_curve(pair[TRIAL_MB], world,
                                                                                 "concluded")
    # ... with the REPORT facts of each size's own lines (the trial size's: only the canary's calls)
    trial_reports = pair[TRIAL_MB].reports
    assert trial_reports is not None and trial_reports.invocations == pair[TRIAL_MB].invocations
    # (the main size's facts cover all its days, on its latest epoch: after the canary)
    others = [e for e in result.observations["concluded"].epochs if e.start != CANARY_START]
    main_reports = others[-1].reports
    assert pair[MAIN_MB].reports is None and main_reports is not None
    assert main_reports.invocations > 9 * trial_reports.invocations
    # And the days around it are the main size's, from the alias's own series
    assert {e.memory_mb for e in others} == {MAIN_MB}
    assert any(e.end <= CANARY_START for e in others) and any(e.start >= CANARY_END for e in others)


def test_a_recorded_canary_still_routing_when_collected_ends_its_window_with_the_collection(collected):
    result, world, _, _ = collected
    pair = _pair(result, "deciding")
    assert {(e.start, e.end) for e in pair.values()} == {(CANARY_START, NOW.replace(minute=0))}
    share = pair[TRIAL_MB].invocations / (pair[TRIAL_MB].invocations + pair[MAIN_MB].invocations)
    assert 0.08 < share < 0.12 and _follows_curve(pair[TRIAL_MB], world, "deciding")


def test_a_canary_seen_only_in_the_alias_routing_is_split_from_its_trial_versions_first_calls(collected):
    result, world, trial, _ = collected
    (live,) = next(f for f in result.inventory.functions if f.name == "still-on").aliases
    assert live.routing == {trial: 0.1}
    pair = _pair(result, "still-on")
    assert {(e.start, e.end) for e in pair.values()} == {(CANARY_START, NOW.replace(minute=0))}
    share = pair[TRIAL_MB].invocations / (pair[TRIAL_MB].invocations + pair[MAIN_MB].invocations)
    assert 0.08 < share < 0.12 and _follows_curve(pair[TRIAL_MB], world, "still-on")


def test_per_version_series_cost_two_versions_by_eight_series_per_canary_function(collected):
    result, _, _, _ = collected
    # Per function: census, function and alias calls and details (2 x 8), concurrency, 2 versions x 8
    assert result.stats.metric_queries == len(NAMES) * (1 + 2 * 8 + 1 + 2 * 8)


def test_a_later_collection_from_the_stored_details_splits_the_same_canaries(collected):
    # Given the second collection knows the alias routing from the first one's stored details
    _, _, _, second = collected
    for name in NAMES:
        pair = _pair(second, name)
        assert {e.start for e in pair.values()} == {CANARY_START}, name
    assert _pair(second, "still-on")[TRIAL_MB].end == NOW.replace(minute=0) + H
