"""The base install is the device install: no torch, and only `edgedistill*` in site-packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "optimum", "neural_compressor", "onnx", "datasets",
         "accelerate", "sentencepiece", "onnxruntime_extensions")

# Runs in a child interpreter where importing any heavy package fails, as on a Pi.
BLOCKED_IMPORTS = f"""
import sys, importlib.abc
HEAVY = {HEAVY!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in HEAVY:
            raise ModuleNotFoundError(f'No module named {{name!r}}', name=name)
sys.meta_path.insert(0, Block())
"""


def run_blocked(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKED_IMPORTS + code], capture_output=True,
                          text=True, cwd=PROJECT_ROOT.parent)


def test_runtime_and_env_work_with_heavy_packages_unimportable():
    result = run_blocked(
        "import edgedistill.runtime, edgedistill.export\n"
        "from edgedistill.cli import main\n"
        "try:\n    main(['env', '--json'], standalone_mode=False)\n"
        "except SystemExit as e:\n    assert not e.code\n"
        "leaked = [m for m in sys.modules if m.split('.')[0] in HEAVY]\n"
        "assert not leaked, leaked\n")
    assert result.returncode == 0, result.stderr
    assert '"cpu_flags"' in result.stdout


def test_teacher_command_without_torch_says_what_to_install():
    result = run_blocked("from edgedistill.cli import main\nmain(['teacher', 'e5-small'])\n")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "[distill]" in result.stderr.strip().splitlines()[-1]


def source_packages() -> set[str]:
    """Import names of every package folder in the tree (edgedistill/, export/, runtime/, ...)."""
    names = set()
    for top, import_name in (("edgedistill", "edgedistill"), ("export", "edgedistill.export"),
                             ("runtime", "edgedistill.runtime"),
                             ("benchmarks", "edgedistill.benchmarks")):
        for init in (PROJECT_ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(PROJECT_ROOT / top).parts
            names.add(".".join((import_name, *rel)))
    return names


@pytest.mark.slow
def test_clean_venv_base_install(tmp_path):
    """`pip install .` into an empty venv: no torch, runtime imports, `edgedistill env` runs."""
    source = tmp_path / "src"
    shutil.copytree(PROJECT_ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "__pycache__", "*.egg-info", "build", ".pytest_cache", "out", "runs"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    constraints = PROJECT_ROOT / "constraints.txt"
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-c",
                              str(constraints), str(source)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]

    site = Path(subprocess.check_output(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        text=True).strip())
    assert not (site / "torch").exists(), "the base install must not pull torch"
    assert not (site / "export").exists() and not (site / "runtime").exists()
    installed = {".".join(p.parent.relative_to(site).parts)
                 for p in (site / "edgedistill").rglob("__init__.py")}
    assert source_packages() <= installed, source_packages() - installed

    check = subprocess.run([str(python), "-c", "import edgedistill.runtime, sys; "
                            "assert 'torch' not in sys.modules"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    env = subprocess.run([str(env_dir / "bin" / "edgedistill"), "env"], capture_output=True,
                         text=True, cwd=tmp_path, env={**os.environ, "PATH": os.defpath})
    assert env.returncode == 0, env.stderr
    assert "[distill] missing torch" in env.stdout
