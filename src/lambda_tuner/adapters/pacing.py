"""Keeping the agent's Lambda control-plane calls to its share of the account quota.

Lambda allows 15 control-plane requests/s per account, shared with the user's own deploys; the agent takes
at most `rate` of them (default 5/s). A token bucket with a burst of one that starts empty spaces requests
evenly: N requests take at least N / rate seconds, even right after the previous cycle's last request.
Every HTTP attempt is paced, retries included, because AWS counts each attempt against the quota.
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
        # The earliest moment the next request may go; starting one interval out means the bucket starts
        # empty. `_virtual` remembers waits that a fake sleep did not move the clock for.
        self._next = monotonic() + 1 / rate
        self._virtual = monotonic()
        self._lock = threading.Lock()
        self.acquired = 0
        self.waited_s = 0.0  # time spent waiting for the share: the control-plane cost of pacing

    def acquire(self) -> None:
        with self._lock:
            now = max(self._monotonic(), self._virtual)
            # Unused time builds up credit for at most `burst` requests.
            self._next = max(self._next, now - (self.burst - 1) / self.rate)
            if now < self._next:
                wait = self._next - now
                self._sleep(wait)
                self.waited_s += wait
                now = self._next
            self._virtual = now
            self._next += 1 / self.rate
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
