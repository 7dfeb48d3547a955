"""The tree stays ruff-clean and the runtime stays torch-free, checked on every test run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
HEAVY = re.compile(r"^\s*(?:import|from)\s+(torch|transformers|optimum|neural_compressor|onnx\b|"
                   r"datasets|accelerate|edgedistill\b)[\w.]*", re.MULTILINE)


def test_ruff_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it comes with the [dev] extra)")
    result = subprocess.run([ruff, "check", "--output-format", "concise", str(PROJECT_ROOT)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_runtime_imports_nothing_heavy_nor_the_project():
    """runtime/ may use onnxruntime, tokenizers, numpy and the standard library, nothing else."""
    for path in (PROJECT_ROOT / "runtime").rglob("*.py"):
        offending = [m.group(0).strip() for m in HEAVY.finditer(path.read_text())
                     if not m.group(0).split()[-1].startswith("edgedistill.runtime")]
        assert not offending, f"{path}: {offending}"


# The places in the core allowed to import the stages built on top of it: the CLI wires the stage
# commands together (lazily), and edgedistill/chain (`edgedistill run`) composes every stage into one
# run, which it cannot do without calling them.
STAGE_COMPOSERS = (PROJECT_ROOT / "edgedistill" / "cli.py", PROJECT_ROOT / "edgedistill" / "chain")


def test_core_imports_neither_export_nor_runtime():
    """Dependency direction: the core never imports the stages built on top of it."""
    pattern = re.compile(r"^\s*(import|from)\s+edgedistill\.(export|runtime|benchmarks)\b", re.MULTILINE)
    for path in (PROJECT_ROOT / "edgedistill").rglob("*.py"):
        if any(path == place or place in path.parents for place in STAGE_COMPOSERS):
            continue
        assert not pattern.search(path.read_text()), path


def _imports(module: str) -> re.Pattern:
    return re.compile(rf"^\s*(?:import|from)\s+{re.escape(module)}\b", re.MULTILINE)


def test_export_never_imports_the_chain():
    """The chain composes the stages; a stage calling back up into it would be a cycle."""
    for path in (PROJECT_ROOT / "export").rglob("*.py"):
        assert not _imports("edgedistill.chain").search(path.read_text()), path


def _sources_outside_tests() -> list[Path]:
    skipped = {"tests", "node_modules", "build"}
    return [path for path in PROJECT_ROOT.rglob("*.py")
            if not any(part in skipped or part.startswith(".")
                       for part in path.relative_to(PROJECT_ROOT).parts)]


def test_nothing_outside_tests_reaches_into_tests():
    """tests/ is not a library: what scripts and the package need from it belongs in the package."""
    helpers = sorted(path.stem for path in (PROJECT_ROOT / "tests").glob("*.py"))
    helper_import = re.compile(rf"^\s*(?:import|from)\s+(?:tests\b|{'|'.join(helpers)})\b", re.MULTILINE)
    tests_on_path = re.compile(r"sys\.path\.(?:insert|append)\([^)]*[\"'/]tests\b")
    for path in _sources_outside_tests():
        text = path.read_text()
        assert not helper_import.search(text) and not tests_on_path.search(text), path


def test_the_installed_harness_never_imports_the_chain():
    """edgedistill.benchmarks (benchmarks/*.py) measures models and bundles; the studies that run the
    chain are scripts in benchmarks/studies/, outside the installed package."""
    for path in (PROJECT_ROOT / "benchmarks").glob("*.py"):
        assert not _imports("edgedistill.chain").search(path.read_text()), path
