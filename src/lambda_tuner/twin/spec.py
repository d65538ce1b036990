"""`FunctionSpec`: the ground truth of one simulated function (what the agent must infer, never sees).

Re-exported by `twin.fleet`, which builds fleets of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from lambda_tuner.twin.sampling import EmpiricalNoise, LogNormalNoise, Noise
from lambda_tuner.twin.shapes import MAX_MB, MIN_MB, VCPU_MB, DurationCurve
from lambda_tuner.twin.traffic import Traffic

Arch = Literal["x86_64", "arm64"]
LogFormat = Literal["Text", "JSON"]
LATEST = "$LATEST"
# Measured relative deviations are used as the duration noise only when there are enough of them to
# give a believable p99; fewer samples fall back to the lognormal model with the spec's `noise`.
MIN_EMPIRICAL_SAMPLES = 20


@dataclass(frozen=True)
class AliasSpec:
    name: str
    version: str
    routing: tuple[tuple[str, float], ...] = ()  # additional version -> weight (0..1)
    pc: int = 0  # provisioned concurrency configured on this alias at the start
    scaled_by: str = ""  # a team's own target-tracking policy on this alias's PC (its name); "": none


@dataclass(frozen=True, eq=False)
class FunctionSpec:
    name: str
    curve: DurationCurve
    traffic: Traffic
    memory_mb: int = 1024
    arch: Arch = "x86_64"
    arm64_speed: float = 0.85  # duration factor on arm64 relative to the curve (measured on x86_64)
    timeout_s: int = 30
    runtime: str = "python3.12"
    init_ms: float = 300.0  # INIT duration at >= 1 vCPU; slower below, since init is partly CPU
    mem_base_mb: float = 70.0  # max memory used: base ...
    mem_growth_mb_per_gb: float = 0.0  # ... plus growth per GB configured (runtimes grow heaps to fit)
    noise: float = 0.15  # coefficient of variation of one call's duration (lognormal model)
    error_rate: float = 0.0
    log_format: LogFormat = "Text"
    system_log_level: str = "INFO"
    log_group: str | None = None  # None: the default /aws/lambda/<name>
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[AliasSpec, ...] = ()
    invoked: tuple[tuple[str, float], ...] = ((LATEST, 1.0),)  # qualifier -> share of the traffic
    snapstart: bool = False
    insights: bool = False  # Lambda Insights extension installed
    cpu_fraction: float = 0.5  # share of duration that is CPU time (Lambda Insights cpu_total_time)
    app_log_bytes: float = 200.0  # the function's own log bytes per invocation
    reserved_concurrency: int | None = None
    ephemeral_mb: int = 512
    description: str = ""  # what this function demonstrates
    published: int = 0  # versions published at the start; 0 (or fewer than the aliases name): as they need

    def __post_init__(self) -> None:
        if not MIN_MB <= self.memory_mb <= MAX_MB:
            raise ValueError(f"{self.name}: memory_mb must be within {MIN_MB}–{MAX_MB}")
        if self.arch not in ("x86_64", "arm64") or self.log_format not in ("Text", "JSON"):
            raise ValueError(f"{self.name}: bad arch {self.arch!r} or log format {self.log_format!r}")
        if not 0 <= self.error_rate <= 1 or self.noise < 0 or not 0 <= self.cpu_fraction <= 1:
            raise ValueError(f"{self.name}: error_rate and cpu_fraction must be in [0, 1], noise >= 0")
        if not math.isclose(sum(s for _, s in self.invoked), 1.0, abs_tol=1e-6):
            raise ValueError(f"{self.name}: invoked shares must sum to 1, got {self.invoked}")
        if self.published < 0:
            raise ValueError(f"{self.name}: published must be >= 0, got {self.published}")
        alias_names = {a.name for a in self.aliases}
        for qualifier, _ in self.invoked:
            if qualifier != LATEST and not qualifier.isdigit() and qualifier not in alias_names:
                raise ValueError(f"{self.name}: traffic goes to unknown qualifier {qualifier!r}")
        for alias in self.aliases:
            if sum(w for _, w in alias.routing) >= 1 or any(w < 0 for _, w in alias.routing):
                raise ValueError(f"{self.name}:{alias.name}: routing weights must be >= 0 and sum < 1")

    @property
    def log_group_name(self) -> str:
        return self.log_group or f"/aws/lambda/{self.name}"

    @property
    def emits_reports(self) -> bool:
        """JSON-format functions with system log level WARN or ERROR write no platform.report records."""
        return not (self.log_format == "JSON" and self.system_log_level.upper() in ("WARN", "ERROR"))

    @property
    def oom_floor_mb(self) -> int | None:
        floor = getattr(self.curve, "oom_floor_mb", None)
        return int(floor) if floor is not None else None

    @property
    def versions(self) -> tuple[str, ...]:
        """Published versions the aliases refer to at the start."""
        found = {a.version for a in self.aliases} | {v for a in self.aliases for v, _ in a.routing}
        found |= {q for q, _ in self.invoked if q.isdigit()}
        return tuple(sorted(found, key=int))

    @property
    def published_count(self) -> int:
        """How many versions are published at the start (numbered 1 up): `published`, or more when an alias
        (or the traffic) names a higher one."""
        return max(self.published, *(int(v) for v in self.versions), 0)

    def mean_ms(self, memory_mb: float) -> float:
        speed = self.arm64_speed if self.arch == "arm64" else 1.0
        return float(self.curve.duration(float(memory_mb))) * speed

    def init_at(self, memory_mb: float) -> float:
        return self.init_ms * (0.85 + 0.15 * math.sqrt(VCPU_MB / min(max(memory_mb, MIN_MB), VCPU_MB)))

    def max_memory_used(self, memory_mb: float) -> float:
        return min(float(memory_mb), self.mem_base_mb + self.mem_growth_mb_per_gb * memory_mb / 1024)

    def noise_model(self) -> Noise:
        """Noise of one call's duration around the curve's mean.

        From the curve's per-size samples when it has them: their empirical distribution with at least
        20 samples, a lognormal with their spread with fewer; otherwise a lognormal with cv=`noise`.
        """
        relative = getattr(self.curve, "relative_noise", None)
        ratios = np.asarray(relative(), dtype=float) if relative is not None else np.empty(0)
        if ratios.size >= MIN_EMPIRICAL_SAMPLES:
            return EmpiricalNoise(ratios)
        if ratios.size >= 2:  # a few samples: their spread, with a lognormal shape
            return LogNormalNoise(float(np.std(ratios / ratios.mean(), ddof=1)))
        return LogNormalNoise(self.noise)

    @property
    def p99_ratio(self) -> float:
        """p99 / mean of one call's duration, as the noise model implies."""
        return float(self.noise_model().ppf(np.array([0.99]))[0])
