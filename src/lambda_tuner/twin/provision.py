"""Creating the World's functions inside moto, as the account looks before the agent's first cycle.

Goes through moto's backend directly (not HTTP): it is ~10x faster for 10,000-function fleets, is not an
API call anyone should count, and the moto internals it uses are pinned by test_moto_layer.py.
"""

from __future__ import annotations

import base64
import io
import zipfile
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING

from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.iam.models import iam_backends
from moto.logs.models import logs_backends
from moto.utilities.utils import get_partition

from lambda_tuner.twin.lambda_api import Meta, backend, new_revision, timestamp
from lambda_tuner.twin.lambda_pc import PcConfig
from lambda_tuner.twin.schedules import DIMENSION as PC_DIMENSION

if TYPE_CHECKING:
    from lambda_tuner.twin.server import Twin
    from lambda_tuner.twin.spec import FunctionSpec


@cache
def tiny_zip() -> str:
    """A base64 deployment package holding one no-op handler (what moto's backend expects)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return {}\n")
    return base64.b64encode(buffer.getvalue()).decode()


ROLE_NAME = "lambda-tuner-twin-function-role"
INSIGHTS_LAYER = "arn:aws:lambda:{region}:580247275435:layer:LambdaInsightsExtension:53"
ASSUME_ROLE = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", '
    '"Principal": {"Service": "lambda.amazonaws.com"}}]}'
)


def provision_world(twin: Twin) -> None:
    role = function_role(twin)
    for spec in twin.world.specs.values():
        provision_function(twin, spec, role)


def function_role(twin: Twin) -> str:
    """One execution role for every simulated function (moto checks that the role exists)."""
    iam = iam_backends[twin.account][get_partition(twin.region)]
    try:
        return str(iam.get_role(ROLE_NAME).arn)
    except Exception:  # noqa: BLE001 - moto's NoSuchEntity; anything else resurfaces on create_role
        return str(iam.create_role(ROLE_NAME, ASSUME_ROLE, "/", None, "", [], None).arn)


def logging_config(spec: FunctionSpec) -> dict[str, str]:
    config = {"LogFormat": spec.log_format, "LogGroup": spec.log_group_name}
    if spec.log_format == "JSON":
        config["ApplicationLogLevel"] = "INFO"
        config["SystemLogLevel"] = spec.system_log_level.upper()
    return config


def provision_function(twin: Twin, spec: FunctionSpec, role: str) -> None:
    lam = backend(twin)
    fn = lam.create_function(
        {
            "FunctionName": spec.name,
            "Runtime": spec.runtime,
            "Role": role,
            "Handler": "index.handler",
            "Code": {"ZipFile": tiny_zip()},
            "MemorySize": spec.memory_mb,
            "Timeout": spec.timeout_s,
            "Architectures": [spec.arch],
            "EphemeralStorage": {"Size": spec.ephemeral_mb},
            "Description": spec.description,
            "Tags": dict(spec.tags),
        }
    )
    if spec.reserved_concurrency is not None:
        fn.reserved_concurrency = spec.reserved_concurrency
    if spec.insights:
        # AWS's public layer, which moto cannot resolve; set as moto stores resolved layers
        fn.layers = [{"Arn": INSIGHTS_LAYER.format(region=twin.region), "CodeSize": 4_473_005}]
    meta = Meta(
        revision=new_revision(),
        last_modified=timestamp(twin),
        logging=logging_config(spec),
        snapstart="PublishedVersions" if spec.snapstart else "None",
        ephemeral_mb=spec.ephemeral_mb,
    )
    twin.lambdas.latest[spec.name] = meta
    logs = logs_backends[twin.account][twin.region]
    if spec.log_group_name not in logs.groups:
        logs.create_log_group(spec.log_group_name, {})
    _provision_versions(twin, spec, meta)


def _provision_versions(twin: Twin, spec: FunctionSpec, meta: Meta) -> None:
    lam = backend(twin)
    for _ in range(spec.published_count):
        lam.get_function(spec.name).code_or_config_updated = True  # moto publishes only after a change
        version = str(lam.publish_version(spec.name).version)
        twin.lambdas.versions[spec.name, version] = replace(
            meta, revision=new_revision(), logging=dict(meta.logging)
        )
        twin.lambdas.published_from[spec.name] = meta.revision
    for alias in spec.aliases:
        routing = {"AdditionalVersionWeights": dict(alias.routing)} if alias.routing else None
        lam.create_alias(alias.name, spec.name, alias.version, "", routing)
        if alias.pc:
            twin.lambdas.pc[spec.name, alias.name] = PcConfig(alias.pc, "READY", meta.last_modified)
        if alias.scaled_by:
            _team_scaling(twin, f"function:{spec.name}:{alias.name}", alias.scaled_by, alias.pc)


def _team_scaling(twin: Twin, resource: str, policy: str, level: int) -> None:
    """A target-tracking policy of the team's own on an alias's PC, as Application Auto Scaling holds it.
    The twin does not carry it out: the level stays as provisioned (the agent must leave it alone)."""
    aas = applicationautoscaling_backends[twin.account][twin.region]
    # no SuspendedState, as a request without one (moto keeps what it is given and serialises it as a map)
    aas.register_scalable_target("lambda", resource, PC_DIMENSION, max(1, level), max(4 * level, 1), "", None)  # type: ignore[arg-type]
    metric = {"PredefinedMetricType": "LambdaProvisionedConcurrencyUtilization"}
    tracking = {"TargetValue": 0.7, "PredefinedMetricSpecification": metric}
    body = {"TargetTrackingScalingPolicyConfiguration": tracking}
    aas.put_scaling_policy(policy, "lambda", resource, PC_DIMENSION, body, "TargetTrackingScaling")
