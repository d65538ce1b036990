"""The output of `sam build` is what Lambda will run: lean where it should be, arm64, precompiled, and
under the 250 MB unzipped limit. Sizes are printed for BENCHMARKS.md (run with -s to see them)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # bytes, code and layers together
EM_AARCH64 = 183  # ELF e_machine of 64-bit ARM
HANDLER_MODULES = {
    "AgentFunction": "lambda_tuner.handlers.agent",
    "ApprovalFunction": "lambda_tuner.handlers.approval",
    "ApplyFunction": "lambda_tuner.handlers.apply",
}
LEAN = ("ApprovalFunction", "ApplyFunction")
NOT_DEPLOYED = ("twin", "cli", "bench")

# Imports one handler module from a copy of the built package, with the named top-level packages made
# unimportable, and reports which numerical modules the import pulled in.
IMPORT_PROBE = """
import importlib, importlib.abc, json, sys
code_dir, blocked, module = sys.argv[1], set(filter(None, sys.argv[2].split(","))), sys.argv[3]
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in blocked):
            raise ImportError(f"{name} is not shipped with this function")
        return None
sys.meta_path.insert(0, Block())
sys.path.insert(0, code_dir)
importlib.import_module(module)
print(json.dumps({"file": sys.modules["lambda_tuner"].__file__,
                  "numeric": sorted({m.split(".")[0] for m in sys.modules} & {"numpy", "scipy"})}))
"""


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def _elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF file"
    return int.from_bytes(header[18:20], "little")


@pytest.mark.parametrize("function", sorted(HANDLER_MODULES))
def test_each_package_fits_lambdas_unzipped_limit(build_dir: Path, function: str) -> None:
    size = _size(build_dir / function)
    print(f"\n{function}: {size / 1e6:.1f} MB unzipped ({size / LAMBDA_UNZIPPED_LIMIT:.0%} of the limit)")
    assert 0 < size < LAMBDA_UNZIPPED_LIMIT


@pytest.mark.parametrize("function", LEAN)
def test_lean_functions_ship_no_numpy_or_scipy(build_dir: Path, function: str) -> None:
    shipped = {p.name.split("-")[0].lower() for p in (build_dir / function).iterdir()}
    assert not shipped & {"numpy", "scipy", "numpy.libs", "scipy.libs"}
    assert {"pydantic", "pydantic_settings", "aws_lambda_powertools", "jinja2"} <= shipped


def test_the_agent_ships_numpy_and_scipy_built_for_arm64_cp312(build_dir: Path) -> None:
    agent = build_dir / "AgentFunction"
    for package in ("numpy", "scipy"):
        extensions = list((agent / package).rglob("*.so"))
        assert extensions, f"no compiled extensions in {package}"
        assert all(e.name.endswith(".cpython-312-aarch64-linux-gnu.so") for e in extensions)
        assert {_elf_machine(e) for e in extensions[:20]} == {EM_AARCH64}
    # their own test suites are dropped at build time (they never run in Lambda)
    assert not list((agent / "scipy").rglob("tests"))


@pytest.mark.parametrize("function", sorted(HANDLER_MODULES))
def test_compiled_dependencies_are_arm64_everywhere(build_dir: Path, function: str) -> None:
    (core,) = (build_dir / function / "pydantic_core").glob("_pydantic_core*.so")
    assert core.name.endswith(".cpython-312-aarch64-linux-gnu.so")
    assert _elf_machine(core) == EM_AARCH64


@pytest.mark.parametrize("function", sorted(HANDLER_MODULES))
def test_every_module_is_precompiled_for_python312_independent_of_mtimes(
    build_dir: Path, function: str
) -> None:
    root = build_dir / function
    sources = list(root.rglob("*.py"))
    missing, checked = [], []
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
        if not pyc.exists():
            missing.append(str(source.relative_to(root)))
            continue
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        checked.append(flags)
    assert sources and missing == []
    # PEP 552 flags: bit 0 = hash-based, bit 1 = check source. 0b01 = unchecked hash: valid whatever
    # mtimes the zip round trip gives the .py files, so the read-only /var/task never needs a recompile.
    assert set(checked) == {0b01}


@pytest.mark.parametrize("function", sorted(HANDLER_MODULES))
def test_the_package_holds_the_handler_but_not_the_twin_cli_or_benchmarks(
    build_dir: Path, function: str
) -> None:
    package = build_dir / function / "lambda_tuner"
    assert (package / "handlers" / (HANDLER_MODULES[function].split(".")[-1] + ".py")).is_file()
    assert [name for name in NOT_DEPLOYED if (package / name).exists()] == []


@pytest.mark.parametrize("function", sorted(HANDLER_MODULES))
def test_each_handler_imports_from_its_package_alone(build_dir: Path, function: str, tmp_path: Path) -> None:
    # Given only the built lambda_tuner code (the compiled dependencies are arm64, so this x86 test uses
    # the dev venv's copies of the same pinned versions) and, for lean functions, no numpy/scipy at all
    shutil.copytree(build_dir / function / "lambda_tuner", tmp_path / "lambda_tuner")
    blocked = ["numpy", "scipy"] if function in LEAN else []
    blocked += [f"lambda_tuner.{name}" for name in NOT_DEPLOYED]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LT_"))}
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    # When the handler module is imported as Lambda's cold start would
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, str(tmp_path), ",".join(blocked), HANDLER_MODULES[function]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    # Then it imports, from the built copy, and defers scipy (0.4 s of import) to the first fit
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["file"].startswith(str(tmp_path))
    assert "scipy" not in report["numeric"]
