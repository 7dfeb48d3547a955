"""What makes two data specs the same data, so that a model fine-tuned on one is reused only for it.

A built-in collection is named by its dataset and language; your own files by their contents (SHA-256),
how they are read (format, kind, columns) and the labels file. Paths are recorded too, to say which
file changed, but two copies of one file are the same data. ``edgedistill finetune`` writes the
identity into the model's edgedistill-task.json; ``edgedistill run`` compares it before it reuses a
teacher. Standard library only.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from edgedistill.tasks.config import DataSpec

FILE_KEYS = ("train", "dev", "test", "labels_file")
# How a file format is read: two specs with the same files but other columns are other data.
READING_KEYS = ("kind", "text_column", "text_pair_column", "label_column", "tokens_column", "tags_column",
                "tag_column", "hf_config")


def data_identity(spec: DataSpec | dict[str, Any]) -> dict[str, Any]:
    """The identity of ``spec``'s data: {"reading": ..., "files": {key: {"path", "sha256"}}}."""
    from edgedistill.tasks.task import BUILTINS

    if not isinstance(spec, DataSpec):  # a recorded dict: its defaults filled in, as DataSpec reads it
        known = {f.name for f in dataclasses.fields(DataSpec)}
        spec = DataSpec(**{key: value for key, value in spec.items() if key in known})
    values = dataclasses.asdict(spec)
    builtin = values["dataset"] in BUILTINS
    keys = ("dataset", "language") if builtin else ("dataset", *READING_KEYS)
    reading = {key: values.get(key) for key in keys}
    file_keys = FILE_KEYS if values["dataset"] != "hf" else ("labels_file", "source")  # hf: split names
    files = {}
    for key in file_keys:
        path = Path(values[key]).expanduser() if values.get(key) else None
        if path is not None and path.exists():
            files[key] = {"path": str(path.resolve()), "sha256": _content_hash(path)}
        elif path is not None and key == "source":
            reading["source"] = values[key]  # a hub id: named, not hashed
    return {"reading": reading, "files": files}


def same_data(recorded: dict[str, Any] | None, identity: dict[str, Any]) -> bool:
    """Whether a recorded identity is the data of ``identity`` (file contents compared, not paths)."""
    if not recorded:
        return False

    def contents(value: dict) -> dict:
        return {key: entry["sha256"] for key, entry in value.get("files", {}).items()}

    return recorded.get("reading") == identity["reading"] and contents(recorded) == contents(identity)


def changed_files(recorded: dict[str, Any] | None, identity: dict[str, Any]) -> list[str]:
    """The keys (train, dev...) whose files differ from the recorded ones, to say why data is not the same."""
    old = (recorded or {}).get("files", {})
    return [key for key in sorted(set(old) | set(identity["files"]))
            if (old.get(key) or {}).get("sha256") != (identity["files"].get(key) or {}).get("sha256")]


def _content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as handle:
            for chunk in iter(lambda handle=handle: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
