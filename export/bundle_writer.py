"""Write a bundle atomically: files into a temporary directory, the manifest last, a check with the
runtime that will run it, and only then the rename into place.

A crash at any point leaves no directory that looks like a bundle: the temporary one has a
``.partial-`` name and is removed on error (``edgedistill.atomic.atomic_directory``).
"""

from __future__ import annotations

import contextlib
import copy
import importlib.metadata
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgedistill.atomic import atomic_directory
from edgedistill.export.errors import ExportError
from edgedistill.runtime.bundle import Manifest, load_manifest, seal_bundle

PACKAGES = ("edgedistill", "torch", "transformers", "optimum-onnx", "onnx", "onnxruntime",
            "onnxruntime-extensions", "neural-compressor", "tokenizers")
VARIANT_FILES = {"ort": "model.ort", "string_input": "model.strings.onnx",
                 "string_input_ort": "model.strings.ort", "torchscript": "model.torchscript.pt"}
SMOKE_TEXTS = ("Ina son wannan waka sosai 😍", "Ọjọ́ ìbí mi ni òní.")
# Hugging Face's own description of the model and tokenizer, so that Optimum's ORTModel* classes and
# transformers' pipeline() open a bundle as it is. The runtime reads none of them; finish_bundle hashes
# them with every other file.
HF_FILES = ("config.json", "tokenizer_config.json", "special_tokens_map.json")


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return versions


@contextlib.contextmanager
def bundle_directory(dest: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """A temporary directory that becomes the bundle ``dest`` when the block ends without error."""
    dest = Path(dest)
    if dest.exists() and not overwrite:
        raise ExportError(f"{dest} already exists (another run may have just written it); pass --overwrite "
                          f"(overwrite=True in Python) to replace it")
    with atomic_directory(dest, overwrite=overwrite) as tmp:
        yield tmp


def write_hf_files(directory: Path, model, tokenizer, *, max_length: int) -> None:
    """config.json from ``model`` (its class as the architecture, so Optimum knows the task) and the
    tokenizer's tokenizer_config.json and special_tokens_map.json (its longest input set to the
    bundle's ``max_length``). tokenizer.json is not touched: the bundle's own copy is the contract."""
    config = copy.deepcopy(model.config)
    config.architectures = [type(model).__name__]
    config.to_json_file(str(directory / "config.json"))
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        tokenizer.save_pretrained(scratch, legacy_format=False)
        settings = json.loads((Path(scratch) / "tokenizer_config.json").read_text(encoding="utf-8"))
        settings["model_max_length"] = int(max_length)
        (directory / "tokenizer_config.json").write_text(
            json.dumps(settings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        shutil.copy(Path(scratch) / "special_tokens_map.json", directory / "special_tokens_map.json")


def copy_hf_files(source: Path, directory: Path) -> None:
    """The Hugging Face files of bundle ``source``, where it has them (bundles before them do not)."""
    for name in HF_FILES:
        if (source / name).is_file():
            shutil.copy(source / name, directory / name)


def finish_bundle(directory: Path, manifest: Manifest) -> Manifest:
    """Hash every file, write the manifest, and check the bundle with the runtime."""
    manifest.packages = {**package_versions(), **manifest.packages}
    seal_bundle(directory, manifest)
    check_bundle(directory)
    return manifest


def check_bundle(directory: str | Path) -> dict:
    """Load the bundle as a device would and run it: the runtime Predictor, and every variant."""
    directory = Path(directory)
    manifest = load_manifest(directory)
    result = {"predictor": _run_predictor(directory, manifest)}
    for key, name in manifest.variants.items():
        if key != "torchscript":
            result[key] = _run_variant(directory / name, manifest, strings=key.startswith("string_input"))
    return result


def _run_predictor(directory: Path, manifest: Manifest) -> str:
    from edgedistill.runtime import Predictor

    predictor = Predictor(directory, threads=1)
    texts = list(SMOKE_TEXTS)
    if manifest.task == "sequence-classification":
        return ", ".join(c.label for c in predictor.classify(texts))
    if manifest.task == "token-classification":
        return f"{sum(len(e) for e in predictor.tag(texts))} entities"
    vectors = predictor.embed(texts)
    if not np.all(np.isfinite(vectors)):
        raise ExportError(f"bundle {directory} gives non-finite embeddings")
    return f"embeddings {vectors.shape}"


def _run_variant(path: Path, manifest: Manifest, *, strings: bool) -> str:
    from edgedistill.export.validate import onnx_session

    try:
        session = onnx_session(path, custom_ops=strings)
        if strings:
            batch = 1 if session.get_inputs()[0].shape[0] == 1 else len(SMOKE_TEXTS)
            value = session.run(None, {"text": np.array(list(SMOKE_TEXTS)[:batch], dtype=object)})[0]
        else:
            ids = np.array([[0, 5, 6, 2]], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids),
                     "token_type_ids": np.zeros_like(ids)}
            names = {i.name for i in session.get_inputs()}
            value = session.run(None, {k: v for k, v in feeds.items() if k in names})[0]
    except Exception as exc:  # onnxruntime raises its own exception types
        first_line = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"variant {path.name} does not run: {first_line}") from None
    if not np.all(np.isfinite(value)):
        raise ExportError(f"variant {path.name} gives non-finite outputs")
    return f"output {list(value.shape)}"
