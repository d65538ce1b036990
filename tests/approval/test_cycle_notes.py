"""A cycle stores and audits a function's note ("keep", "insufficient data") once, not every day.

At 10,000 functions, most under the bill mark, re-recording the same note each cycle would cost five
DynamoDB calls per function per cycle (state read, recommendation, audit head, record, head). The
function states are read in batches of 100 instead of one call each.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from approval_support import AUDIT, NOW, STATE, Account, offline_cycle

from lambda_tuner.adapters.store import Store
from lambda_tuner.collect import CollectResult, CollectStats
from lambda_tuner.core.models import FunctionConfig, Inventory, Observations


def collector_saying(reasons: dict[str, str], memory_mb: int = 1024) -> Any:
    """A collector whose every function is observed as insufficient for the given reason."""

    def collect(now: Any, *_: Any, **__: Any) -> CollectResult:
        functions = tuple(
            FunctionConfig(
                name=n,
                arn=f"arn:aws:lambda:us-east-1:123456789012:function:{n}",
                memory_mb=memory_mb,
                timeout_s=30,
                log_group=f"/aws/lambda/{n}",
            )
            for n in reasons
        )
        observations = {
            n: Observations(
                function=n,
                window_start=now - timedelta(days=14),
                window_end=now,
                status="insufficient",
                reason=why,
            )
            for n, why in reasons.items()
        }
        return CollectResult(
            inventory=Inventory(functions=functions),
            observations=observations,
            stats=CollectStats(),
            state={},
        )

    return collect


def notes(store: Store, function: str) -> int:
    return sum(1 for r in store.list_audit(function=function) if r.type == "recommendation")


def test_a_repeated_note_is_recorded_once_and_a_changed_one_again(account: Account) -> None:
    store = Store(STATE, AUDIT)
    # Given two functions under the bill mark, whose estimated bills move a little from day to day
    first = collector_saying(
        {
            "a": "estimated bill $0.12/month is under the $1.00 mark",
            "b": "estimated bill $0.40/month is under the $1.00 mark",
        }
    )
    day1 = offline_cycle(store, first, NOW)
    assert day1.repeated_notes == 0 and notes(store, "a") == notes(store, "b") == 1
    # When the next cycle says the same thing with other numbers
    second = collector_saying(
        {
            "a": "estimated bill $0.13/month is under the $1.00 mark",
            "b": "estimated bill $0.38/month is under the $1.00 mark",
        }
    )
    day2 = offline_cycle(store, second, NOW + timedelta(days=1))
    # Then neither note is stored or audited again, and the summary counts them
    assert day2.repeated_notes == 2 and day2.recommendations == []
    assert notes(store, "a") == notes(store, "b") == 1
    # When one function's situation changes (too few calls instead of the bill mark)
    third = collector_saying(
        {
            "a": "estimated bill $0.13/month is under the $1.00 mark",
            "b": "12 invocations in 14 days; at least 100 needed",
        }
    )
    day3 = offline_cycle(store, third, NOW + timedelta(days=2))
    # Then that one is recorded again, the other still not
    assert day3.repeated_notes == 1 and [r.recommendation.function for r in day3.recommendations] == ["b"]
    assert (notes(store, "a"), notes(store, "b")) == (1, 2)


def test_function_states_are_read_in_batches_of_100(account: Account) -> None:
    # Given 250 functions, 3 of them with a stored state
    store = Store(STATE, AUDIT)
    names = [f"fn-{i:03d}" for i in range(250)]
    for name in ("fn-000", "fn-120", "fn-249"):
        store.put_function_state(name, {"baseline_p99_ms": 250.0, "who": name})
    calls: list[int] = []
    store.client.meta.events.register(
        "provide-client-params.dynamodb.BatchGetItem",
        lambda params, **_: calls.append(len(params["RequestItems"][STATE]["Keys"])),
    )
    # When they are read together
    states = store.get_function_states(names)
    # Then three requests carry all 250 keys, and every function gets its state or {}
    assert calls == [100, 100, 50]
    assert states["fn-120"] == {"baseline_p99_ms": 250.0, "who": "fn-120"}
    assert sum(1 for s in states.values() if s) == 3 and len(states) == 250


UNDER = (
    "billed about $0.31/month (its mean duration), under the $1.00/month worth reading its duration "
    "metrics for: watched in the census, read again once its bill passes the mark"
)


def unread(day: str) -> str:
    return (
        f"idle or billed under $1.00/month when last read ({day}): its traffic is read again within 7 days, "
        "and at once if the agent changes it"
    )


def test_a_quiet_function_not_read_again_says_nothing_new(account: Account) -> None:
    """A function quiet when its census was read (under the bill mark, or idle) is read again a week
    later; the cycles between say it was quiet when last read. On the twin's 40-day soak each such
    function's note was recorded twice a week (the read day's, then the next day's other wording): 79
    of the 168 recommendation records after day 15."""
    store = Store(STATE, AUDIT)
    # Given one function under the bill mark and one idle, each on the day its census is read
    offline_cycle(store, collector_saying({"a": UNDER, "b": "no invocations in the last 14 days"}), NOW)
    # When the next six cycles do not read them (quiet when last read), and the seventh reads them again
    for day in range(1, 8):
        said = (
            {"a": UNDER.replace("0.31", "0.29"), "b": "no invocations in the last 14 days"}
            if day == 7
            else {"a": unread("2026-11-02"), "b": unread("2026-11-02")}
        )
        offline_cycle(store, collector_saying(said), NOW + timedelta(days=day))
    # Then each note was recorded once: nothing was learnt about them since
    assert notes(store, "a") == notes(store, "b") == 1
    # But a function read again that has something else to say is recorded again
    again = collector_saying({"a": "too few invocations (12) to fit", "b": unread("2026-11-09")})
    offline_cycle(store, again, NOW + timedelta(days=8))
    assert notes(store, "a") == 2 and notes(store, "b") == 1
