"""Which provisioned concurrency someone else scales: read from Application Auto Scaling over HTTP."""

from __future__ import annotations

import pytest
from approval_support import Account

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier_pc import PC_DIMENSION
from lambda_tuner.adapters.autoscaling import pc_scaling
from lambda_tuner.core.models import PcScaling


def _target(aas, resource: str) -> None:
    aas.register_scalable_target(
        ServiceNamespace="lambda",
        ResourceId=resource,
        ScalableDimension=PC_DIMENSION,
        MinCapacity=1,
        MaxCapacity=40,
    )


def test_policies_and_a_teams_scheduled_actions_are_found_and_the_agents_own_are_not(account: Account):
    aas = aws.client("application-autoscaling")
    for resource in ("function:orders:live", "function:search:prod", "function:thumbs:live"):
        _target(aas, resource)
    aas.put_scaling_policy(
        PolicyName="pc-utilisation",
        ServiceNamespace="lambda",
        ResourceId="function:orders:live",
        ScalableDimension=PC_DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 0.7,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "LambdaProvisionedConcurrencyUtilization"
            },
        },
    )
    for resource, name in (
        ("function:search:prod", "black-friday"),
        ("function:thumbs:live", "lambda-tuner-00"),
    ):
        aas.put_scheduled_action(
            ServiceNamespace="lambda",
            ResourceId=resource,
            ScalableDimension=PC_DIMENSION,
            ScheduledActionName=name,
            Schedule="cron(0 8 * * ? *)",
            ScalableTargetAction={"MinCapacity": 5, "MaxCapacity": 5},
        )
    scaling = pc_scaling()
    found = scaling.others
    assert set(found) == {"function:orders:live", "function:search:prod"}  # thumbs' schedule is the agent's
    assert scaling.ours == {"function:thumbs:live"}
    assert (
        "pc-utilisation" in found["function:orders:live"]
        and "TargetTracking" in found["function:orders:live"]
    )
    assert found["function:search:prod"] == "scheduled action 'black-friday'"


def test_an_unreadable_listing_raises_rather_than_reading_as_nobody_scales(account: Account):
    from botocore.exceptions import ClientError
    from botocore.stub import Stubber

    aas = aws.client("application-autoscaling")
    with Stubber(aas) as stub:
        stub.add_client_error("describe_scaling_policies", "AccessDeniedException", http_status_code=400)
        with pytest.raises(ClientError):
            pc_scaling(aas)


def test_the_cycle_reads_it_as_unknown_when_it_cannot_be_read(account: Account, monkeypatch) -> None:
    from botocore.stub import Stubber

    from lambda_tuner import wiring
    from lambda_tuner.settings import AgentSettings

    settings = AgentSettings(
        state_table="s",
        audit_table="a",
        topic_arn="t",
        secret_arn="x",
        approval_base_url="u",
        apply_function="f",
    )
    assert wiring.agent_deps(settings).pc_scaling is wiring.read_pc_scaling  # what the agent's cycle calls
    assert wiring.read_pc_scaling() == PcScaling()  # read, and nobody scales anything here
    aas = aws.client("application-autoscaling")
    with Stubber(aas) as stub:
        stub.add_client_error("describe_scaling_policies", "ThrottlingException", http_status_code=400)
        monkeypatch.setattr(wiring, "pc_scaling", lambda: pc_scaling(aas))
        assert wiring.read_pc_scaling() is None  # not {}: "nobody scales" would let the agent change PC
