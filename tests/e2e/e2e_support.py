"""Helpers of the end-to-end tests: a small fleet, the shipped sample events, the account under test."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.store import Store
from lambda_tuner.twin.server import Twin, apply_env
from lambda_tuner.twin.shapes import cpu_bound, io_bound
from lambda_tuner.twin.spec import FunctionSpec
from lambda_tuner.twin.stack import LocalStack
from lambda_tuner.twin.traffic import rare, steady
from lambda_tuner.twin.world import World

EVENTS = Path(__file__).resolve().parents[2] / "events"
T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def event(name: str, **replace: Any) -> dict[str, Any]:
    """A sample event from events/, with placeholders filled in: the tests use the shipped files."""
    data = json.loads((EVENTS / name).read_text())
    data.update(replace)
    return data


def small_fleet() -> list[FunctionSpec]:
    return [
        # Waits on I/O at 3 GB: most of its memory buys nothing.
        FunctionSpec(
            name="orders-api",
            curve=io_bound(fixed_ms=80.0),
            traffic=steady(40, seed=1),
            memory_mb=3008,
            timeout_s=30,
        ),
        # CPU-bound and starved at 256 MB: more memory makes it faster and cheaper.
        FunctionSpec(
            name="thumbnailer",
            curve=cpu_bound(cpu_ms=1500.0),
            traffic=steady(6, seed=2),
            memory_mb=256,
            timeout_s=60,
        ),
        # Called a few times a day: too little evidence to act on.
        FunctionSpec(
            name="nightly-report", curve=io_bound(fixed_ms=200.0), traffic=rare(3, seed=3), memory_mb=1024
        ),
    ]


class Account:
    def __init__(self, twin: Twin, world: World, stack: LocalStack) -> None:
        self.twin, self.world, self.stack = twin, world, stack

    def run_agent(self, at: datetime) -> dict[str, Any]:
        from lambda_tuner.handlers import agent

        self.twin.advance(at)
        return agent.handler(event("scheduled.json", time=at.strftime("%Y-%m-%dT%H:%M:%SZ")), context())

    def store(self) -> Store:
        """The stack's state and audit tables, as the agent and the apply function read them."""
        return Store(self.stack.settings["LT_STATE_TABLE"], self.stack.settings["LT_AUDIT_TABLE"])


def context() -> Any:
    from lambda_tuner.twin.lambda_invoke import LambdaContext

    return LambdaContext(
        function_name="lambda-tuner-agent",
        function_version="$LATEST",
        memory_limit_in_mb=1024,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:lambda-tuner-agent",
        timeout_s=900,
    )


@contextmanager
def deployed(fleet: Sequence[FunctionSpec], mode: str, seed: int = 5) -> Iterator[Account]:
    """A twin running `fleet` (15 days of history up to T0) with lambda-tuner's stack deployed in `mode`;
    the environment restored afterwards."""
    saved = dict(os.environ)
    world = World(list(fleet), seed=seed, epoch=T0 - timedelta(days=15), now=T0)
    try:
        with Twin(world) as twin:
            apply_env(twin)
            aws.reset_clients()
            from lambda_tuner.handlers import agent, apply, approval

            # each handler keeps its clients for warm invocations: those of another test's twin are gone
            for cached in (agent._wiring, approval._flow, apply._flow):
                cached.cache_clear()
            yield Account(twin, world, LocalStack(twin, mode=mode).deploy())
    finally:
        os.environ.clear()
        os.environ.update(saved)
        aws.reset_clients()


class Stopped(BaseException):
    """The Lambda runtime ending a run at its timeout. No `except Exception` of the cycle sees it (on AWS
    nothing of the run goes on at all; here only the lease's `finally` does, which changes nothing after:
    a stopped run's lease has expired by the next scheduled cycle)."""


def stopped_before_digest(account: Account, at: datetime) -> None:
    """Run the scheduled cycle at `at`, stopped (its timeout) when it publishes its digest: after it
    stored its approval requests, before SNS took any of their links."""
    import pytest

    from lambda_tuner.adapters.notifier import Notifier

    def timed_out(self: Notifier, subject: str, body: str, attributes: Any) -> str:
        raise Stopped("Task timed out after 900.00 seconds")

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(Notifier, "publish", timed_out)
        with pytest.raises(Stopped):
            account.run_agent(at)
