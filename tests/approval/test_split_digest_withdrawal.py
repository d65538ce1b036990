"""A digest too large for one SNS message goes out in several. When a later one fails, the cycle withdraws
only the approval requests nobody received: a person already holds the links of the earlier message, and
an expired link would tell them the change was withdrawn while the next cycle asks for it again."""

from __future__ import annotations

from typing import Any

import pytest
from approval_support import NOW, make_rec

import lambda_tuner.cycle as cycle_module
from lambda_tuner.cycle import CycleDeps, CycleSummary, RoutedRecommendation


class Transitions:
    def __init__(self) -> None:
        self.expired: list[str] = []
        self.sent: list[str] = []

    def transition(self, rec_id: str, frm: str, to: str, at: Any, **attrs: Any) -> bool:
        self.expired.append(rec_id)
        return True

    def mark_sent(self, rec_ids: Any, now: Any) -> None:
        self.sent += rec_ids


class SecondFails:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def publish(self, subject: str, body: str, attributes: Any) -> str:
        if self.sent:
            raise RuntimeError("SNS refused the second message")
        self.sent.append(body)
        return "m-1"


def _asked(rec_id: str) -> RoutedRecommendation:
    links = {"approve": f"https://x/?token=a-{rec_id}", "reject": f"https://x/?token=r-{rec_id}"}
    return RoutedRecommendation(
        recommendation=make_rec(rec_id=rec_id, function=f"fn-{rec_id}"),
        route="approve", mode="approve", why="a person decides", links=links,
    )


def test_only_the_requests_of_the_message_that_failed_are_withdrawn(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = _asked("a"), _asked("b")
    digests = [("part 1", f"1. {first.links['approve']}"), ("part 2", f"2. {second.links['approve']}")]
    monkeypatch.setattr(cycle_module, "render_digests", lambda *args, **kwargs: digests)
    store, notifier = Transitions(), SecondFails()
    deps = CycleDeps(store=store, notifier=notifier, secret=lambda: b"k", invoke_apply=None)  # type: ignore[arg-type]
    summary = CycleSummary(time=NOW, recommendations=[first, second])
    with pytest.raises(RuntimeError) as failed:
        cycle_module._notify(deps, summary, NOW)
    cycle_module._withdraw_asks(deps, summary, NOW, failed.value)
    assert notifier.sent == [digests[0][1]]
    assert store.expired == ["b"]  # "a" went out in the first message: its links stay good
    assert store.sent == ["a"]  # and no later cycle takes it for a request a stopped cycle never sent
