"""The scheduled agent, over HTTP against the twin, on two functions with the same idle PC: it proposes to
remove the one nobody else scales, and leaves the one the team's own target tracking scales, saying why."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

import pytest
from e2e_support import T0, Account

from lambda_tuner.adapters import aws
from lambda_tuner.twin.server import Twin, apply_env
from lambda_tuner.twin.shapes import io_bound
from lambda_tuner.twin.spec import AliasSpec, FunctionSpec
from lambda_tuner.twin.stack import LocalStack
from lambda_tuner.twin.traffic import steady
from lambda_tuner.twin.world import World


def _idle_pc(name: str, scaled_by: str = "") -> FunctionSpec:
    return FunctionSpec(
        name=name,
        curve=io_bound(fixed_ms=90.0),
        traffic=steady(0.5, seed=len(name)),
        memory_mb=512,
        aliases=(AliasSpec("live", "1", pc=10, scaled_by=scaled_by),),
        invoked=(("live", 1.0),),
    )


@pytest.fixture(scope="module")
def scaled() -> Iterator[Account]:
    saved = dict(os.environ)
    fleet = [_idle_pc("legacy-auth"), _idle_pc("quotes-api", scaled_by="pc-utilisation")]
    world = World(fleet, seed=5, epoch=T0 - timedelta(days=15), now=T0)
    with Twin(world) as twin:
        apply_env(twin)
        aws.reset_clients()
        from lambda_tuner.handlers import agent, approval

        agent._wiring.cache_clear()
        approval._flow.cache_clear()
        yield Account(twin, world, LocalStack(twin, mode="auto").deploy())
    os.environ.clear()
    os.environ.update(saved)
    aws.reset_clients()


def test_pc_the_teams_scaling_owns_is_left_alone_and_the_rest_is_tuned(scaled: Account) -> None:
    result = scaled.run_agent(T0)
    pc = {
        r["recommendation"]["function"]: r
        for r in result["summary"]["recommendations"]
        if "pc" in r["recommendation"]["current"]
    }
    assert pc["legacy-auth"]["recommendation"]["kind"] == "provisioned_concurrency"
    assert pc["legacy-auth"]["recommendation"]["proposed"]["pc"] == 0  # idle: removed
    kept = pc["quotes-api"]["recommendation"]
    assert kept["kind"] == "keep" and pc["quotes-api"]["route"] == "record"
    assert "scaling policy 'pc-utilisation' (TargetTrackingScaling)" in kept["reason"]["summary"]
    assert scaled.twin.calls["application-autoscaling.DescribeScalingPolicies"] >= 1
    # even in auto mode: removing 10 environments at once goes to a person (beyond the auto step),
    # the team's PC goes nowhere
    assert pc["legacy-auth"]["route"] == "approve", pc["legacy-auth"]["why"]
