"""The architecture as executable rules: a pure core, the twin kept out of product code, thin handlers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "lambda_tuner"
FORBIDDEN_IN_CORE = (
    "boto3",
    "botocore",
    "lambda_tuner.adapters",
    "lambda_tuner.handlers",
    "lambda_tuner.twin",
    "lambda_tuner.cli",
    "requests",
    "urllib.request",
    "socket",
)
CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("time", "time"), ("date", "today")}


def modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def imported_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", modules("core"), ids=lambda p: p.name)
def test_core_modules_do_no_io_and_import_no_aws_sdk(path: Path) -> None:
    bad = {n for n in imported_names(path) for f in FORBIDDEN_IN_CORE if n == f or n.startswith(f + ".")}
    assert not bad, f"{path.name} imports {sorted(bad)}"
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert (node.value.id, node.attr) not in CLOCK_CALLS, f"{path.name} reads the clock"
            assert (node.value.id, node.attr) != ("os", "environ"), f"{path.name} reads the environment"


@pytest.mark.parametrize("layer", ["core", "adapters", "handlers"])
def test_product_code_never_imports_the_twin(layer: str) -> None:
    offenders = [
        p.name for p in modules(layer) if any(n.startswith("lambda_tuner.twin") for n in imported_names(p))
    ]
    assert offenders == []


def test_top_level_product_modules_never_import_the_twin() -> None:
    for path in PACKAGE.glob("*.py"):
        assert not any(n.startswith("lambda_tuner.twin") for n in imported_names(path)), path.name


@pytest.mark.parametrize(
    "path", [p for p in modules("handlers") if p.name != "__init__.py"], ids=lambda p: p.name
)
def test_handlers_stay_thin(path: Path) -> None:
    code_lines = [
        line for line in path.read_text().splitlines() if line.strip() and not line.strip().startswith("#")
    ]
    assert len(code_lines) <= 60, (
        f"{path.name} has {len(code_lines)} lines of code; move logic out of the handler"
    )


@pytest.mark.parametrize("module", ["lambda_tuner.handlers.approval", "lambda_tuner.handlers.apply"])
def test_lean_handlers_do_not_import_numpy_or_scipy(module: str) -> None:
    probe = (
        "import os, sys\n"
        "os.environ.update(LT_STATE_TABLE='s', LT_AUDIT_TABLE='a', LT_SECRET_ARN='x', LT_APPLY_FUNCTION='f',"
        " LT_TOPIC_ARN='t', AWS_DEFAULT_REGION='us-east-1')\n"
        f"import {module}\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'scipy'))\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{module} pulls in {out.stdout.strip()}"
