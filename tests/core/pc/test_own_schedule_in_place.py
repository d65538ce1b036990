"""Once the agent's PC schedule is on an alias, the next cycle judges its plan against that schedule. The
alias reads only as the level the last action set (29 after :55), and the agent proposed the same
schedule again every day, claiming a saving from that level; a plan a little different was a new
change with that saving too."""

from __future__ import annotations

import numpy as np
import pytest
from pc_support import NOW, function, observations

from lambda_tuner.core.decide import Decider
from lambda_tuner.core.models import (
    AliasInfo,
    FunctionPolicy,
    Observations,
    PcScaling,
    PcScheduledAction,
    Recommendation,
)
from lambda_tuner.core.pc_schedule import HOURS_PER_WEEK, plan_of, scheduled_actions, within_hour_actions

DAYS = 3
LIVE = AliasInfo(name="live", function_version="7", pc_requested=5, pc_allocated=5, pc_status="READY")
OBJECTIVE = FunctionPolicy(cold_start_objective="usd-per-cold-start=0.05")
ON = "function:orders:live"


def hourly_burst() -> Observations:
    """5 environments busy for the minute at :00 of every hour, idle otherwise."""
    conc = np.zeros(DAYS * 1440)
    conc[np.arange(DAYS * 24) * 60] = 5.0
    return observations(conc, conc * 2.0, 30_000.0)


def _pc_of(recs: list[Recommendation]) -> Recommendation:
    [pc] = [r for r in recs if "pc" in r.current]
    return pc


def _pc(scaling: PcScaling) -> Recommendation:
    fn = function(aliases=(LIVE,), policy=OBJECTIVE)
    return _pc_of(Decider(NOW, lambda: "r", pc_scaling=scaling).decide(fn, hourly_burst(), {}))


def test_the_schedule_is_proposed_where_it_is_not_on_yet() -> None:
    rec = _pc(PcScaling())
    assert rec.kind == "provisioned_concurrency" and rec.pc_schedule
    assert rec.reason.summary.startswith("Set PC of alias live")


def test_the_agents_own_schedule_in_place_is_kept_not_proposed_again() -> None:
    planned = _pc(PcScaling()).pc_schedule
    rec = _pc(PcScaling(ours=frozenset({ON}), schedules={ON: planned}))
    assert rec.kind == "keep" and rec.proposed == rec.current and rec.monthly_saving_usd is None
    assert rec.reason.summary == "Keep the agent's PC schedule on alias live", rec.reason.summary
    assert "improves the objective by $0.00 a month only" in rec.reason.decided_by


def test_a_worse_schedule_of_the_agents_is_replaced_with_the_saving_counted_from_it() -> None:
    planned = _pc(PcScaling())
    worse = tuple(a.model_copy(update={"capacity": a.capacity + 3}) for a in planned.pc_schedule)
    rec = _pc(PcScaling(ours=frozenset({ON}), schedules={ON: worse}))
    assert rec.kind == "provisioned_concurrency"
    assert rec.reason.summary.startswith("Replace the agent's PC schedule on alias live: Set PC of")
    # three environments more at every hour of the month: about $33 of PC allocation at 1 GB, less what
    # the work they serve saves at PC's lower duration rate; not the plan's saving from the static level
    assert rec.monthly_saving_usd is not None and planned.monthly_saving_usd is not None
    assert 20 < rec.monthly_saving_usd.expected < 33 < planned.monthly_saving_usd.expected


def test_a_schedule_that_cannot_be_read_back_claims_no_saving() -> None:
    planned = _pc(PcScaling()).pc_schedule
    elsewhere = tuple(a.model_copy(update={"timezone": "Europe/Berlin", "capacity": 9}) for a in planned)
    rec = _pc(PcScaling(ours=frozenset({ON}), schedules={ON: elsewhere}))
    assert rec.kind == "provisioned_concurrency" and rec.monthly_saving_usd is None
    assert "what the schedule in place costs is not known" in rec.reason.summary


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin"])
def test_the_agents_actions_read_back_as_the_plan_they_carry_out(tz: str) -> None:
    week = tuple([0] * 8 + [6] * 10 + [2] * 6) * 5 + tuple([1] * 24) * 2  # office hours, quiet weekend
    assert plan_of(scheduled_actions(week, tz), tz) == ("week", week)
    assert len(week) == HOURS_PER_WEEK
    blocks = (1,) * 10 + (20, 20)
    assert plan_of(within_hour_actions(blocks, tz), tz) == ("hour", blocks)
    assert plan_of(scheduled_actions(week, tz), "Asia/Tokyo") is None  # another time zone: not read
    assert plan_of([*scheduled_actions(week, tz), *within_hour_actions(blocks, tz)], tz) is None


