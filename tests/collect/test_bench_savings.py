"""The collection benchmark's default savings hook runs the decision core over what was collected.

The small collection fleet has one known saving: `checkout` keeps 4 provisioned concurrency on an alias
that a 40 ms function at steady traffic barely uses, and the agent proposes to lower it. Everything else
is kept as is or only advised (arm64, an experiment), which the hook must not count as savings.
"""

from __future__ import annotations

import pytest
from collect_helpers import EPOCH, NOW, fleet, run_collect

from lambda_tuner.bench.collect import run_size
from lambda_tuner.bench.savings import found
from lambda_tuner.twin.server import Twin
from lambda_tuner.twin.spec import FunctionSpec
from lambda_tuner.twin.world import World

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _saving_found(specs: list[FunctionSpec]) -> float:
    # Its own twin, not the module fixture: run_size below starts one, and a process runs one at a time.
    with Twin(World(specs, seed=3, epoch=EPOCH, now=NOW)) as twin:
        return found(run_collect(twin))


def test_the_savings_hook_counts_the_idle_provisioned_concurrency_the_agent_would_lower() -> None:
    # Given the collection fleet, whose `checkout` alias carries PC it does not need
    # When the hook runs the decision core over a collection of it
    saving = _saving_found(fleet())
    # Then it reports a positive monthly saving
    assert saving > 0.0


def test_the_savings_hook_counts_nothing_where_the_agent_only_keeps_or_advises() -> None:
    # Given the same fleet without `checkout`: every proposal is a keep, arm64 advice or an experiment
    without_pc = [spec for spec in fleet() if spec.name != "checkout"]
    # When the hook runs, Then advice with a dollar figure is not counted: the saving is zero
    assert _saving_found(without_pc) == 0.0


def test_the_benchmark_reports_the_hooks_saving_for_both_cycles() -> None:
    result = run_size(len(fleet()), specs=fleet(), savings=found)
    for cycle in (result, result["first_cycle"]):
        assert isinstance(cycle["savings_usd_per_month"], float)
        assert cycle["savings_usd_per_month"] > 0.0
