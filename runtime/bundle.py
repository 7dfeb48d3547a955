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
FEEDS = ("input_ids", "attention_mask", "token_type_ids")  # the inputs the runtime can feed
MAX_LENGTH = 8192  # tokens; the runtime reads 64 characters per token, so this bounds its memory


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

    @property
    def quantizes_per_batch(self) -> bool:
        """Dynamic INT8: activation scales computed per batch, so a text's scores depend on its batch."""
        return (self.quantization or {}).get("kind") == "dynamic"

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
        """Each key's type, then its value, each failure one sentence naming the key."""
        for name, (check, expected) in _SCHEMA.items():
            value = getattr(self, name)
            if not check(value):
                raise BundleError(f"{where}: {name} must be {expected}, got {_shown(value)}")
        if self.task not in TASKS:
            raise BundleError(f"{where} has task {self.task!r}; expected one of {', '.join(TASKS)}")
        if self.task != "embedding" and not self.labels:
            raise BundleError(f"{where} is for {self.task} but lists no labels")
        repeated = sorted({label for label in self.labels if self.labels.count(label) > 1})
        if repeated:
            raise BundleError(f"{where}: labels lists the same label twice ({repeated[0]!r}), so its "
                              f"probabilities could not be told apart")
        if self.task == "embedding" and self.pooling not in POOLINGS:
            raise BundleError(f"{where} is an embedding model with pooling {self.pooling!r}; "
                              f"expected one of {', '.join(POOLINGS)}")
        if not 2 <= self.max_length <= MAX_LENGTH:
            raise BundleError(f"{where} has max_length {_shown(self.max_length)}; expected an integer from 2 "
                              f"to {MAX_LENGTH:,}")
        if self.vocab_size < 1:
            raise BundleError(f"{where} has vocab_size {self.vocab_size!r}; expected a positive integer")
        if self.pad_token_id is not None and not 0 <= self.pad_token_id < self.vocab_size:
            raise BundleError(f"{where}: pad_token_id {_shown(self.pad_token_id)} is not a token id of the "
                              f"model (expected 0 to vocab_size - 1 = {self.vocab_size - 1:,})")
        unfed = [name for name in self.inputs if name not in FEEDS]
        if "input_ids" not in self.inputs or unfed:
            raise BundleError(f"{where}: inputs must name input_ids and otherwise only "
                              f"{', '.join(FEEDS[1:])}, got {self.inputs}")
        if not self.outputs:
            raise BundleError(f"{where}: outputs is empty; it must name the model output to read "
                              f"(e.g. \"logits\")")
        for name in self.referenced_files():
            if name not in self.files:
                raise BundleError(f"{where} refers to {name} but gives no hash for it")

    def referenced_files(self) -> list[str]:
        return [self.model_file, self.tokenizer_file, *self.variants.values()]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_string_map(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _shown(value: object) -> str:
    if isinstance(value, str):
        value = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {value!r}"
    shown = json.dumps(value) if isinstance(value, (list, dict, bool)) or value is None else repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


# Each manifest key: (check of its type, what it must be). Values are checked in Manifest.validate.
_SCHEMA = {
    "task": (lambda v: isinstance(v, str), "a string"),
    "labels": (_is_strings, "a list of strings (the label names, in the model's output order)"),
    "max_length": (_is_int, "an integer"),
    "vocab_size": (_is_int, "an integer"),
    "inputs": (_is_strings, "a list of strings"),
    "outputs": (_is_strings, "a list of strings"),
    "model_file": (lambda v: isinstance(v, str), "a string"),
    "tokenizer_file": (lambda v: isinstance(v, str), "a string"),
    "pad_token_id": (lambda v: v is None or _is_int(v), "an integer or null"),
    "pooling": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "normalize_embeddings": (lambda v: isinstance(v, bool), "true or false"),
    "input_prefix": (lambda v: isinstance(v, str), "a string"),
    "quantization": (lambda v: v is None or isinstance(v, dict), "an object or null"),
    "variants": (_is_string_map, 'an object mapping a variant to a file, e.g. {"ort": "model.ort"}'),
    "architecture": (lambda v: isinstance(v, dict), "an object"),
    "parameters": (lambda v: isinstance(v, dict), "an object"),
    "source": (lambda v: isinstance(v, dict), "an object"),
    "metrics": (lambda v: isinstance(v, dict), "an object"),
    "packages": (lambda v: isinstance(v, dict), "an object"),
    "files": (_is_string_map, "an object mapping a file to its SHA-256"),
}


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


def seal_bundle(bundle_dir: str | Path, manifest: Manifest) -> Manifest:
    """Hash every file of the bundle into ``manifest.files``, check the manifest and write it last.

    The one way a bundle is finished, by the export stage and by the tools and tests that wrap a
    model file of their own in a manifest; standard library only, so a device-side tool can use it.
    """
    bundle_dir = Path(bundle_dir)
    names = [str(path.relative_to(bundle_dir)) for path in bundle_dir.rglob("*")
             if path.is_file() and path.name != MANIFEST_NAME]
    manifest.files = hash_bundle_files(bundle_dir, names)
    manifest.validate(str(bundle_dir / MANIFEST_NAME))
    (bundle_dir / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    return manifest
