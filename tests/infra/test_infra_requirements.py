"""The install contract: one pin per package, lean functions without numpy/scipy, and the dev venv
running exactly the pinned versions."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = ("requirements-lean.txt", "requirements.txt", "requirements-dev.txt")
PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(?:\[(?P<extras>[^\]]+)\])?==(?P<version>[A-Za-z0-9_.+-]+)$")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lines(file: str) -> list[str]:
    lines = [line.split(" #")[0].strip() for line in (ROOT / file).read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _pins(file: str) -> dict[str, str]:
    pins = {}
    for line in _lines(file):
        if line.startswith(("-r ", "-e ")):
            continue
        match = PIN.match(line)
        assert match, f"{file}: '{line}' is not an exact pin (name==version)"
        pins[_normal(match["name"])] = match["version"]
    return pins


def test_every_package_is_pinned_exactly_once_across_the_files() -> None:
    seen: dict[str, str] = {}
    for file in FILES:
        for name in _pins(file):
            assert name not in seen, f"{name} is pinned in both {seen[name]} and {file}"
            seen[name] = file


def test_the_files_include_each_other_in_one_direction() -> None:
    assert "-r requirements-lean.txt" in _lines("requirements.txt")
    assert {"-r requirements.txt", "-e ."} <= set(_lines("requirements-dev.txt"))
    assert not any(line.startswith("-r") for line in _lines("requirements-lean.txt"))


def test_numpy_and_scipy_are_only_in_the_agents_file() -> None:
    assert not {"numpy", "scipy"} & set(_pins("requirements-lean.txt"))
    assert {"numpy", "scipy"} <= set(_pins("requirements.txt"))


def test_the_sdk_is_not_shipped_to_lambda() -> None:
    # the runtime provides boto3; bundling botocore would crowd the agent's 250 MB
    shipped = set(_pins("requirements-lean.txt")) | set(_pins("requirements.txt"))
    assert not {"boto3", "botocore", "s3transfer"} & shipped
    assert "boto3" in _pins("requirements-dev.txt")


def test_every_dependency_pyproject_declares_is_pinned() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {_normal(re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0]) for d in declared}
    pinned = {name for file in FILES for name in _pins(file)}
    assert names - pinned == set()


@pytest.mark.parametrize("file", FILES)
def test_the_dev_environment_runs_the_pinned_versions(file: str) -> None:
    wrong = {}
    for name, version in _pins(file).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "missing"
        if installed != version:
            wrong[name] = f"pinned {version}, installed {installed}"
    assert wrong == {}, "run `make venv` to sync the venv with the pins"
