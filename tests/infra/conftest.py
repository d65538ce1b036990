"""Fixtures for the infrastructure tests: the template (as written and as SAM transforms it), the build
output of `sam build`, and the shared event fixtures in events/."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SAM_VENV = ROOT / ".venv-sam"
SAM_PYTHON = SAM_VENV / "bin" / "python"
BUILD_DIR = ROOT / ".aws-sam" / "build"
FUNCTIONS = ("AgentFunction", "ApprovalFunction", "ApplyFunction")


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that reads CloudFormation short-form tags (!Ref, !Sub, ...) as their long form."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """template.yaml as written (short-form tags expanded)."""
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


@pytest.fixture(scope="session")
def cfn() -> dict[str, Any]:
    """The CloudFormation template AWS's SAM transform produces (roles, URL permissions, invoke configs)."""
    if not SAM_PYTHON.exists():
        pytest.skip(".venv-sam is absent (make test creates it): cannot run the SAM transform")
    done = subprocess.run(
        [str(SAM_PYTHON), str(Path(__file__).with_name("sam_transform.py")), str(ROOT / "template.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"SAM transform failed:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout)


@pytest.fixture(scope="session")
def build_dir() -> Path:
    """The output of `sam build` (make test runs it before pytest)."""
    if not (BUILD_DIR / "template.yaml").exists():
        pytest.skip(".aws-sam/build is absent: run `make build` (needs python3.12) before these tests")
    return BUILD_DIR


@pytest.fixture(scope="session")
def load_event() -> Any:
    """Read events/<name>.json with its placeholders (TOKEN, REC_ID, ...) replaced."""

    def load(name: str, **placeholders: str) -> dict[str, Any]:
        text = (ROOT / "events" / f"{name}.json").read_text()
        for key, value in placeholders.items():
            text = text.replace(key, value)
        return json.loads(text)

    return load
