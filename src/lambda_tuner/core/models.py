"""The nouns of one agent cycle, as immutable values.

discover -> Inventory, collect -> Observations, model -> CurveFit, decide -> Recommendation,
apply -> ChangeResult, audit -> AuditRecord. Every module passes these around; none of them does I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Arch = Literal["x86_64", "arm64"]
Mode = Literal["off", "recommend", "approve", "auto"]
Strategy = Literal["default", "cost", "speed", "balanced"]
LogFormat = Literal["Text", "JSON"]

MIN_MEMORY_MB = 128
MAX_MEMORY_MB = 10_240
DEFAULT_P99_ALLOWANCE = 0.10  # the default strategy's: p99 may get 10 % worse than at the start
MAX_P99_ALLOWANCE = 0.5  # more reads like a per cent written as a fraction (0.5 meant as 0.5 %)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------- discovery


class AliasInfo(Frozen):
    name: str
    function_version: str
    routing: dict[str, float] = Field(default_factory=dict)  # additional version -> weight
    pc_requested: int | None = None
    pc_allocated: int | None = None
    pc_status: str | None = None  # READY | IN_PROGRESS | FAILED


class PcScaling(Frozen):
    """Application Auto Scaling's hold on PC, by resource "function:<name>:<qualifier>": `others` says who
    else scales it (a policy, or scheduled actions not the agent's); `ours`, where the agent's own
    scheduled actions are."""

    others: dict[str, str] = Field(default_factory=dict)
    ours: frozenset[str] = frozenset()
    # the agent's own actions there: the plan in place, which a new plan is judged against
    schedules: dict[str, tuple[PcScheduledAction, ...]] = Field(default_factory=dict)


class FunctionPolicy(Frozen):
    """Per-function overrides read from tags (prefix configurable). `errors` disables changes."""

    mode: Mode | None = None
    strategy: Strategy | None = None
    balanced_weight: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    p99_allowance: float | None = None  # default strategy: how much worse p99 may get (0.1 = 10 %)
    min_mb: int | None = None
    max_mb: int | None = None
    cold_start_objective: str | None = None
    errors: tuple[str, ...] = ()


class FunctionConfig(Frozen):
    name: str
    arn: str
    memory_mb: int
    timeout_s: int
    arch: Arch = "x86_64"
    runtime: str | None = None
    package_type: Literal["Zip", "Image"] = "Zip"
    ephemeral_mb: int = 512
    reserved_concurrency: int | None = None
    snapstart: bool = False
    log_group: str
    log_format: LogFormat = "Text"
    system_log_level: str | None = None
    last_modified: str | None = None
    revision_id: str | None = None
    code_sha256: str | None = None
    aliases: tuple[AliasInfo, ...] = ()
    pc_on_versions: dict[str, int] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    iac: str | None = None  # e.g. "cloudformation:my-stack" when managed by infrastructure as code
    policy: FunctionPolicy = FunctionPolicy()


class Inventory(Frozen):
    functions: tuple[FunctionConfig, ...]
    unreserved_concurrency: int | None = None
    errors: dict[str, str] = Field(default_factory=dict)  # function -> why it could not be read
    # Every function known to exist: the whole listing (excluded ones too), less those a read found
    # deleted. None when not known (no complete listing): then no function counts as deleted.
    listed: frozenset[str] | None = None


# ---------------------------------------------------------------- collection


class ReportStats(Frozen):
    """Facts only REPORT lines (or Lambda Insights) carry, for one function and one memory size."""

    invocations: int = 0
    cold_starts: int = 0
    init_ms_avg: float | None = None
    max_memory_used_mb_p99: float | None = None
    max_memory_used_mb_max: float | None = None
    billed_ms_avg: float | None = None
    cpu_ms_avg: float | None = None  # Lambda Insights cpu_total_time, when the function has it
    partial: bool = False


class Epoch(Frozen):
    """A stretch of time with one configuration, and what the function did in it."""

    memory_mb: int
    arch: Arch
    start: datetime
    end: datetime
    invocations: int
    duration_avg_ms: float | None = None
    duration_p50_ms: float | None = None
    duration_p95_ms: float | None = None
    duration_p99_ms: float | None = None
    duration_max_ms: float | None = None
    errors: int = 0
    throttles: int = 0
    periods: int = 0  # number of metric periods with data (a noise estimate needs several)
    duration_p99_spread_ms: float | None = None  # std-dev of per-period p99, a noise estimate
    duration_avg_spread_ms: float | None = None  # std-dev of per-period averages
    duration_avg_se_ms: float | None = None  # standard error of duration_avg_ms (calls-weighted periods)
    canary: bool = False  # a canary's trial version, beside the size in force in the same window
    reports: ReportStats | None = None


class ConcurrencySeries(Frozen):
    """Per-period maximum concurrency (and PC facts when an alias has PC)."""

    start: datetime
    period_s: int
    max_concurrency: tuple[float, ...]
    invocations: tuple[float, ...] = ()
    pc_utilization_max: tuple[float, ...] = ()
    pc_spillover: tuple[float, ...] = ()


class Observations(Frozen):
    function: str
    qualifier: str | None = None  # the alias or version that serves the traffic, if not $LATEST
    window_start: datetime
    window_end: datetime
    epochs: tuple[Epoch, ...] = ()
    concurrency: ConcurrencySeries | None = None
    status: Literal["ok", "insufficient", "error"] = "ok"
    reason: str | None = None


# ---------------------------------------------------------------- model and decision


class Interval(Frozen):
    """A projected quantity: expected value and a 90 % interval."""

    expected: float
    low: float
    high: float


class Projection(Frozen):
    memory_mb: int
    duration_ms: Interval
    p99_ms: Interval
    cost_per_invocation_usd: Interval
    monthly_cost_usd: Interval


class CurveFit(Frozen):
    function: str
    arch: Arch
    form: str  # name of the fitted functional form
    params: dict[str, float]
    covariance: tuple[tuple[float, ...], ...] = ()
    observed_sizes: tuple[int, ...]
    p99_ratio: float = 1.0  # p99 / mean, observed
    rel_noise: float = 0.0  # relative residual noise of the fit
    notes: tuple[str, ...] = ()


class ChartPoint(Frozen):
    """One point of the cost/duration-vs-memory chart, stored so pages can draw it without scipy."""

    memory_mb: int
    duration_ms: float
    duration_low_ms: float
    duration_high_ms: float
    monthly_cost_usd: float
    observed: bool = False


class Reason(Frozen):
    """Why. Rendered as is by the email, the page, the CLI and the audit record."""

    summary: str  # one line a person reads in the digest
    observed: str
    model: str
    decided_by: str  # the constraint or objective that decided
    alternatives: tuple[Projection, ...] = ()


RecommendationKind = Literal[
    "memory", "provisioned_concurrency", "experiment", "keep", "arm64_advice", "template_change",
    "insufficient_data",
]
RecommendationStatus = Literal[
    "PENDING", "APPROVED", "REJECTED", "EXPIRED", "APPLIED", "FAILED", "VERIFIED", "ROLLED_BACK",
    "RECORDED",
]


class PcScheduledAction(Frozen):
    """One Application Auto Scaling scheduled action for provisioned concurrency (min = max = capacity)."""

    name: str
    schedule: str  # e.g. "cron(0 8 ? * MON-FRI *)"
    timezone: str = "UTC"
    capacity: int = Field(ge=0)


# An experiment's limits travel with the change but are not settings a person compares old against new,
# nor a step the auto mode's guardrail measures.
EXPERIMENT_KEYS = frozenset(
    {
        "routing_weight",
        "canary_weight",
        "max_days",
        "max_extra_cost_usd",
        "stop_if_p99_ms_above",
        "stop_if_p99_ratio_above",
        "stop_if_mean_ms_above",
        "stop_if_mean_ratio_above",
        "stop_if_error_rate_above",
        "best_guess_mb",
    }
)


class Recommendation(Frozen):
    id: str
    function: str
    kind: RecommendationKind
    created_at: datetime
    current: dict[str, int | float | str | None]  # e.g. {"memory_mb": 1024}
    proposed: dict[str, int | float | str | None]  # e.g. {"memory_mb": 512}
    before: Projection | None = None
    after: Projection | None = None
    monthly_saving_usd: Interval | None = None
    latency_effect: str = ""
    confidence: Literal["low", "medium", "high"] = "low"
    reason: Reason
    revision_id: str | None = None
    qualifier: str | None = None
    chart: tuple[ChartPoint, ...] = ()
    status: RecommendationStatus = "PENDING"
    pc_schedule: tuple[PcScheduledAction, ...] = ()  # structured form of proposed["pc_schedule"]
    cold_start_rate_after: float | None = None  # PC plans: projected share of calls that start cold


# ---------------------------------------------------------------- apply and audit


class ChangeResult(Frozen):
    recommendation_id: str
    function: str
    ok: bool
    before: dict[str, int | float | str | None]
    after: dict[str, int | float | str | None]
    request_ids: tuple[str, ...] = ()
    message: str = ""


AuditType = Literal[
    "recommendation", "approval", "rejection", "change", "verification", "rollback", "refusal", "conflict",
    "revert",
]


class AuditRecord(Frozen):
    id: str
    seq: int
    type: AuditType
    at: datetime
    function: str | None = None
    recommendation_id: str | None = None
    caused_by: str | None = None
    actor: str = "agent"
    data: dict[str, object] = Field(default_factory=dict)
    prev_hash: str
    hash: str
