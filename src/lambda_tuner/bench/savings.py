"""The savings the decision core finds on a collected fleet: the benchmark's default savings hook.

Counts the expected monthly saving of every cost-lowering change the agent would propose — memory,
provisioned concurrency, and the template changes it hands to infrastructure-as-code owners — and not
experiments (a trial is not yet a saving) or advice.
"""

from __future__ import annotations

import itertools

from lambda_tuner.collect import CollectResult
from lambda_tuner.core.decide import Decider

COUNTED = frozenset({"memory", "provisioned_concurrency", "template_change"})


def found(result: CollectResult) -> float:
    ends = [o.window_end for o in result.observations.values()]
    if not ends:
        return 0.0
    ids = itertools.count()
    decider = Decider(max(ends), lambda: f"bench-{next(ids)}",
                      unreserved_concurrency=result.inventory.unreserved_concurrency)
    total = 0.0
    for fn in result.inventory.functions:
        obs = result.observations.get(fn.name)
        if obs is None:
            continue
        for rec in decider.decide(fn, obs, {}):
            if rec.kind in COUNTED and rec.monthly_saving_usd is not None:
                total += max(0.0, rec.monthly_saving_usd.expected)
    return round(total, 2)
