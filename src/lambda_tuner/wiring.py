"""Builds the cycle's dependencies from settings: the one place that knows which adapter serves what."""

from __future__ import annotations

import json
import logging
from functools import cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_tuner.adapters import aws, inventory
from lambda_tuner.adapters.autoscaling import pc_scaling
from lambda_tuner.adapters.control import kill_switch_engaged
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.secrets import signing_key
from lambda_tuner.adapters.store import Store
from lambda_tuner.core.models import PcScaling
from lambda_tuner.cycle import CycleDeps, HandOverError
from lambda_tuner.settings import AgentSettings

LOG = logging.getLogger(__name__)


def agent_deps(settings: AgentSettings) -> CycleDeps:
    secret = cache(lambda: signing_key(settings.secret_arn))

    def invoke_apply(payload: dict[str, Any]) -> None:
        # Asynchronous: the apply function waits for LastUpdateStatus and PC READY on its own clock,
        # and the agent must not hold its lease (and its timeout) while it does.
        try:
            aws.client("lambda").invoke(
                FunctionName=settings.apply_function,
                InvocationType="Event",
                Payload=json.dumps(payload).encode(),
            )
        except (ClientError, BotoCoreError) as exc:  # the cycle goes on; the next one sends it again
            what = payload.get("recommendation_id") or payload.get("function")
            LOG.warning("apply request not sent: %s (%s)", what, exc)
            raise HandOverError(str(exc)) from exc

    return CycleDeps(
        store=Store(settings.state_table, settings.audit_table),
        notifier=Notifier(settings.topic_arn),
        secret=secret,
        invoke_apply=invoke_apply,
        kill_switch=lambda: kill_switch_engaged(settings.kill_switch_parameter),
        pc_scaling=read_pc_scaling,
        read_tags=read_tags,
    )


def read_tags(name: str) -> dict[str, str] | None:
    """A function's tags as they are now (auto mode reads its mode again before a change); None when
    they cannot be read: the apply function reads the mode tag again before the change anyway."""
    try:
        return inventory.read_details(name, with_aliases=False, client=aws.client("lambda")).tags
    except inventory.InventoryError as exc:
        LOG.warning("tags of %s not read again before its change: %s", name, exc)
        return None


def read_pc_scaling() -> PcScaling | None:
    """Who else scales which PC; None when Application Auto Scaling cannot be read (the cycle then changes
    no PC: it cannot tell whose it is)."""
    try:
        return pc_scaling()
    except (ClientError, BotoCoreError) as exc:
        LOG.warning("Application Auto Scaling not read: no PC is changed this cycle (%s)", exc)
        return None
