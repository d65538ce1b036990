"""The local gate CI reuses: `make test` runs the steps in order and fails on the first error; `.ci/run`
is that command; samconfig.toml carries the build/validate/deploy defaults the docs promise."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _dry_run(target: str) -> list[str]:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    done = subprocess.run(
        [make, "-n", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "MAKEFLAGS": ""},
    )
    return done.stdout.splitlines()


def test_make_test_runs_lint_types_template_build_and_tests_in_that_order() -> None:
    commands = _dry_run("test")
    steps = ["ruff check src tests", ".venv/bin/mypy", "sam validate --lint", "sam build", ".venv/bin/pytest"]
    positions = [next((i for i, c in enumerate(commands) if step in c), -1) for step in steps]
    assert -1 not in positions, f"missing steps in: {commands}"
    assert positions == sorted(positions)
    # the SAM CLI lives in its own venv, pinned
    assert any("aws-sam-cli==1.170.0" in c for c in commands) or (ROOT / ".venv-sam").exists()


def test_every_recipe_line_fails_the_gate_on_error() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^\.SHELLFLAGS := -euo pipefail -c$", makefile, re.MULTILINE)
    # nothing swallows a step's status (pytest's 5 = no tests collected must fail too)
    assert "|| true" not in makefile
    assert not re.search(r"^\t[-@]*-", makefile, re.MULTILINE), "a recipe line ignores its errors"


def test_ci_runs_the_readme_test_command() -> None:
    script = ROOT / ".ci" / "run"
    text = script.read_text()
    assert os.access(script, os.X_OK)
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert re.search(r"^exec make test\b", text, re.MULTILINE)


def test_samconfig_holds_the_build_validate_and_deploy_defaults() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]
    assert config["build"]["parameters"] == {"cached": True, "parallel": True}
    assert config["validate"]["parameters"]["lint"] is True
    deploy = config["deploy"]["parameters"]
    assert deploy["stack_name"] == "lambda-tuner"
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["confirm_changeset"] is True
    assert deploy["resolve_s3"] is True  # the agent package is far above the 50 MB direct upload
