"""Fleets of simulated functions: a hand-made demo account and cheap large fleets for benchmarks.

`demo_fleet` tells a story per function (see each `description`): big savings from over-provisioned
I/O-bound functions, faster-and-cheaper raises for starved CPU-bound ones, idle and diurnal provisioned
concurrency, functions the agent must leave alone or treat with care. It uses the shared measured curves
and the Azure 2019 trace when they are present, built-in shapes and patterns otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from lambda_tuner.twin import shapes, traffic
from lambda_tuner.twin.azure_trace import load_trace
from lambda_tuner.twin.curves import Curve, load_curves
from lambda_tuner.twin.sampling import stable_key
from lambda_tuner.twin.shapes import DurationCurve
from lambda_tuner.twin.spec import LATEST, AliasSpec, FunctionSpec
from lambda_tuner.twin.traffic import Traffic

__all__ = ["AliasSpec", "FunctionSpec", "demo_fleet", "scaled_fleet"]

_SHARED = Path("..") / "shared" / "data"
_PROJECT = Path(__file__).resolve().parents[3]
P = "lambda-tuner:"


def _find(relative: str) -> Path | None:
    for root in (Path.cwd() / _SHARED, _PROJECT / _SHARED):
        if (root / relative).exists():
            return root / relative
    return None


def demo_fleet(seed: int = 7, curves_path: Path | None = None,
               trace_dir: Path | None = None) -> list[FunctionSpec]:
    """About 40 functions that make a good demo; deterministic per seed."""
    curves = _curves(curves_path)
    busy = _trace_traffic(trace_dir, seed)

    def t(name: str) -> int:
        return stable_key(seed, "demo", name)

    def curve(function_id: str, fallback: DurationCurve) -> DurationCurve:
        found = curves.get(function_id)
        return shapes.Extrapolated(found) if found else fallback

    def trace_or(i: int, fallback: Traffic) -> Traffic:
        return busy(i) or fallback

    cfn = {"aws:cloudformation:stack-name": "shop-prod", "aws:cloudformation:logical-id": "Fn"}
    sam = cfn | {"lambda:createdBy": "SAM"}
    return [
        # --- over-provisioned, I/O-bound: large savings
        FunctionSpec("orders-api", shapes.io_bound(110), trace_or(0, traffic.steady(40, t("o"))), 3008,
                     tags=sam, description="I/O-bound at 3 GB: memory buys nothing; large saving"),
        FunctionSpec("webhook-relay", shapes.io_bound(80, 2), traffic.steady(25, t("w")), 2048,
                     description="I/O-bound at 2 GB; large saving"),
        FunctionSpec("email-sender", shapes.io_bound(220, 4), traffic.diurnal(8, 3, 9, 0.5, t("e")), 1536,
                     log_format="JSON", description="I/O-bound at 1.5 GB, JSON logs"),
        FunctionSpec("inventory-sync", shapes.io_bound(450, 6), trace_or(1, traffic.steady(12, t("i"))), 4096,
                     arch="arm64", description="I/O-bound at 4 GB on arm64"),
        FunctionSpec("audit-writer", shapes.io_bound(35, 1), traffic.steady(60, t("a")), 1024,
                     tags=cfn, description="CloudFormation-managed, over-provisioned: change the template"),
        # --- under-provisioned, CPU-bound: faster and cheaper when raised
        FunctionSpec("image-resize", curve("epsagon_fibonacci_2018", shapes.cpu_bound(48, gc_mb=150)),
                     traffic.steady(15, t("ir")), 128, noise=0.2,
                     description="CPU-bound at 128 MB: raising memory is faster and cheaper"),
        FunctionSpec("pdf-render", curve("primes_jconning_run20", shapes.cpu_bound(1100)),
                     trace_or(2, traffic.steady(4, t("pr"))), 256, timeout_s=60, noise=0.25,
                     description="CPU-bound at 256 MB, noisy"),
        FunctionSpec("hash-worker", shapes.cpu_bound(300, gc_mb=250), traffic.steady(20, t("hw")), 256,
                     arch="arm64", description="CPU-bound and starved at 256 MB on arm64: faster and cheaper "
                     "when raised"),
        FunctionSpec("report-builder", curve("primes_jconning_aws", shapes.cpu_bound(1300)),
                     traffic.diurnal(3, 5, 8, 0.3, t("rb")), 512, timeout_s=120, tags=sam,
                     description="CPU-bound at 512 MB, SAM-managed"),
        FunctionSpec("score-calculator", curve("primes_jconning_run1000", shapes.cpu_bound(1400, gc_mb=300)),
                     traffic.steady(2, t("sc")), 128, timeout_s=120, insights=True, cpu_fraction=0.95,
                     description="CPU-bound at 128 MB with Lambda Insights"),
        # --- right-sized or mixed
        FunctionSpec("search-api", shapes.mixed(60, 90), trace_or(3, traffic.steady(30, t("sa"))), 1024,
                     description="mixed work, near its sweet spot"),
        FunctionSpec("geo-lookup", shapes.mixed(25, 40), traffic.steady(50, t("gl")), 512, arch="arm64",
                     log_format="JSON", description="mixed, arm64, JSON logs"),
        FunctionSpec("notify-push", shapes.io_bound(60), trace_or(4, traffic.steady(10, t("np"))), 128,
                     description="already at the minimum: keep"),
        # --- multi-threaded
        FunctionSpec("video-transcode", shapes.multi_threaded(9000, 6), traffic.steady(0.5, t("vt")), 3008,
                     timeout_s=300, cpu_fraction=0.9, insights=True,
                     description="multi-threaded: keeps gaining up to 10 GB"),
        FunctionSpec("ml-batch-infer", shapes.multi_threaded(4000, 4), traffic.spiky(0.1, 20, 2, 15, t("ml")),
                     1769, timeout_s=300, description="4 threads, spiky traffic"),
        # --- memory-hungry near the OOM floor
        FunctionSpec("etl-pandas", shapes.memory_hungry(700, 900), traffic.steady(3, t("et")), 1024,
                     mem_base_mb=870, timeout_s=120, description="works at 1 GB, fails below ~900 MB"),
        FunctionSpec("jvm-reporting", shapes.memory_hungry(400, 600), traffic.steady(2, t("jr")), 768,
                     runtime="java21", init_ms=1800, mem_base_mb=580, mem_growth_mb_per_gb=20,
                     description="JVM near its OOM floor of 600 MB"),
        # --- rare traffic: insufficient data
        FunctionSpec("nightly-cleanup", shapes.io_bound(900), traffic.rare(1, t("nc")), 2048,
                     description="once a day: insufficient data"),
        FunctionSpec("admin-export", shapes.mixed(300, 500), traffic.rare(3, t("ae")), 3008,
                     description="a few calls a day"),
        FunctionSpec("quarterly-audit", shapes.io_bound(2000), traffic.rare(0.05, t("qa")), 1024,
                     description="almost never runs"),
        # --- aliases
        FunctionSpec("checkout", shapes.mixed(70, 60), traffic.steady(35, t("co")), 1024, tags=sam,
                     aliases=(AliasSpec("live", "3", routing=(("4", 0.1),)),), invoked=(("live", 1.0),),
                     description="alias with a 10 % canary to version 4"),
        FunctionSpec("payments", shapes.io_bound(180, 8), traffic.steady(20, t("pa")), 2048,
                     aliases=(AliasSpec("prod", "7"),), invoked=(("prod", 0.9), (LATEST, 0.1)),
                     description="alias prod serves 90 %, $LATEST 10 %"),
        FunctionSpec("cart", shapes.mixed(40, 30), traffic.steady(18, t("ca")), 1536,
                     aliases=(AliasSpec("live", "12"), AliasSpec("staging", "13")), invoked=(("live", 1.0),),
                     description="traffic on alias live; staging idle"),
        # --- idle provisioned concurrency
        FunctionSpec("legacy-auth", shapes.io_bound(90), traffic.steady(0.5, t("la")), 512,
                     aliases=(AliasSpec("live", "5", pc=10),), invoked=(("live", 1.0),),
                     description="PC 10 on live, almost unused"),
        FunctionSpec("catalog-search", shapes.mixed(50, 50), traffic.steady(2, t("cs")), 1024,
                     aliases=(AliasSpec("live", "9", pc=20),), invoked=(("live", 1.0),), tags=cfn,
                     description="PC 20 idle on a CloudFormation-managed alias"),
        FunctionSpec("quotes-api", shapes.io_bound(70), traffic.steady(0.5, t("qa")), 512,
                     aliases=(AliasSpec("live", "3", pc=10, scaled_by="pc-utilisation"),),
                     invoked=(("live", 1.0),),
                     description="PC 10 barely used, but the team's own target tracking scales it"),
        FunctionSpec("signup", shapes.io_bound(150), traffic.rare(40, t("su")), 512,
                     aliases=(AliasSpec("live", "2", pc=5),), invoked=(("live", 1.0),),
                     description="PC 5 for a rarely used function"),
        FunctionSpec("hourly-export", shapes.io_bound(3000), traffic.hourly(0.2, 400, 0, t("rb")), 1024,
                     aliases=(AliasSpec("live", "6", pc=20),), invoked=(("live", 1.0),),
                     tags={P + "cold-start-objective": "usd-per-cold-start=0.01"},
                     description="hourly cron burst at :00 (20 environments for a minute), PC 20 all day"),
        # --- strong daily pattern plus PC
        FunctionSpec("storefront-api", shapes.mixed(45, 35), traffic.diurnal(3000, 6, 14, 0.7, t("sf")), 1024,
                     aliases=(AliasSpec("live", "21", pc=8),), invoked=(("live", 1.0),),
                     init_ms=700, description="busy diurnal API: PC 8 fits the peak, idles at night"),
        FunctionSpec("mobile-bff", shapes.io_bound(120, 10), traffic.diurnal(1500, 8, 18, 0.8, t("mb")), 768,
                     aliases=(AliasSpec("live", "4", pc=6),), invoked=(("live", 1.0),), init_ms=900,
                     tags={P + "cold-start-objective": "p99"}, description="diurnal with PC"),
        FunctionSpec("ticketing", shapes.mixed(80, 60), traffic.diurnal(800, 10, 10, 0.2, t("tk")), 1024,
                     aliases=(AliasSpec("live", "2", pc=4),), invoked=(("live", 1.0),), log_format="JSON",
                     description="office-hours traffic with PC all night"),
        # --- SnapStart, Insights, logging variants
        FunctionSpec("java-orders", shapes.mixed(60, 120), traffic.steady(6, t("jo")), 2048, runtime="java21",
                     snapstart=True, init_ms=2600, aliases=(AliasSpec("live", "3"),),
                     invoked=(("live", 1.0),),
                     description="SnapStart: restores instead of inits"),
        FunctionSpec("quiet-logger", shapes.io_bound(70), traffic.steady(10, t("ql")), 1024,
                     log_format="JSON", system_log_level="WARN",
                     description="JSON logs at WARN: no REPORT records"),
        FunctionSpec("worker-a", shapes.mixed(30, 80), traffic.steady(5, t("wa")), 1024,
                     log_group="/app/shared-workers", description="shares a custom log group"),
        FunctionSpec("worker-b", shapes.mixed(30, 200), traffic.steady(5, t("wb")), 2048,
                     log_group="/app/shared-workers", log_format="Text",
                     description="shares a custom log group"),
        FunctionSpec("stream-processor", shapes.mixed(20, 60), traffic.steady(120, t("sp")), 512,
                     arch="arm64", log_format="JSON", insights=True, cpu_fraction=0.6, app_log_bytes=800,
                     description="arm64, JSON logs, Lambda Insights"),
        FunctionSpec("batch-ingest", shapes.mixed(200, 400), traffic.spiky(0.2, 60, 4, 10, t("bi")), 1024,
                     description="spiky batches"),
        FunctionSpec("flaky-partner-sync", shapes.io_bound(400), traffic.steady(4, t("fp")), 1024,
                     error_rate=0.05, description="5 % errors from a partner API"),
        # --- tag overrides
        FunctionSpec("billing-core", shapes.io_bound(100), traffic.steady(8, t("bc")), 2048,
                     tags={P + "mode": "off"}, description="opted out by tag"),
        FunctionSpec("risk-engine", shapes.cpu_bound(250), traffic.steady(6, t("re")), 512,
                     tags={P + "strategy": "speed", P + "p99-ms": "400"}, description="speed strategy"),
        FunctionSpec("recommendations", shapes.mixed(80, 250), traffic.steady(12, t("rc")), 1024,
                     tags={P + "strategy": "balanced:0.3", P + "min-mb": "512", P + "max-mb": "2048",
                           P + "mode": "approve"}, description="balanced with memory bounds"),
        FunctionSpec("profile-service", shapes.io_bound(95), traffic.steady(9, t("ps")), 1536,
                     tags={P + "min-mb": "lots"}, description="invalid tag: changes disabled"),
    ]


def _curves(path: Path | None) -> dict[str, Curve]:
    found = path if path is not None else _find("lambda-curves/curves.csv")
    if found is None:
        return {}
    return {c.function_id: c for c in load_curves(found)}


def _trace_traffic(trace_dir: Path | None, seed: int) -> Callable[[int], Traffic | None]:
    """The i-th busiest trace function (busy enough to demo), or None without the trace."""
    folder = trace_dir if trace_dir is not None else _find("azure-functions-2019")
    if folder is None:
        return lambda i: None
    trace = load_trace(folder)
    totals = np.array([f.per_minute.sum() for f in trace.functions])
    ranked = [trace.functions[i] for i in np.argsort(-totals, kind="stable")]

    def pick(i: int) -> Traffic | None:
        return traffic.from_trace(ranked[i], seed=stable_key(seed, "trace", i)) if i < len(ranked) else None

    return pick


def scaled_fleet(n: int, seed: int = 1, *, versions_per_function: int = 0) -> list[FunctionSpec]:
    """n cheap, varied functions (1,000–10,000 for the collection benchmark); built-in shapes only.

    Mix: about half rare (a few calls a day), a third low steady traffic, the rest diurnal or spiky;
    ~5 % with an alias (a fifth of those with PC, so ~1 %), ~10 % JSON logs, ~10 % arm64, ~30 % IaC tags.
    `versions_per_function` K > 0: a version-heavy account (every deploy publishes a version): each
    function has K published versions (more if its alias names a higher one), all at its memory size;
    the fleet is otherwise the same, function for function (0: as many as the aliases need).
    """
    if n < 0 or versions_per_function < 0:
        raise ValueError(f"n and versions_per_function must be >= 0, got {n}, {versions_per_function}")
    rng = np.random.default_rng(seed)
    return [_scaled_one(i, rng, seed, versions_per_function) for i in range(n)]


def _scaled_one(i: int, rng: np.random.Generator, seed: int, published: int = 0) -> FunctionSpec:
    key = stable_key(seed, "scaled", i)
    kind = rng.choice(["io", "cpu", "mixed", "multi"], p=[0.45, 0.2, 0.3, 0.05])
    curve: DurationCurve = {
        "io": lambda: shapes.io_bound(float(rng.lognormal(4.5, 0.8))),
        "cpu": lambda: shapes.cpu_bound(float(rng.lognormal(4.0, 0.9))),
        "mixed": lambda: shapes.mixed(float(rng.lognormal(3.5, 0.7)), float(rng.lognormal(3.5, 0.8))),
        "multi": lambda: shapes.multi_threaded(float(rng.lognormal(6.0, 0.6)), float(rng.integers(2, 7))),
    }[str(kind)]()
    pattern = rng.random()
    if pattern < 0.5:
        flow: Traffic = traffic.rare(float(rng.lognormal(1.0, 1.2)), key)
    elif pattern < 0.83:
        flow = traffic.steady(float(rng.lognormal(-0.5, 1.3)), key)
    elif pattern < 0.95:
        flow = traffic.diurnal(float(rng.lognormal(0.5, 1.2)), float(rng.uniform(2, 8)),
                               float(rng.uniform(0, 24)), 0.6, key)
    else:
        flow = traffic.spiky(0.05, float(rng.lognormal(2.5, 0.8)), int(rng.integers(1, 5)), 10, key)
    aliases: tuple[AliasSpec, ...] = ()
    invoked: tuple[tuple[str, float], ...] = ((LATEST, 1.0),)
    if rng.random() < 0.05:
        pc = int(rng.integers(1, 6)) if rng.random() < 0.2 else 0
        aliases = (AliasSpec("live", str(int(rng.integers(1, 30))), pc=pc),)
        invoked = (("live", 1.0),)
    memory = int(rng.choice([128, 256, 512, 768, 1024, 1536, 2048, 3008]))
    return FunctionSpec(
        name=f"svc-{i:05d}-{kind}", curve=curve, traffic=flow, memory_mb=memory,
        arch="arm64" if rng.random() < 0.1 else "x86_64",
        log_format="JSON" if rng.random() < 0.1 else "Text",
        tags={"aws:cloudformation:stack-name": f"stack-{i % 97}"} if rng.random() < 0.3 else {},
        aliases=aliases, invoked=invoked, noise=float(rng.uniform(0.08, 0.35)),
        app_log_bytes=float(rng.lognormal(5.0, 1.0)), published=published,
    )
