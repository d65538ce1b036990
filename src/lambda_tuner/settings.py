"""Settings of each Lambda function: one pydantic model each, read from the environment once per container.

Names match the environment variables that template.yaml sets (prefix `LT_`). Required values have no
default: a missing one fails the cold start with a clear message instead of running half-configured.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from lambda_tuner.core.models import DEFAULT_P99_ALLOWANCE, MAX_P99_ALLOWANCE, Mode


class _Base(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LT_", frozen=True, extra="ignore")

    state_table: str
    audit_table: str


class AgentSettings(_Base):
    mode: Mode = "recommend"
    tag_prefix: str = "lambda-tuner:"
    lookback_days: int = Field(default=14, ge=1, le=63)
    topic_arn: str
    secret_arn: str
    approval_base_url: str
    apply_function: str
    kill_switch_parameter: str | None = None
    token_ttl_hours: int = Field(default=72, ge=1, le=24 * 14)
    allow_iac_changes: bool = False
    control_plane_rps: float = Field(default=5.0, gt=0, le=15)
    max_changes_per_cycle: int = Field(default=5, ge=0)
    max_step_factor: float = Field(default=2.0, ge=1.0)
    # The default strategy's set fraction: how much worse p99 may get (a function's tag overrides it)
    p99_allowance: float = Field(default=DEFAULT_P99_ALLOWANCE, ge=0.0, le=MAX_P99_ALLOWANCE)
    change_window_utc: str | None = None  # e.g. "02:00-05:00"; auto mode applies only inside it
    time_zone: str = "UTC"  # IANA name: provisioned-concurrency schedules follow the team's day
    # Functions billed under this are watched but their duration metrics are not read (cost ≤ 1 % of savings)
    min_monthly_bill_usd: float = Field(default=1.0, ge=0)
    # The agent's own memory, for its self-accounting: Lambda sets this variable in every function
    agent_memory_mb: int = Field(default=2048, ge=128, validation_alias=AliasChoices(
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "LT_AGENT_MEMORY_MB"))
    # A scheduled event older than this is refused (core.events.untimely): the agent's EventInvokeConfig
    # lets one wait 3,600 s, plus a quarter of an hour. 0 turns the check off (the twin's simulated days).
    max_event_age_s: int = Field(default=4500, ge=0)
    exclude_functions: str = ""  # comma-separated: the tool's own functions are never tuned by themselves


class ApprovalSettings(_Base):
    secret_arn: str
    apply_function: str


class ApplySettings(_Base):
    topic_arn: str
    tag_prefix: str = "lambda-tuner:"  # a function's mode tag is re-read just before each change
    allow_iac_changes: bool = False
    alarm_action_arn: str | None = None  # where rollback alarms send (this function's own ARN)
    alarm_name_prefix: str = "lambda-tuner-rollback-"  # the template scopes alarm permissions to it
    kill_switch_parameter: str | None = None
    # A request whose time is further than this from the clock is refused (core.events.untimely): its
    # records would be filed at that time. The agent's tick may be 4,500 s late, its cycle run 900 s, and
    # the request wait 3,600 s more in this function's queue; so three hours. 0 turns the check off (the
    # twin's simulated days).
    max_event_age_s: int = Field(default=10_800, ge=0)
