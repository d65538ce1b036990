"""One twin per test module (moto's state is per process); `fresh` resets it for tests that change it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from server_support import make_world

from lambda_tuner.twin.server import Twin


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    with Twin(make_world()) as running:
        yield running


@pytest.fixture
def fresh(twin: Twin) -> Twin:
    """The module's twin, reset to a fresh world and moto state for this test."""
    twin.reset(make_world())
    return twin