def test_a_replacement_of_a_schedule_not_read_back_gives_no_cost_of_the_level_the_alias_reads() -> None:
    # The digest's Why and the page's "Monthly cost" row would give the static level the alias reads at
    # the cycle's hour as what the PC costs now: not what the schedule being replaced costs
    planned = _pc(PcScaling()).pc_schedule
    elsewhere = tuple(a.model_copy(update={"timezone": "Europe/Berlin", "capacity": 9}) for a in planned)
    rec = _pc(PcScaling(ours=frozenset({ON}), schedules={ON: elsewhere}))
    assert rec.before is None and rec.after is not None and "→ $" not in rec.reason.summary
    assert f"(${rec.after.monthly_cost_usd.expected:,.2f} a month; " in rec.reason.summary


def test_a_static_level_in_place_of_the_agents_schedule_is_judged_against_the_schedule() -> None:
    # Given the agent's schedule on the alias (5 environments from :55 to :05, none otherwise), read at
    # the cycle's hour as a static 5, and a steady load of 2 environments all day
    ours = (
        PcScheduledAction(name="pc-55", schedule="cron(55 * * * ? *)", capacity=5),
        PcScheduledAction(name="pc-05", schedule="cron(5 * * * ? *)", capacity=0),
    )
    steady = np.full(DAYS * 1440, 2.0)
    obs = observations(steady, steady * 1.2, 30_000.0)
    fn = function(aliases=(LIVE,), policy=OBJECTIVE)
    static_five = next(r for r in Decider(NOW, lambda: "r").decide(fn, obs, {}) if "pc" in r.current)
    on = PcScaling(ours=frozenset({ON}), schedules={ON: ours})
    # When the cycle plans a static level for it
    [rec] = [r for r in Decider(NOW, lambda: "r", pc_scaling=on).decide(fn, obs, {}) if "pc" in r.current]
    assert rec.kind == "provisioned_concurrency" and "pc" in rec.proposed
    # Then it says it replaces the agent's schedule, and what it costs now is the schedule's cost (5 for a
    # sixth of each hour), not a static 5's
    assert rec.reason.summary.startswith("Replace the agent's PC schedule on alias live"), rec.reason.summary
    assert rec.before is not None and static_five.before is not None
    assert rec.before.monthly_cost_usd.expected < static_five.before.monthly_cost_usd.expected


def test_the_agents_schedule_on_the_version_the_alias_serves_is_found_while_it_reads_zero() -> None:
    # Given the alias's PC on the version it serves (7), where the apply step put the agent's schedule,
    # and the cycle at an hour when the schedule's last action set it to 0: no PC on the version now
    unset = LIVE.model_copy(update={"pc_requested": None, "pc_allocated": None, "pc_status": None})
    on_version = function(aliases=(unset,), policy=OBJECTIVE, pc_on_versions={"7": 5})
    planned = _pc_of(Decider(NOW, lambda: "r").decide(on_version, hourly_burst(), {}))
    assert planned.current.get("pc_version") == "7"
    fn = function(aliases=(unset,), policy=OBJECTIVE)
    v7 = "function:orders:7"
    same = PcScaling(ours=frozenset({v7}), schedules={v7: planned.pc_schedule})
    kept = _pc_of(Decider(NOW, lambda: "r", pc_scaling=same).decide(fn, hourly_burst(), {}))
    # Then the schedule in place is kept, not proposed again onto the alias beside the version's ...
    assert kept.kind == "keep" and kept.proposed == kept.current, (kept.kind, kept.reason.summary)
    # ... and a better plan goes where the schedule is
    worse = tuple(a.model_copy(update={"capacity": a.capacity + 3}) for a in planned.pc_schedule)
    other = PcScaling(ours=frozenset({v7}), schedules={v7: worse})
    rec = _pc_of(Decider(NOW, lambda: "r", pc_scaling=other).decide(fn, hourly_burst(), {}))
    assert rec.kind == "provisioned_concurrency" and rec.current.get("pc_version") == "7"


def test_a_note_or_change_for_pc_on_the_version_names_the_version_not_the_alias() -> None:
    # Given the agent's schedule on version 7, which alias live serves, read at an hour when it set 0
    unset = LIVE.model_copy(update={"pc_requested": None, "pc_allocated": None, "pc_status": None})
    fn = function(aliases=(unset,), policy=OBJECTIVE)
    planned = _pc_of(
        Decider(NOW, lambda: "r").decide(
            function(aliases=(unset,), policy=OBJECTIVE, pc_on_versions={"7": 5}), hourly_burst(), {}
        )
    )
    v7 = "function:orders:7"
    same = PcScaling(ours=frozenset({v7}), schedules={v7: planned.pc_schedule})
    kept = _pc_of(Decider(NOW, lambda: "r", pc_scaling=same).decide(fn, hourly_burst(), {}))
    # Then the note says where the schedule is (the alias has none), and keeps it there
    assert kept.reason.summary == "Keep the agent's PC schedule on version 7 behind alias live", (
        kept.reason.summary
    )
    assert kept.current.get("pc_version") == "7" and kept.proposed == kept.current
    # and a change of PC configured on the version says so too
    assert planned.reason.summary.startswith("Set PC of version 7 behind alias live"), planned.reason.summary
