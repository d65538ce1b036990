"""The kill switch: an SSM parameter an operator sets to `stop` to stop every change on the next run."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_tuner.adapters import aws

RUNNING_VALUES = frozenset({"run", "running", "on", "go", ""})


def kill_switch_engaged(parameter: str | None, client: Any = None) -> bool:
    """True when changes must stop. No parameter configured, or not created yet: not engaged.

    Any other failure to read it (denied, throttled, unknown value) counts as engaged: when we cannot
    tell whether an operator pulled the switch, the safe answer is to change nothing.
    """
    if not parameter:
        return False
    try:
        value = (client or aws.client("ssm")).get_parameter(Name=parameter)["Parameter"]["Value"]
    except ClientError as exc:
        return exc.response.get("Error", {}).get("Code") != "ParameterNotFound"
    except BotoCoreError:  # no answer (a timeout, a connection error): we cannot tell, so engaged
        return True
    return str(value).strip().lower() not in RUNNING_VALUES
