"""Application Auto Scaling, read only: whose scaling moves a function's provisioned concurrency.

A team that scales PC itself (a target-tracking or step policy, or scheduled actions of its own) would
fight any level or schedule the agent set: its next scaling activity undoes the agent's level, and the
agent's schedule re-registers the scalable target with its own range. The agent leaves such PC alone and
says so (core.decide). Two account-wide listings a cycle, whatever the number of functions.
"""

from __future__ import annotations

from typing import Any

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier_pc import PC_DIMENSION, action_text, is_ours, policy_text
from lambda_tuner.core.models import PcScaling, PcScheduledAction


def pc_scaling(client: Any = None) -> PcScaling:
    """Who else scales which PC (every resource scaled by anything but the agent) and where the agent's own
    scheduled actions are. Raises what botocore raises: the caller cannot tell then whose PC it is."""
    aas = client or aws.client("application-autoscaling")
    found: dict[str, str] = {}
    ours: dict[str, list[PcScheduledAction]] = {}
    # Neither listing takes the dimension without a resource id: the namespace is read whole and filtered.
    for page in aas.get_paginator("describe_scaling_policies").paginate(ServiceNamespace="lambda"):
        for policy in page.get("ScalingPolicies", []):
            if policy.get("ScalableDimension") == PC_DIMENSION:
                found.setdefault(policy["ResourceId"], policy_text(policy))
    for page in aas.get_paginator("describe_scheduled_actions").paginate(ServiceNamespace="lambda"):
        for action in page.get("ScheduledActions", []):
            if action.get("ScalableDimension") != PC_DIMENSION:
                continue
            if is_ours(action):
                ours.setdefault(action["ResourceId"], []).append(_action(action))
            else:
                found.setdefault(action["ResourceId"], action_text(action))
    schedules = {resource: tuple(actions) for resource, actions in ours.items()}
    return PcScaling(others=found, ours=frozenset(ours), schedules=schedules)


def _action(action: dict[str, Any]) -> PcScheduledAction:
    target = action.get("ScalableTargetAction", {})
    return PcScheduledAction(
        name=action["ScheduledActionName"],
        schedule=action.get("Schedule", ""),
        timezone=action.get("Timezone") or "UTC",
        capacity=int(target.get("MinCapacity", target.get("MaxCapacity", 0))),
    )
