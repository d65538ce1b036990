"""One twin per test module over the small collection fleet."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from collect_helpers import EPOCH, NOW, fleet

from lambda_tuner.twin.server import Twin
from lambda_tuner.twin.world import World


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    with Twin(World(fleet(), seed=3, epoch=EPOCH, now=NOW)) as running:
        yield running


@pytest.fixture
def fresh(twin: Twin) -> Twin:
    twin.reset(World(fleet(), seed=3, epoch=EPOCH, now=NOW))
    return twin
