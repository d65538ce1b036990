"""One simulated account with lambda-tuner's stack deployed in it, shared by the end-to-end tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

import pytest
from e2e_support import T0, Account, deployed, small_fleet

from lambda_tuner.adapters import aws
from lambda_tuner.twin.server import Twin, apply_env
from lambda_tuner.twin.stack import LocalStack
from lambda_tuner.twin.world import World


@pytest.fixture(scope="module")
def account() -> Iterator[Account]:
    saved = dict(os.environ)
    world = World(small_fleet(), seed=11, epoch=T0 - timedelta(days=15), now=T0)
    with Twin(world) as twin:
        apply_env(twin)
        aws.reset_clients()
        from lambda_tuner.handlers import agent, apply, approval

        # each handler keeps its clients for warm invocations: those of another module's twin are gone
        for cached in (agent._wiring, approval._flow, apply._flow):
            cached.cache_clear()
        stack = LocalStack(twin, mode="approve").deploy()
        yield Account(twin, world, stack)
    os.environ.clear()
    os.environ.update(saved)
    aws.reset_clients()


@pytest.fixture
def auto() -> Iterator[Account]:
    """An account of its own, the small fleet in auto mode (the tests that let the agent change things)."""
    with deployed(small_fleet(), "auto") as account:
        yield account
