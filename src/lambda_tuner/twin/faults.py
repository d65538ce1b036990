"""Injected failures with AWS's real error shapes, decided per request at the HTTP layer.

A fault targets one operation ("lambda.UpdateFunctionConfiguration" or just "UpdateFunctionConfiguration"),
optionally one function, and fires either for the next `count` matching calls or with probability `rate`
from a seeded RNG (so a benchmark that injects 5 % throttling is repeatable); with `after`, only once that
many matching calls went through (the second write of a flow, say, and not its first).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from lambda_tuner.twin.wire import Call, Reply, aws_error

FaultKind = Literal["throttle", "5xx"]

# What each service calls "slow down" and "we broke", with the HTTP status AWS uses.
THROTTLE_CODES: dict[str, tuple[str, int]] = {
    "lambda": ("TooManyRequestsException", 429),
    "cloudwatch": ("Throttling", 400),
    "logs": ("ThrottlingException", 400),
    "dynamodb": ("ThrottlingException", 400),
    "sns": ("Throttling", 400),
    "sqs": ("ThrottlingException", 400),
    "ssm": ("ThrottlingException", 400),
    "secretsmanager": ("ThrottlingException", 400),
    "application-autoscaling": ("ThrottlingException", 400),
    "sts": ("Throttling", 400),
}
SERVER_ERROR_CODES: dict[str, tuple[str, int]] = {
    "lambda": ("ServiceException", 500),
    "logs": ("ServiceUnavailableException", 500),
    "dynamodb": ("InternalServerError", 500),
    "secretsmanager": ("InternalServiceError", 500),
    "application-autoscaling": ("InternalServiceException", 500),
}
DEFAULT_THROTTLE = ("ThrottlingException", 400)
DEFAULT_SERVER_ERROR = ("InternalFailure", 500)


@dataclass
class Fault:
    operation: str
    kind: FaultKind
    count: int | None
    rate: float | None
    function: str | None
    after: int = 0  # matching calls still to let through before the fault starts firing

    def matches(self, call: Call) -> bool:
        if self.operation not in (call.operation, call.key):
            return False
        return self.function is None or self.function == function_of(call)


def function_of(call: Call) -> str | None:
    """The function a Lambda call targets (name or ARN in the path), normalised to its name."""
    raw = call.uri_params.get("FunctionName")
    if raw is None:
        return None
    name = unquote(str(raw))
    if ":function:" in name:
        name = name.split(":function:", 1)[1]
    return name.split(":", 1)[0]


def qualifier_of(call: Call) -> str | None:
    """The version or alias a Lambda call names: its Qualifier parameter, else the qualified name or ARN
    in the path (`name:3`, `arn:...:function:name:live`); None for the unqualified function."""
    raw = unquote(str(call.uri_params.get("FunctionName") or ""))
    tail = raw.split(":function:", 1)[1] if ":function:" in raw else raw
    return call.query("Qualifier") or (tail.split(":", 1)[1] if ":" in tail else None)


@dataclass
class RateLimit:
    """An account quota as a token bucket over wall-clock time (the agent paces in real seconds)."""

    operations: frozenset[str]  # operation keys ("lambda.ListFunctions"); empty = every call of `service`
    service: str
    excluded: frozenset[str]
    rate: float
    burst: float
    tokens: float
    last: float

    def matches(self, call: Call) -> bool:
        if self.operations:
            return call.key in self.operations
        return call.service == self.service and call.key not in self.excluded

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


# Lambda's documented control-plane quotas: 15 requests/s, except GetFunction (100/s); Invoke is data plane.
LAMBDA_DATA_PLANE = frozenset({"lambda.Invoke", "lambda.InvokeAsync", "lambda.InvokeWithResponseStream"})
LAMBDA_QUOTAS: tuple[tuple[frozenset[str], float], ...] = (
    (frozenset({"lambda.GetFunction"}), 100.0),
    (frozenset[str](), 15.0),  # everything else in the control plane
)


class FaultInjector:
    def __init__(self, seed: int = 0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._faults: list[Fault] = []
        self._limits: list[RateLimit] = []
        self._rng = random.Random(seed)
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.fired: list[str] = []  # operation keys that got a fault, in order (observable by tests)

    def limit(
        self, service: str, operations: frozenset[str], rate: float, excluded: frozenset[str] = frozenset()
    ) -> None:
        """Throttle calls beyond `rate` per second (burst `rate`), as an AWS account quota does."""
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests per second, not {rate}")
        now = self._monotonic()
        with self._lock:
            self._limits.append(RateLimit(operations, service, excluded, rate, rate, rate, now))

    def enforce_lambda_quotas(self) -> None:
        special = frozenset[str]().union(*(ops for ops, _ in LAMBDA_QUOTAS))
        for operations, rate in LAMBDA_QUOTAS:
            self.limit("lambda", operations, rate, excluded=special | LAMBDA_DATA_PLANE)

    def add(
        self,
        operation: str,
        kind: FaultKind,
        *,
        count: int | None = None,
        rate: float | None = None,
        function: str | None = None,
        after: int = 0,
    ) -> None:
        if kind not in ("throttle", "5xx"):
            raise ValueError(f"fault kind must be 'throttle' or '5xx', not {kind!r}")
        if (count is None) == (rate is None):
            raise ValueError("give exactly one of count (next N calls) or rate (probability per call)")
        if count is not None and count < 1:
            raise ValueError(f"count must be at least 1, not {count}")
        if rate is not None and not 0.0 < rate <= 1.0:
            raise ValueError(f"rate must be in (0, 1], not {rate}")
        if after < 0:
            raise ValueError(f"after must be at least 0, not {after}")
        with self._lock:
            self._faults.append(Fault(operation, kind, count, rate, function, after))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._limits.clear()
            self.fired.clear()

    def check(self, call: Call) -> Reply | None:
        """The error reply for this call if a fault fires, else None."""
        with self._lock:
            fault = next((f for f in self._faults if f.matches(call) and self._fires(f)), None)
            kind: FaultKind | None = fault.kind if fault is not None else None
            if kind is None and not self._within_limits(call):
                kind = "throttle"
            if kind is None:
                return None
            self.fired.append(call.key)
        return error_for(call, kind)

    def _within_limits(self, call: Call) -> bool:
        now = self._monotonic()
        return all(limit.take(now) for limit in self._limits if limit.matches(call))

    def _fires(self, fault: Fault) -> bool:
        if fault.after:
            fault.after -= 1
            return False
        if fault.count is not None:
            fault.count -= 1
            if fault.count == 0:
                self._faults.remove(fault)
            return True
        return self._rng.random() < (fault.rate or 0.0)


def error_for(call: Call, kind: FaultKind) -> Reply:
    if kind == "throttle":
        code, status = THROTTLE_CODES.get(call.service, DEFAULT_THROTTLE)
        message = "Rate exceeded"
    else:
        code, status = SERVER_ERROR_CODES.get(call.service, DEFAULT_SERVER_ERROR)
        message = "An internal error occurred (injected by the twin)"
    reply = aws_error(call, code, message, status)
    if kind == "throttle" and call.service == "lambda":
        reply.headers.append(("Retry-After", "1"))  # Lambda tells callers when to come back
    return reply
