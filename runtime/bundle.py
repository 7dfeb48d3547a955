"""The bundle: the one contract between export, the runtime, the Pi, Android and the browser.

A bundle is a directory holding ``model.onnx`` (FP32 or INT8), ``tokenizer.json`` (trimmed,
consistent with the embedding rows), optional variants (``model.ort`` for ONNX Runtime Mobile, a
tokenizer-in-graph model for Android), and the manifest ``edgedistill.json``. The manifest states
what the model does and how to feed it, and the SHA-256 of every file; ``load_manifest`` refuses a
bundle that does not match it, with one sentence per failure.

This module is shared by the writer (``edgedistill.export``) and the reader (the runtime), so it
imports only the standard library.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

FORMAT_VERSION = 1
MANIFEST_NAME = "edgedistill.json"
TASKS = ("sequence-classification", "token-classification", "embedding")
POOLINGS = ("mean", "cls")


class BundleError(ValueError):
    """The bundle cannot be used; the message names the bundle and what is wrong with it."""


@dataclass
class Manifest:
    """What ``edgedistill.json`` holds. Paths are relative to the bundle directory."""

    task: str
    labels: list[str]
    max_length: int
    vocab_size: int  # rows of the model's input embedding table
    inputs: list[str]  # ONNX input names, e.g. ["input_ids", "attention_mask"]
    outputs: list[str]  # ONNX output names, e.g. ["logits"]
    model_file: str = "model.onnx"
    tokenizer_file: str = "tokenizer.json"
    format_version: int = FORMAT_VERSION
    pad_token_id: int | None = None  # None: taken from the tokenizer's <pad>/[PAD] token
    pooling: str | None = None  # embedding task: how token states become one vector
    normalize_embeddings: bool = False
    input_prefix: str = ""  # e.g. "query: " for e5 models
    quantization: dict | None = None  # None for FP32, else scheme and settings
    variants: dict[str, str] = field(default_factory=dict)  # e.g. {"ort": "model.ort"}
    # Shape of the encoder (layers, hidden_size, heads, intermediate_size, vocab_size) and its
    # parameter accounting (total, embeddings, non_embedding), so the benchmark harness can
    # report FLOPs and parameters on a device without torch or onnx installed.
    architecture: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)  # source model, recipe, display name
    metrics: dict = field(default_factory=dict)  # measured at export time, FP32 vs INT8
    packages: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # relative path -> SHA-256

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict, where: str = "manifest") -> Manifest:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BundleError(f"{where} has unknown keys {unknown}")
        try:
            manifest = cls(**data)
        except TypeError as exc:
            raise BundleError(f"{where} is missing required keys ({exc})") from None
        manifest.validate(where)
        return manifest

    def validate(self, where: str = "manifest") -> None:
        if self.task not in TASKS:
            raise BundleError(f"{where} has task {self.task!r}; expected one of {', '.join(TASKS)}")
        if self.task != "embedding" and not self.labels:
            raise BundleError(f"{where} is for {self.task} but lists no labels")
        if self.task == "embedding" and self.pooling not in POOLINGS:
            raise BundleError(f"{where} is an embedding model with pooling {self.pooling!r}; "
                              f"expected one of {', '.join(POOLINGS)}")
        if not isinstance(self.max_length, int) or self.max_length < 2:
            raise BundleError(f"{where} has max_length {self.max_length!r}; expected an integer >= 2")
        if not isinstance(self.vocab_size, int) or self.vocab_size < 1:
            raise BundleError(f"{where} has vocab_size {self.vocab_size!r}; expected a positive integer")
        for name in self.referenced_files():
            if name not in self.files:
                raise BundleError(f"{where} refers to {name} but gives no hash for it")

    def referenced_files(self) -> list[str]:
        return [self.model_file, self.tokenizer_file, *self.variants.values()]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_inside(bundle_dir: Path, relative: str) -> Path:
    """The path of a bundle file, refusing absolute paths and anything that leaves the bundle."""
    if not relative or os.path.isabs(relative) or "\\" in relative:
        raise BundleError(f"bundle {bundle_dir} names the file {relative!r}, which is not a plain "
                          f"relative path inside the bundle")
    root = bundle_dir.resolve()
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise BundleError(f"bundle {bundle_dir} names the file {relative!r}, which lies outside "
                          f"the bundle directory")
    return target


def read_manifest(bundle_dir: str | Path) -> Manifest:
    """Parse and validate the manifest, without checking files."""
    bundle_dir = Path(bundle_dir)
    if not bundle_dir.is_dir():
        raise BundleError(f"bundle {bundle_dir} is not a directory")
    path = bundle_dir / MANIFEST_NAME
    if not path.is_file():
        raise BundleError(f"bundle {bundle_dir} has no {MANIFEST_NAME}, so it is not an edgedistill "
                          f"bundle (or it was not completely written)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BundleError(f"{path} must hold a JSON object")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(f"bundle {bundle_dir} has format version {version!r}; this runtime reads "
                          f"version {FORMAT_VERSION} (upgrade edgedistill or re-export the bundle)")
    return Manifest.from_dict(data, where=str(path))


def verify_files(bundle_dir: str | Path, manifest: Manifest) -> None:
    """Every listed file exists inside the bundle and matches its SHA-256."""
    bundle_dir = Path(bundle_dir)
    for relative, expected in manifest.files.items():
        path = resolve_inside(bundle_dir, relative)
        if not path.is_file():
            raise BundleError(f"bundle {bundle_dir} is missing {relative}")
        if sha256_file(path) != expected:
            raise BundleError(f"bundle {bundle_dir}: {relative} does not match its SHA-256 in the "
                              f"manifest (the file was changed or truncated)")


def load_manifest(bundle_dir: str | Path, *, verify: bool = True) -> Manifest:
    """Read the manifest and, unless told otherwise, check every file against its hash."""
    manifest = read_manifest(bundle_dir)
    if verify:
        verify_files(bundle_dir, manifest)
    return manifest


def hash_bundle_files(bundle_dir: str | Path, names: list[str]) -> dict[str, str]:
    """SHA-256 of each named file, for the writer."""
    bundle_dir = Path(bundle_dir)
    return {name: sha256_file(resolve_inside(bundle_dir, name)) for name in sorted(names)}
