"""The demo's table of applied changes says what each change was and what became of it."""

from __future__ import annotations

from rich.console import Console

from lambda_tuner.cli.demo_view import applied_table, recommendations_table


def change(rec_id: str, after: dict[str, object]) -> dict[str, object]:
    return {
        "function": f"fn-{rec_id}",
        "recommendation_id": rec_id,
        "before": {"memory_mb": 1536},
        "after": after,
        "audit_id": f"audit-{rec_id}",
        "memory_mb_in_account_now": 1536,
    }


def rendered(out: dict[str, object]) -> str:
    console = Console(width=200, record=True)
    console.print(applied_table(out))
    return console.export_text()


def test_canaries_show_their_share_and_whether_they_were_concluded_or_stopped():
    out = {
        "applied": [
            change("a", {"memory_mb": 832, "canary_weight": 0.1}),
            change("b", {"memory_mb": 832, "canary_weight": 0.1}),
            change("c", {"memory_mb": 832, "canary_weight": 0.1}),
            change("d", {"memory_mb": 1024}),
        ],
        "verifications": [
            {"recommendation_id": "a", "data": {"detail": "experiment concluded after 1 day"}},
            {"recommendation_id": "d", "data": {"realised": {"duration_ms": 120.0}, "within_interval": True}},
        ],
        "audit": [{"type": "rollback", "recommendation_id": "b"}],
    }
    rows = {line.split()[1]: line for line in rendered(out).splitlines() if line.startswith("│ fn-")}
    assert "832 (10% canary)" in rows["fn-a"] and "experiment concluded after 1 day" in rows["fn-a"]
    assert "stopped by its p99 guard" in rows["fn-b"]
    assert "canary running" in rows["fn-c"]
    assert "canary" not in rows["fn-d"] and "120 ms avg, within projected interval" in rows["fn-d"]


def test_a_recommendation_that_costs_more_shows_the_sign_before_the_dollar_sign():
    rec = {
        "function": "fn-x",
        "kind": "memory",
        "current": {"memory_mb": 1024},
        "proposed": {"memory_mb": 2048},
        "before": {"monthly_cost_usd": {"expected": 2.74}},
        "after": {"monthly_cost_usd": {"expected": 4.36}},
        "monthly_saving_usd": {"expected": -1.62, "low": -3.51, "high": 0.16},
        "reason": {"summary": "Change memory 1024 → 2048 MB"},
    }
    console = Console(width=250, record=True)
    console.print(recommendations_table([rec]))
    text = console.export_text()
    assert "-$1.62 [-$3.51, $0.16]" in text and "$-" not in text


def test_each_recommendation_is_one_line_with_what_decided_it_and_only_the_why_wraps_at_160_columns():
    rec = {
        "function": "fn-y",
        "kind": "memory",
        "current": {"memory_mb": 1536},
        "proposed": {"memory_mb": 800},
        "before": {"monthly_cost_usd": {"expected": 1.64}},
        "after": {"monthly_cost_usd": {"expected": 1.30}},
        "monthly_saving_usd": {"expected": 0.33, "low": -0.43, "high": 0.73},
        "latency_effect": "p99 104 → 156 ms (+49%)",
        "reason": {"summary": "Change memory 1536 → 800 MB: saves $0.33/month", "decided_by": "memory floor"},
    }
    console = Console(width=200, record=True)
    console.print(recommendations_table([rec, {**rec, "function": "fn-z"}]))
    rows = [line for line in console.export_text().splitlines() if line.strip().startswith("fn-")]
    assert len(rows) == 2 and len(console.export_text().splitlines()) < 10  # nothing wraps
    assert "1536 → 800" in rows[0] and "$1.64 → $1.30" in rows[0] and "104 → 156 ms" in rows[0]
    assert "a smaller size would leave too little headroom" in rows[0] and "Change memory" not in rows[0]
    at_160 = Console(width=160, record=True)
    at_160.print(recommendations_table([rec], width=at_160.width))
    text = at_160.export_text()  # the why wraps there; every figure stays whole
    assert any(
        "fn-y" in line and "$0.33 [-$0.43, $0.73]" in line and "104 → 156 ms" in line
        for line in text.splitlines()
    )
    assert "a smaller size" in text
    # and the cost before and after gives the reason its room there (the saving says the difference)
    assert "$1.64 → $1.30" not in text and "cost/month" not in text
