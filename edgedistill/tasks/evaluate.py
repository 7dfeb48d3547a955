"""Evaluate a model directory on one split of a task and write the scores as JSON next to it.

A directory written by ``finetune`` says what it was trained on (``edgedistill-task.json``): its
labels, text prefix and max length are reused, and its data is the default. Any other Hugging Face
classification directory works when the data is given; its labels come from its config.
Embedding similarity scores any encoder's mean-pooled embeddings (Spearman of cosine vs gold).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from edgedistill.atomic import atomic_write_text, read_json
from edgedistill.errors import EdgedistillError, first_sentence
from edgedistill.tasks.config import DataSpec
from edgedistill.tasks.finetune import TASK_FILE, environment, text_prefix_for
from edgedistill.tasks.metrics import majority_baseline
from edgedistill.tasks.scoring import score_split
from edgedistill.tasks.task import SEQUENCE, SIMILARITY, TOKEN, Task, load_task, subsample, task_kind
from edgedistill.teachers import check_model_directory, check_tokenizer_fits


class EvaluateError(EdgedistillError):
    """A model directory or data that cannot be evaluated together."""


@dataclass
class ModelInfo:
    """What a model directory says about the task it solves."""

    kind: str
    labels: tuple[str, ...]
    text_prefix: str
    max_length: int
    data: DataSpec | None
    display_name: str


def read_model_info(model_dir: Path, kind: str | None = None) -> ModelInfo:
    """Kind, labels, prefix and max length from edgedistill-task.json, else from config.json."""
    if not (model_dir / "config.json").is_file():
        raise EvaluateError(f"{model_dir} is not a Hugging Face model directory (no config.json)")
    check_model_directory(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    provenance = read_json(model_dir / "edgedistill-teacher.json")
    saved = read_json(model_dir / TASK_FILE)
    kind = kind or saved.get("kind") or _kind_from_architecture(config.get("architectures") or [])
    if kind is None:
        raise EvaluateError(f"cannot tell the task of {model_dir}: it has no {TASK_FILE} and its config "
                            f"names no sequence or token classification architecture; pass --kind")
    id2label = config.get("id2label") or {}
    labels = tuple(id2label[k] for k in sorted(id2label, key=int)) if kind != SIMILARITY else ()
    data = DataSpec(**saved["data"]) if "data" in saved else None
    prefix = saved.get("text_prefix", text_prefix_for(None, kind, provenance))
    return ModelInfo(kind, labels, prefix, int(saved.get("max_length", 128)), data,
                     provenance.get("display_name", str(model_dir)))


def _kind_from_architecture(architectures: list[str]) -> str | None:
    for name in architectures:
        if name.endswith("ForSequenceClassification"):
            return SEQUENCE
        if name.endswith("ForTokenClassification"):
            return TOKEN
    return None


def evaluate(model_dir: str | Path, data: DataSpec | None = None, *, split: str = "test",
             kind: str | None = None, batch_size: int = 64, max_length: int | None = None,
             max_examples: int | None = None, seed: int = 42, out: str | Path | None = None,
             progress: bool = True) -> dict:
    """Score ``model_dir`` on ``split`` of ``data`` (default: the data it was fine-tuned on)."""
    started = time.time()
    model_dir = Path(model_dir)
    info = read_model_info(model_dir, kind)
    data = data or info.data
    if data is None:
        raise EvaluateError(f"{model_dir} has no {TASK_FILE} saying which data it was trained on; "
                            f"give the data (--data)")
    if info.kind != task_kind(data):
        raise EvaluateError(f"{model_dir} is a {info.kind} model but {data.name} is a "
                            f"{task_kind(data)} task")
    task = _task_for(data, info, split, model_dir)
    model, tokenizer = _load(model_dir, info.kind)
    examples = subsample(task.split(split).examples, max_examples, seed)
    scores = score_split(model, tokenizer, task, split, max_length=max_length or info.max_length,
                         prefix=info.text_prefix, batch_size=batch_size, examples=examples, progress=progress)
    result = {"model": str(model_dir), "model_display_name": info.display_name, "task": task.name,
              "kind": task.kind, "split": split, "source": task.split(split).source,
              "examples": len(examples), "text_prefix": info.text_prefix,
              "max_length": max_length or info.max_length, "metrics": scores,
              "majority_baseline": _baseline(task, examples), "wall_seconds": round(time.time() - started, 1),
              "environment": environment()}
    out = Path(out) if out else model_dir / f"eval-{task.name}-{split}.json"
    atomic_write_text(out, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    result["written_to"] = str(out)
    return result


def _task_for(data: DataSpec, info: ModelInfo, split: str, model_dir: Path) -> Task:
    splits = (split, "train") if split != "train" and info.kind != SIMILARITY else (split,)
    labels = info.labels or None
    task = load_task(data, splits=splits, labels=labels,
                     label_source=f"the model's labels in {model_dir / 'config.json'}")
    task.split(split)  # fails clearly when the split is missing
    return task


def _load(model_dir: Path, kind: str):
    import transformers

    from edgedistill.teachers.tokenizer import load_tokenizer

    classes = {SEQUENCE: transformers.AutoModelForSequenceClassification,
               TOKEN: transformers.AutoModelForTokenClassification, SIMILARITY: transformers.AutoModel}
    try:
        tokenizer = load_tokenizer(model_dir)
        model = classes[kind].from_pretrained(model_dir)
    except Exception as exc:  # transformers, tokenizers and safetensors raise many types
        raise EvaluateError(f"could not load the model in {model_dir}: {first_sentence(exc)}") from None
    check_tokenizer_fits(tokenizer, model, str(model_dir))
    return model.eval(), tokenizer


def _baseline(task: Task, examples: list) -> dict | None:
    if task.kind == SIMILARITY or "train" not in task.splits:
        return None
    gold = [list(e.tags) for e in examples] if task.kind == TOKEN else [e.label for e in examples]
    return majority_baseline(task.kind, task.gold_labels("train"), gold, task.labels)
