"""Tiny bundles exported for Android, built once per test session for the Android demo's tests.

Two 2-layer XLM-R-style models with a SentencePiece tokenizer trained on real text (sequence and
token classification) go through the export stage's android target, as
`edgedistill export MODEL --out DIR --target android` does: model.onnx, tokenizer.json and the
ORT-format string-input model (tokenizer in the graph). Building them takes ~15 s on 2 cores, so
tests/test_android_*.py share one set through this module.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("sequence-classification", "token-classification")
MAX_LENGTH = 128


def load_demo_script(name: str):
    """Import android_demo/<name>.py (the folder is not a package)."""
    path = ROOT / "android_demo" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"android_demo_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def android_export_unavailable() -> str | None:
    """Why the export stage's android target cannot run here, or None if it can."""
    for module in ("torch", "onnx", "onnxruntime_extensions"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed, so no Android bundle can be exported here"
    try:
        from edgedistill.export.pipeline import TARGETS
    except ImportError as exc:
        return f"the export stage has no bundle pipeline yet ({exc})"
    if "android" not in TARGETS:
        return "the export stage has no android target yet (`edgedistill export --target android`)"
    return None


@functools.cache
def android_bundles() -> dict[str, Path]:
    """{task: bundle directory}, exported with target="android"; call android_export_unavailable first."""
    from edgedistill.export.pipeline import ExportOptions, export_bundle
    from edgedistill.fixtures import fixture_texts, tiny_model

    root = Path(tempfile.mkdtemp(prefix="edgedistill-android-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    texts = fixture_texts()
    tokenizer, bundles = None, {}
    for task in TASKS:
        tiny = tiny_model("xlmr", task, texts=texts, tokenizer=tokenizer, seed=1)
        tokenizer = tiny.tokenizer
        model_dir = tiny.save(root / f"{task}-model")
        bundles[task] = root / task
        export_bundle(str(model_dir), bundles[task], ExportOptions(target="android", max_length=MAX_LENGTH,
                                                                  validation_texts=texts[:8]))
    return bundles
