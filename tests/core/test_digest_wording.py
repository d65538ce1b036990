"""How the digest words money and experiments, so a person reads the right thing in ten seconds."""

from __future__ import annotations

from datetime import UTC, datetime

from lambda_tuner.core.digest import change_text, saving_text
from lambda_tuner.core.models import Interval, Reason, Recommendation

NOW = datetime(2026, 11, 2, 6, tzinfo=UTC)


def rec(kind: str, proposed: dict[str, int | float | str | None]) -> Recommendation:
    return Recommendation(
        id="r1",
        function="fn",
        kind=kind,
        created_at=NOW,
        current={"memory_mb": 1024},
        proposed=proposed,
        reason=Reason(summary="s", observed="o", model="m", decided_by="d"),
    )


def test_a_change_that_costs_more_says_so_instead_of_a_negative_saving():
    # Its interval is of what it costs too: from a quarter saved to two dollars more, not "-$2.00 to $0.25"
    text = saving_text(Interval(expected=-1.5, low=-2.0, high=0.25))
    assert text == "costs $1.50/month more (90%: -$0.25 to $2.00)"


def test_a_saving_reads_as_a_saving():
    assert saving_text(Interval(expected=3.0, low=1.0, high=4.0)) == "saves $3.00/month (90%: $1.00 to $4.00)"


def test_an_experiment_shows_the_new_size_and_its_limits_not_its_internal_keys():
    text = change_text(
        rec(
            "experiment",
            {
                "memory_mb": 1769,
                "canary_weight": 0.1,
                "max_days": 1,
                "stop_if_p99_ms_above": 600.0,
                "stop_if_p99_ratio_above": 1.06,
                "best_guess_mb": 968,
            },
        ).model_copy(update={"qualifier": "live"})
    )
    assert text.startswith("memory 1024 → 1769 MB")
    assert "as a canary on 10% of alias live's traffic" in text and "1 day" in text
    assert "best guess" not in text and "None →" not in text and "canary weight" not in text
    assert "ratio" not in text


def test_an_old_routing_weight_that_was_never_routed_reads_as_all_traffic():
    # Records from before canaries carried a routing weight the apply flow never used
    text = change_text(rec("experiment", {"memory_mb": 1769, "routing_weight": 0.1, "max_days": 1}))
    assert "on all traffic, its stops watching it for 1 day(s)" in text and "10%" not in text


def test_an_experiment_without_a_routing_weight_says_it_runs_on_all_traffic():
    # The apply flow moves all traffic; only records from before that was said carry a weight
    text = change_text(rec("experiment", {"memory_mb": 1769, "max_days": 1, "stop_if_p99_ms_above": 600.0}))
    # it is not undone after its day: the size stays until a next change, and the text must not say
    # "for at most 1 day(s)" as a canary's does
    assert "on all traffic, its stops watching it for 1 day(s)" in text, text
    assert "the size stays after that until the next change" in text and "at most" not in text


def test_a_plain_memory_change_is_one_phrase():
    assert change_text(rec("memory", {"memory_mb": 512})) == "memory 1024 → 512 MB"


def test_a_setting_that_stays_reads_as_its_value_not_a_change_to_itself():
    # a note (keep, too little data) and arm64 advice propose the size in force
    assert change_text(rec("keep", {"memory_mb": 1024})) == "memory 1024 MB"
    advice = rec("arm64_advice", {"arch": "arm64", "memory_mb": 1024})
    advice = advice.model_copy(update={"current": {"arch": "x86_64", "memory_mb": 1024}})
    assert change_text(advice) == "arch x86_64 → arm64, memory 1024 MB"
