"""The collection benchmark on a tiny fleet: the fields it reports, and that the bound is below the calls."""

from __future__ import annotations

import pytest
from collect_helpers import fleet

from lambda_tuner.bench.collect import run_size

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_a_benchmark_run_reports_calls_bound_time_memory_and_cost_for_both_cycles():
    result = run_size(len(fleet()), specs=fleet())
    for cycle in (result, result["first_cycle"]):
        assert cycle["api_calls_total"] == sum(cycle["api_calls"].values())
        # The bound is computed by separate code from the fleet description; no collector can beat it
        assert 0 < cycle["lower_bound_total"] <= cycle["api_calls_total"]
        assert cycle["peak_rss_mb"] > 0 and cycle["wall_s"] > 0 and cycle["control_plane_s"] > 0
        assert cycle["agent_cost_usd_per_month"] > 0
        assert cycle["savings_usd_per_month"] is None  # no savings hook given
    assert result["functions"] == len(fleet())
    assert result["first_cycle"]["api_calls"]["lambda.GetFunction"] == len(fleet())  # cold: all new
    assert result["api_calls"].get("lambda.GetFunction", 0) < len(fleet())  # warm: only due ones
