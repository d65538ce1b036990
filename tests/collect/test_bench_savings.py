"""The collection benchmark's default savings hook runs the decision core over what was collected."""

from __future__ import annotations

import pytest
from collect_helpers import fleet

from lambda_tuner.bench.collect import run_size
from lambda_tuner.bench.savings import found

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_the_savings_hook_reports_what_the_agent_would_save_on_the_same_fleet():
    result = run_size(len(fleet()), specs=fleet(), savings=found)
    for cycle in (result, result["first_cycle"]):
        assert isinstance(cycle["savings_usd_per_month"], float)
        assert cycle["savings_usd_per_month"] >= 0.0
