#!/usr/bin/env python3
"""Package sizes of the three functions and the cold import time of each handler, for BENCHMARKS.md.

Sizes come from `.aws-sam/build` (run `make build` first). Import times need python3.12 (the Lambda
runtime's version) on PATH: `make measure` puts pyenv's there. Lambda runs the arm64 package; an x86_64
host cannot load its compiled modules, so this script builds an x86_64 copy with the very same recipe
(src/Makefile, ARCH=x86_64: same pins, same stripping, same unchecked-hash bytecode) and times that.
Absolute times therefore describe this machine, not a Lambda arm64 core; the comparisons (lean vs full,
with vs without .pyc, what scipy costs when the first fit imports it) carry over.

Usage: scripts/measure_packages.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".aws-sam" / "build"
LIMIT = 250 * 1024 * 1024
HANDLERS = {
    "AgentFunction": "lambda_tuner.handlers.agent",
    "ApprovalFunction": "lambda_tuner.handlers.approval",
    "ApplyFunction": "lambda_tuner.handlers.apply",
}
# Runs in a fresh, isolated python3.12: the time of importing one module from the package directory.
# The runtime's boto3 comes after the package on sys.path, as /var/runtime does after /var/task.
PROBE = (
    "import sys, time, importlib; sys.path[:0] = [sys.argv[1], sys.argv[2]]; t = time.perf_counter(); "
    "importlib.import_module(sys.argv[3]); print((time.perf_counter() - t) * 1000)"
)


def package_sizes() -> dict[str, dict[str, Any]]:
    sizes: dict[str, dict[str, Any]] = {}
    for function in HANDLERS:
        root = BUILD / function
        if not root.is_dir():
            raise SystemExit(f"{root} is missing: run `make build` first")
        files = [f for f in root.rglob("*") if f.is_file()]
        by_top: dict[str, int] = {}
        for f in files:
            top = f.relative_to(root).parts[0]
            by_top[top] = by_top.get(top, 0) + f.stat().st_size
        total = sum(by_top.values())
        largest = sorted(by_top.items(), key=lambda kv: -kv[1])[:4]
        sizes[function] = {
            "bytes": total,
            "files": len(files),
            "share_of_limit": total / LIMIT,
            "largest": dict(largest),
        }
    return sizes


def build_host_copy(function: str, into: Path) -> Path:
    target = into / function
    target.mkdir(parents=True)
    subprocess.run(  # noqa: S603 - this repository's build recipe
        [
            shutil.which("make") or "make",
            "-s",
            "-f",
            str(ROOT / "src" / "Makefile"),
            f"build-{function}",
            "ARCH=x86_64",
            f"ARTIFACTS_DIR={target}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return target


def runtime_sdk(python: str, into: Path) -> Path:
    """boto3 at the dev pin, precompiled: a stand-in for the SDK the python3.12 runtime provides."""
    pin = next(
        line
        for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
        if line.startswith("boto3==")
    )
    target = into / "runtime"
    subprocess.run(  # noqa: S603 - pip of the measuring interpreter
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--root-user-action=ignore",
            "--target",
            str(target),
            pin,
        ],
        check=True,
    )
    subprocess.run([python, "-m", "compileall", "-q", str(target)], check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    return target


def without_bytecode(package: Path, into: Path) -> Path:
    copy = into / (package.name + "-nopyc")
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def time_import(
    python: str, package: Path, sdk: Path, module: str, runs: int, *, bytecode: bool = True
) -> dict[str, float]:
    flags = ["-I"] + ([] if bytecode else ["-B"])  # -B: never write .pyc, as on read-only /var/task
    env = {"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "us-east-1"}
    imports, processes = [], []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(  # noqa: S603 - a fixed probe in python3.12
            [python, *flags, "-c", PROBE, str(package), str(sdk), module],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        processes.append((time.perf_counter() - started) * 1000)
        imports.append(float(done.stdout.strip().splitlines()[-1]))
    return {
        "import_ms_median": statistics.median(imports),
        "import_ms_min": min(imports),
        "import_ms_max": max(imports),
        "process_ms_median": statistics.median(processes),
        "runs": runs,
    }


def measure_imports(runs: int) -> dict[str, dict[str, Any]]:
    python = shutil.which("python3.12")
    if python is None:
        raise SystemExit("python3.12 is not on PATH (use `make measure`)")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="lt-measure-") as tmp:
        sdk = runtime_sdk(python, Path(tmp))
        for function, module in HANDLERS.items():
            package = build_host_copy(function, Path(tmp))
            results[function] = {
                "handler": time_import(python, package, sdk, module, runs),
                "handler_without_pyc": time_import(
                    python, without_bytecode(package, Path(tmp)), sdk, module, runs, bytecode=False
                ),
            }
            if function == "AgentFunction":  # what the first curve fit adds, lazily
                results[function]["scipy_optimize"] = time_import(
                    python, package, sdk, "scipy.optimize", runs
                )
    return results


def render(sizes: dict[str, dict[str, Any]], imports: dict[str, dict[str, Any]]) -> str:
    lines = ["| function | unzipped | of 250 MB | files | largest parts |", "|---|---:|---:|---:|---|"]
    for function, s in sizes.items():
        parts = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in s["largest"].items())
        lines.append(
            f"| {function} | {s['bytes'] / 1e6:.1f} MB | {s['share_of_limit']:.0%} | {s['files']} | {parts} |"
        )
    lines += [
        "",
        "| function | what | import median (min-max) | whole process median |",
        "|---|---|---:|---:|",
    ]
    for function, variants in imports.items():
        for what, t in variants.items():
            lines.append(
                f"| {function} | {what} | {t['import_ms_median']:.0f} ms ({t['import_ms_min']:.0f}-"
                f"{t['import_ms_max']:.0f}) | {t['process_ms_median']:.0f} ms |"
            )
    runs = next(iter(next(iter(imports.values())).values()))["runs"]
    lines.append(
        f"\n{runs} fresh python3.12 processes each, x86_64 host ({os.cpu_count()} CPUs), "
        f"python {sys.version.split()[0]} driver."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per measurement (median)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown tables")
    args = parser.parse_args()
    sizes = package_sizes()
    imports = measure_imports(args.runs)
    print(json.dumps({"sizes": sizes, "imports": imports}, indent=2) if args.json else render(sizes, imports))


if __name__ == "__main__":
    main()
