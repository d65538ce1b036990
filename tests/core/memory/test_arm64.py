"""arm64 is advice for x86_64 functions only, with the unknown speed change in its interval."""

from __future__ import annotations

from memory_support import NOW, cpu_bound, function, observe

from lambda_tuner.core.arm64 import decide_arm64
from lambda_tuner.core.fitting import fit_duration
from lambda_tuner.core.pricing import default_prices


def test_an_x86_function_gets_arm64_advice_with_a_range_for_the_speed_change():
    obs = observe(cpu_bound, [1024, 2048])
    fit = fit_duration("fn", "x86_64", obs.epochs)
    rec = decide_arm64(function(1024), obs, fit, default_prices(), NOW, "arm-1")
    assert rec is not None
    assert rec.kind == "arm64_advice"
    assert rec.proposed["arch"] == "arm64" and rec.current["arch"] == "x86_64"
    assert rec.monthly_saving_usd is not None
    # 0.8x-1.2x duration at a 20 % lower price: saves about 20 %, can cost a little at 1.2x
    assert rec.monthly_saving_usd.low < rec.monthly_saving_usd.expected < rec.monthly_saving_usd.high
    assert rec.before is not None and rec.after is not None
    ratio = rec.monthly_saving_usd.expected / rec.before.monthly_cost_usd.expected
    assert 0.1 < ratio < 0.3
    assert rec.status == "RECORDED"  # advice is never applied


def test_an_arm64_function_gets_no_arm64_advice():
    obs = observe(cpu_bound, [1024], arch="arm64")
    fit = fit_duration("fn", "arm64", obs.epochs)
    assert decide_arm64(function(1024, arch="arm64"), obs, fit, default_prices(), NOW, "arm-2") is None
