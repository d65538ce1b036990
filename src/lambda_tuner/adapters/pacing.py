"""Keeping the agent's Lambda control-plane calls to its share of the account quota.

Lambda allows 15 control-plane requests/s per account, shared with the user's own deploys; the agent takes
at most `rate` of them (default 5/s). A token bucket with a burst of one spaces requests evenly: N requests
take at least (N - 1) / rate seconds. Every HTTP attempt is paced, retries included, because AWS counts
each attempt against the quota.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class TokenBucket:
    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate must be > 0 and burst >= 1, got rate={rate}, burst={burst}")
        self.rate, self.burst = rate, burst
        self._monotonic, self._sleep = monotonic, sleep
        self._tokens = burst
        self._last = monotonic()
        self._lock = threading.Lock()
        self.acquired = 0
        self.waited_s = 0.0  # time spent waiting for tokens: the control-plane cost of the share

    def acquire(self) -> None:
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens < 1:
                wait = (1 - self._tokens) / self.rate
                self._sleep(wait)
                self.waited_s += wait
                # A fake sleep does not move a fake clock: account for the wait ourselves.
                self._last = max(self._monotonic(), now + wait)
                self._tokens = 1.0
            self._tokens -= 1
            self.acquired += 1


@contextmanager
def paced(client: Any, bucket: TokenBucket) -> Iterator[TokenBucket]:
    """While inside, every HTTP attempt `client` makes first takes a token from `bucket`."""
    service = client.meta.service_model.service_name
    event = f"before-send.{service}"
    unique_id = f"lambda-tuner-pacing-{id(bucket)}"

    def take(**_: Any) -> None:
        bucket.acquire()

    client.meta.events.register(event, take, unique_id=unique_id)
    try:
        yield bucket
    finally:
        client.meta.events.unregister(event, unique_id=unique_id)
