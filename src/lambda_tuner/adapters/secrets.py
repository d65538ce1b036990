"""Secrets Manager: the approval-link signing key, cached for the life of a warm container."""

from __future__ import annotations

import threading
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_tuner.adapters import aws

CACHE_SECONDS = 300.0  # a rotated key reaches warm containers within five minutes
_cache: dict[str, tuple[float, bytes]] = {}
_lock = threading.Lock()


class SecretError(Exception):
    pass


def signing_key(secret_arn: str, client: Any = None) -> bytes:
    """The secret's string as bytes (the template generates 64 random characters)."""
    with _lock:
        hit = _cache.get(secret_arn)
        if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
    try:
        resp = (client or aws.client("secretsmanager")).get_secret_value(SecretId=secret_arn)
    except (ClientError, BotoCoreError) as exc:
        raise SecretError(f"cannot read the signing secret {secret_arn}: {exc}") from exc
    value = resp.get("SecretString")
    if not value or len(value) < 16:
        raise SecretError(f"the signing secret {secret_arn} is missing or shorter than 16 characters")
    key = str(value).encode("utf-8")
    with _lock:
        _cache[secret_arn] = (time.monotonic(), key)
    return key


def clear_cache() -> None:
    with _lock:
        _cache.clear()
