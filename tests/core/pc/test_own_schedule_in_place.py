"""Once the agent's PC schedule is on an alias, the next cycle keeps it: the plan it would propose is the
schedule already there. The alias then reads as a static level (whatever the last action set), and the
agent proposed the same schedule again every day, with a saving counted from that level."""

from __future__ import annotations

import numpy as np
from pc_support import NOW, function, observations

from lambda_tuner.core.decide import Decider
from lambda_tuner.core.models import (
    AliasInfo,
    FunctionPolicy,
    Observations,
    PcScaling,
    Recommendation,
    schedule_signature,
)

DAYS = 3
LIVE = AliasInfo(name="live", function_version="7", pc_requested=5, pc_allocated=5, pc_status="READY")
OBJECTIVE = FunctionPolicy(cold_start_objective="usd-per-cold-start=0.05")


def hourly_burst() -> Observations:
    """5 environments busy for the minute at :00 of every hour, idle otherwise."""
    conc = np.zeros(DAYS * 1440)
    conc[np.arange(DAYS * 24) * 60] = 5.0
    return observations(conc, conc * 2.0, 30_000.0)


def _pc(scaling: PcScaling) -> Recommendation:
    fn = function(aliases=(LIVE,), policy=OBJECTIVE)
    recs = Decider(NOW, lambda: "r", pc_scaling=scaling).decide(fn, hourly_burst(), {})
    [pc] = [r for r in recs if "pc" in r.current]
    return pc


def test_the_schedule_is_proposed_where_it_is_not_on_yet() -> None:
    rec = _pc(PcScaling())
    assert rec.kind == "provisioned_concurrency" and rec.pc_schedule


def test_the_agents_own_schedule_in_place_is_kept_not_proposed_again() -> None:
    planned = _pc(PcScaling()).pc_schedule
    on = PcScaling(
        ours=frozenset({"function:orders:live"}),
        schedules={"function:orders:live": schedule_signature(planned)},
    )
    rec = _pc(on)
    assert rec.kind == "keep" and rec.proposed == rec.current and rec.monthly_saving_usd is None
    assert rec.reason.summary.startswith("Keep the agent's PC schedule on alias live"), rec.reason.summary


def test_a_different_schedule_of_the_agents_is_replaced_claiming_no_saving() -> None:
    planned = _pc(PcScaling()).pc_schedule
    other = tuple(a.model_copy(update={"capacity": a.capacity + 3}) for a in planned)
    on = PcScaling(
        ours=frozenset({"function:orders:live"}),
        schedules={"function:orders:live": schedule_signature(other)},
    )
    rec = _pc(on)
    assert rec.kind == "provisioned_concurrency" and rec.reason.summary.startswith("Replace the agent's")
    # its saving would be counted from the level the alias reads now, not from the schedule it replaces
    assert rec.monthly_saving_usd is None
