"""The teacher's outputs over the training data, kept on disk so it runs once, not every epoch.

A cache directory is keyed by the teacher (its config and weight files) and by every encoded training
input, so a cache can never be read for other data or another teacher. Inside it each *item* is one
thing the losses read: ``logits-top<k>`` (the k largest logits of each selected row and their
vocabulary indices), ``logsumexp-T<t>`` (each row's log softmax normaliser at temperature t, which
keeps top-k KL exact), ``attention-<i>`` (the head-averaged attention map of layer index i, [L, L]) and
``hidden-<i>`` (hidden states, [L, H]). Items are added as later students ask for them; an item is
listed in ``cache.json`` only once it is completely written, and its files are renamed into place.

Stored per example and unpadded: float32 logits, int32 indices, float16 maps and states.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edgedistill.atomic import atomic_write_bytes, atomic_write_text
from edgedistill.distill.losses import LogitTargets, Needs, Signals, forward_signals

MANIFEST = "cache.json"
FORMAT_VERSION = 1
DTYPES = {"values": np.float32, "indices": np.int32, "logsumexp": np.float32, "attention": np.float16,
          "hidden": np.float16}


def teacher_fingerprint(location) -> str:
    """Identify a teacher: its config and the names, sizes and times of its weight files."""
    digest = hashlib.sha256()
    path = Path(str(location))
    if path.is_dir():
        digest.update((path / "config.json").read_bytes())
        for weights in sorted([*path.glob("*.safetensors"), *path.glob("*.bin")]):
            stat = weights.stat()
            digest.update(f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    else:
        digest.update(str(location).encode())
    return digest.hexdigest()[:16]


def items_for(needs: Needs, top_k: int) -> list[str]:
    """The cache items an objective reads."""
    items = [f"logits-top{top_k}"] if needs.teacher_logits else []
    if needs.teacher_logits:
        items += [f"logsumexp-T{t:g}" for t in sorted(needs.kl_temperatures)]
    items += [f"attention-{i}" for i in sorted(needs.teacher_attentions)]
    items += [f"hidden-{i}" for i in sorted(needs.teacher_hidden)]
    return items


@dataclass
class CacheReport:
    directory: str
    items: list[str]
    reused: list[str]
    computed: list[str]
    seconds: float

    def as_dict(self) -> dict:
        return {"directory": self.directory, "items": self.items, "reused": self.reused,
                "computed": self.computed, "teacher_seconds": round(self.seconds, 1)}


class TeacherCache:
    """One teacher's outputs over one encoded training set."""

    def __init__(self, directory: str | Path, items: list[str]) -> None:
        self.directory = Path(directory)
        self.items = list(items)
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def for_run(cls, root: str | Path, teacher_fingerprint: str, data_fingerprint: str,
                items: list[str]) -> TeacherCache:
        return cls(Path(root) / f"{teacher_fingerprint}-{data_fingerprint}", items)

    # -- writing

    def manifest(self) -> dict:
        path = self.directory / MANIFEST
        if not path.is_file():
            return {"format_version": FORMAT_VERSION, "items": {}}
        return json.loads(path.read_text(encoding="utf-8"))

    def missing(self) -> list[str]:
        present = self.manifest()["items"]
        return [item for item in self.items if item not in present]

    def ensure(self, teacher_model, features: list[dict], collator, *, row_mode: str | None,
               batch_size: int = 32) -> CacheReport:
        """Run the teacher once over ``features`` for the items not yet on disk."""
        missing = self.missing()
        started = time.time()
        if missing:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._compute(teacher_model, features, collator, row_mode, missing, batch_size)
        reused = [item for item in self.items if item not in missing]
        return CacheReport(str(self.directory), self.items, reused, missing, time.time() - started)

    def _compute(self, teacher_model, features, collator, row_mode, missing: list[str],
                 batch_size: int) -> None:
        writers = _ItemWriters(self.directory, missing, len(features))
        logit_item = next((m for m in missing if m.startswith("logits-top")), None)
        top_k = int(logit_item.removeprefix("logits-top")) if logit_item else 0
        temperatures = {m: float(m.removeprefix("logsumexp-T")) for m in missing
                        if m.startswith("logsumexp-T")}
        attentions = {int(m.split("-")[1]) for m in missing if m.startswith("attention-")}
        hidden = {int(m.split("-")[1]) for m in missing if m.startswith("hidden-")}
        order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
        teacher_model.eval()
        try:
            for start in range(0, len(order), batch_size):
                indices = order[start:start + batch_size]
                batch = collator([features[i] for i in indices])
                with torch.no_grad():
                    signals = forward_signals(teacher_model, batch, row_mode=row_mode,
                                              logits=bool(logit_item or temperatures),
                                              attentions=attentions, hidden=hidden, as_teacher=True)
                _write_batch(writers, signals, batch, indices, row_mode, top_k, logit_item, temperatures)
        except BaseException:
            writers.discard()
            raise
        manifest = self.manifest()
        for item, meta in writers.finish().items():
            manifest["items"][item] = meta
        atomic_write_text(self.directory / MANIFEST, json.dumps(manifest, indent=2) + "\n")

    # -- reading

    def batch(self, indices: list[int], length: int) -> dict[str, torch.Tensor]:
        """Cached teacher outputs for examples ``indices``, padded to ``length`` tokens."""
        out: dict[str, torch.Tensor] = {}
        for item in self.items:
            if item.startswith("logits-top"):
                out["teacher_logit_values"] = self._rows(f"{item}.values", indices)
                out["teacher_logit_indices"] = self._rows(f"{item}.indices", indices).long()
            elif item.startswith("logsumexp-T"):
                out[f"teacher_logsumexp_{item.removeprefix('logsumexp-T')}"] = self._rows(item, indices)[:, 0]
            else:
                kind, index = item.split("-")
                square = kind == "attention"
                out[f"teacher_{kind}_{index}"] = self._padded(item, indices, length, square=square)
        return out

    def _array(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in self._arrays:
            data = np.memmap(self.directory / f"{name}.bin", dtype=DTYPES[_kind(name)], mode="r")
            self._arrays[name] = (data, np.load(self.directory / f"{name}.index.npy"))
        return self._arrays[name]

    def _example(self, name: str, index: int) -> np.ndarray:
        data, table = self._array(name)
        start, rows, cols = table[index]
        return np.asarray(data[start:start + rows * cols], dtype=np.float32 if data.dtype != np.int32
                          else np.int64).reshape(rows, cols)

    def _rows(self, name: str, indices: list[int]) -> torch.Tensor:
        return torch.from_numpy(np.concatenate([self._example(name, i) for i in indices], axis=0))

    def _padded(self, name: str, indices: list[int], length: int, square: bool) -> torch.Tensor:
        parts = [self._example(name, i) for i in indices]
        width = length if square else parts[0].shape[1]
        out = torch.zeros(len(parts), length, width)
        for row, part in enumerate(parts):
            out[row, : part.shape[0], : part.shape[1]] = torch.from_numpy(part)
        return out


def teacher_signals_from_batch(batch: dict[str, torch.Tensor]) -> Signals | None:
    """Take the cached teacher tensors out of a collated batch (None if it carries none)."""
    keys = [k for k in batch if k.startswith("teacher_")]
    if not keys:
        return None
    cached = {k: batch.pop(k) for k in keys}
    signals = Signals(mask=batch["attention_mask"])
    if "teacher_logit_values" in cached:
        normalizers = {float(k.removeprefix("teacher_logsumexp_")): v for k, v in cached.items()
                       if k.startswith("teacher_logsumexp_")}
        signals.logits = LogitTargets(cached["teacher_logit_values"], cached["teacher_logit_indices"],
                                      normalizers)
    for key, value in cached.items():
        if key.startswith("teacher_attention_"):
            signals.attentions[int(key.rsplit("_", 1)[1])] = value
        elif key.startswith("teacher_hidden_"):
            signals.hidden[int(key.rsplit("_", 1)[1])] = value
    return signals


def _write_batch(writers, signals: Signals, batch, indices, row_mode, top_k: int, logit_item,
                 temperatures: dict[str, float]) -> None:
    lengths = batch["attention_mask"].sum(1).tolist()
    row_counts = _row_counts(row_mode, batch, lengths) if signals.logits is not None else None
    if logit_item:
        values = signals.logits.values.float()
        top = values.topk(min(top_k, values.shape[-1]), dim=-1)
        splits_v = top.values.split(row_counts)
        splits_i = top.indices.split(row_counts)
    normalizers = {item: torch.logsumexp(signals.logits.values.float() / t, dim=-1, keepdim=True)
                   .split(row_counts) for item, t in temperatures.items()}
    for row, index in enumerate(indices):
        length = lengths[row]
        if logit_item:
            writers.add(f"{logit_item}.values", index, splits_v[row].numpy())
            writers.add(f"{logit_item}.indices", index, splits_i[row].numpy())
        for item, parts in normalizers.items():
            writers.add(item, index, parts[row].numpy())
        for i, maps in signals.attentions.items():
            writers.add(f"attention-{i}", index, maps[row, :length, :length].numpy())
        for i, states in signals.hidden.items():
            writers.add(f"hidden-{i}", index, states[row, :length].numpy())


def _kind(name: str) -> str:
    """The kind of a stored array: values/indices of a logits item, else the item's prefix."""
    if name.endswith((".values", ".indices")):
        return name.rsplit(".", 1)[1]
    return name.split("-")[0]


def _row_counts(row_mode: str, batch, lengths: list[int]) -> list[int]:
    if row_mode == "sequence":
        return [1] * len(lengths)
    if row_mode == "token":
        return lengths
    return (batch["labels"] != -100).sum(1).tolist()


class _ItemWriters:
    """Appends per-example arrays to one raw file per item and remembers where each one starts."""

    def __init__(self, directory: Path, items: list[str], count: int) -> None:
        self.directory = directory
        names = []
        for item in items:
            names += [f"{item}.values", f"{item}.indices"] if item.startswith("logits-top") else [item]
        self.handles = {}
        self.tables = {}
        self.positions = {}
        self.partials: dict[str, str] = {}
        for name in names:
            # A name of its own: two runs filling the same cache at once must not share a file.
            fd, self.partials[name] = tempfile.mkstemp(prefix=f".{name}.bin.partial-", dir=directory)
            self.handles[name] = os.fdopen(fd, "wb")
            self.tables[name] = np.zeros((count, 3), dtype=np.int64)
            self.positions[name] = 0
        self.items = items

    def add(self, name: str, index: int, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array, dtype=DTYPES[_kind(name)])
        rows, cols = array.shape
        self.tables[name][index] = (self.positions[name], rows, cols)
        self.handles[name].write(array.tobytes())
        self.positions[name] += array.size

    def finish(self) -> dict[str, dict]:
        for name, handle in self.handles.items():
            handle.close()
            index = io.BytesIO()
            np.save(index, self.tables[name])
            atomic_write_bytes(self.directory / f"{name}.index.npy", index.getvalue())
            os.replace(self.partials[name], self.directory / f"{name}.bin")
        return {item: {"written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")} for item in self.items}

    def discard(self) -> None:
        for name, handle in self.handles.items():
            handle.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.partials[name])
