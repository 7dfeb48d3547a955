"""Which models the compression operations understand, and how they are loaded and saved.

BERT (mBERT, and multilingual-e5, which is a ``BertModel``), RoBERTa and XLM-R (AfroXLMR) share one
layout: ``<base>.embeddings``, ``<base>.encoder.layer[i].attention.self.{query,key,value}``,
``attention.output.dense``, ``intermediate.dense``, ``output.dense`` and post-sublayer LayerNorms.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgedistill.compress.report import REPORT_FILE, CompressionReport, previous_reports
from edgedistill.errors import EdgedistillError

SUPPORTED_MODEL_TYPES = ("bert", "roberta", "xlm-roberta")
HEAD_OF_CLASS_SUFFIX = {"ForMaskedLM": "mlm", "ForSequenceClassification": "sequence-classification",
                        "ForTokenClassification": "token-classification", "Model": "base"}
PROVENANCE_FILE = "edgedistill-teacher.json"


class UnsupportedModel(EdgedistillError):
    """The model's architecture or head is not one the compression operations know."""


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    path: Path | None
    provenance: dict[str, Any] = field(default_factory=dict)


def check_supported(model, where: str = "the model") -> str:
    """Return the model type, or raise UnsupportedModel naming it."""
    model_type = getattr(model.config, "model_type", None)
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise UnsupportedModel(f"{where} has architecture {model_type!r}; compression supports "
                               f"{', '.join(SUPPORTED_MODEL_TYPES)}")
    head_of(model)
    return model_type


def head_of(model) -> str:
    name = type(model).__name__
    for suffix, head in HEAD_OF_CLASS_SUFFIX.items():
        if name.endswith(suffix):
            return head
    raise UnsupportedModel(f"model class {name} has a head compression does not support; supported: "
                           f"base, masked LM, sequence and token classification")


def encoder_layers(model) -> list:
    return list(model.base_model.encoder.layer)


def head_from_config(model_dir: Path) -> str:
    """The head named by ``architectures`` in config.json (``base`` when it names none)."""
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    for architecture in config.get("architectures") or []:
        for suffix, head in HEAD_OF_CLASS_SUFFIX.items():
            if architecture.endswith(suffix):
                return head
    return "base"


def load_model(name_or_path: str | Path, head: str = "auto") -> LoadedModel:
    """Load a model directory (or built-in teacher name) with its tokenizer, in eval mode.

    ``head="auto"`` loads the head the directory's config.json names.
    """
    from edgedistill.teachers import load_teacher, resolve_teacher

    location = resolve_teacher(name_or_path)
    if head == "auto":
        head = head_from_config(location) if isinstance(location, Path) else "base"
    teacher = load_teacher(location, head=head)
    check_supported(teacher.model, where=str(name_or_path))
    path = location if isinstance(location, Path) else None
    return LoadedModel(teacher.model, teacher.tokenizer, path, teacher.provenance)


def save_model(model, tokenizer, out_dir: str | Path, report: CompressionReport, *,
               source: LoadedModel | None = None, overwrite: bool = False) -> Path:
    """Write a Hugging Face model directory plus ``compression-report.json``, atomically."""
    from edgedistill.atomic import atomic_directory

    out_dir = Path(out_dir)
    if source is not None:
        report.source = report.source or str(source.path)
        report.history = previous_reports(source.path)
    with atomic_directory(out_dir, overwrite=overwrite) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        report.write(tmp / REPORT_FILE)
        if source is not None and source.provenance:
            _write_derived_provenance(source.provenance, report, tmp / PROVENANCE_FILE)
    return out_dir


def _write_derived_provenance(provenance: dict[str, Any], report: CompressionReport, dest: Path) -> None:
    # Keeps what loaders rely on (mean pooling, input prefixes) and says the model is derived.
    derived = dict(provenance)
    derived["display_name"] = f"{provenance.get('display_name', 'model')}, {report.headline}"
    derived["derived_by"] = [*provenance.get("derived_by", []), report.headline]
    dest.write_text(json.dumps(derived, indent=2, ensure_ascii=False), encoding="utf-8")


def error_if_exists(out_dir: str | Path, overwrite: bool) -> None:
    if Path(out_dir).exists() and not overwrite:
        raise EdgedistillError(f"output directory {out_dir} already exists; pass --overwrite "
                               f"(overwrite=True) to replace it")
