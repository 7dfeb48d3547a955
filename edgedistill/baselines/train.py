"""Fit a baseline on a task, score it with the project's metrics, and write the model with results.json.

The output directory holds ``model.joblib`` (a scikit-learn Pipeline: ``joblib.load(path).predict``
takes raw texts, or lists of words for token tasks; the CRF's features are edgedistill code, so loading
it needs edgedistill) and ``results.json``. It appears only when complete. Needs the [baselines] extra.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict
from pathlib import Path

import joblib

import edgedistill
from edgedistill.atomic import atomic_directory
from edgedistill.baselines.measure import measure_prediction
from edgedistill.baselines.models import (
    DESCRIPTIONS,
    FIXED_SETTINGS,
    GRIDS,
    SENTENCE_KIND,
    TOKEN_KIND,
    Chosen,
    as_lists,
    choose_on_dev,
)
from edgedistill.env import cpu_model, package_version
from edgedistill.errors import EdgedistillError
from edgedistill.tasks.config import DataSpec
from edgedistill.tasks.metrics import classification_metrics, majority_baseline, tagging_metrics
from edgedistill.tasks.task import SEQUENCE, TOKEN, Task, is_bio, load_task, subsample

RESULTS_FILE = "results.json"
MODEL_FILE = "model.joblib"
LIBRARIES = ("scikit-learn", "sklearn-crfsuite", "python-crfsuite", "joblib", "numpy", "scipy", "seqeval")


class BaselineError(EdgedistillError):
    """A baseline that cannot be trained on the data or into the place it was given."""


def train_baseline(spec: DataSpec, output_dir: str | Path, *, overwrite: bool = False,
                   grid: dict | None = None, test_limit: int | None = None, seed: int = 42) -> dict:
    """Fit the task's baseline on train with settings chosen on dev, score dev and test, write the model
    and results.json to ``output_dir``, and return the results. ``grid`` replaces models.GRIDS.

    ``test_limit`` scores a seeded sample of the test split (``tasks.task.subsample``, as the chain's
    evaluate stage draws it), so the baseline is scored on the very examples a student was."""
    output_dir = Path(output_dir)
    if output_dir.exists() and not overwrite:
        raise BaselineError(f"output directory {output_dir} already exists; pass --overwrite to replace it")
    started = time.perf_counter()
    task = load_task(spec)
    kind = _check_task(task)
    splits = {name: task.splits[name].examples for name in ("train", "dev", "test") if name in task.splits}
    if "test" in splits:
        splits["test"] = subsample(splits["test"], test_limit, seed)
    chosen = choose_on_dev(kind, inputs(splits["train"]), gold(splits["train"]), inputs(splits["dev"]),
                           lambda predicted: score(task, gold(splits["dev"]), predicted)[task.primary_metric],
                           grid)
    scored = {name: score(task, gold(examples), as_lists(chosen.model.predict(inputs(examples))))
              for name, examples in splits.items() if name != "train"}
    with atomic_directory(output_dir, overwrite=overwrite) as tmp:
        joblib.dump(chosen.model, tmp / MODEL_FILE)
        timed = "test" if "test" in splits else "dev"
        prediction = {"split": timed, **measure_prediction(tmp / MODEL_FILE, inputs(splits[timed]))}
        results = _results(spec, task, grid or GRIDS[kind], chosen, scored, prediction, tmp / MODEL_FILE)
        results["data"]["test_used"] = len(splits.get("test", []))
        results["data"]["test_seed"] = seed if test_limit else None
        results["wall_seconds"] = round(time.perf_counter() - started, 2)
        text = json.dumps(results, indent=2, ensure_ascii=False) + "\n"
        (tmp / RESULTS_FILE).write_text(text, encoding="utf-8")
    return results


def _check_task(task: Task) -> str:
    """The baseline kind for the task, or a one-sentence reason why there is none."""
    if task.kind not in (SEQUENCE, TOKEN):
        raise BaselineError(f"the baselines train sequence and token classification, and {task.name} is "
                            f"{task.kind}")
    if "dev" not in task.splits:
        raise BaselineError(f"task {task.name} has no dev split, and the baseline chooses its settings on "
                            f"dev only; give one (--dev)")
    for name in ("train", "dev"):
        if not task.splits.get(name) or not task.splits[name].examples:
            raise BaselineError(f"the {name} split of {task.name} is missing or empty")
    if task.kind == SEQUENCE:
        return _check_sentence_task(task)
    return TOKEN_KIND


def _check_sentence_task(task: Task) -> str:
    train = task.splits["train"].examples
    if any(e.text_pair is not None for e in train):
        raise BaselineError(f"the TF-IDF baseline classifies single texts, and {task.name} has text pairs")
    if len({e.label for e in train}) < 2:
        raise BaselineError(f"the training split of {task.name} has a single label; a classifier needs two")
    return SENTENCE_KIND


def inputs(examples: list) -> list:
    """What the models read: texts, or lists of words."""
    return [list(e.tokens) if hasattr(e, "tokens") else e.text for e in examples]


def gold(examples: list) -> list:
    return [list(e.tags) if hasattr(e, "tags") else e.label for e in examples]


def score(task: Task, gold_labels: list, predicted: list) -> dict:
    """The project's own metrics: macro-F1 for sentences, seqeval entity F1 (or tag accuracy) for words."""
    if task.kind == SEQUENCE:
        return classification_metrics(gold_labels, predicted, task.labels)
    return tagging_metrics(gold_labels, predicted, entities=is_bio(task.labels))


def _results(spec: DataSpec, task: Task, grid: dict, chosen: Chosen, scored: dict, prediction: dict,
             model_file: Path) -> dict:
    train_gold = gold(task.splits["train"].examples)
    return {
        "baseline": {"kind": chosen.kind, "description": DESCRIPTIONS[chosen.kind],
                     "settings": FIXED_SETTINGS[chosen.kind], "grid": grid, "chosen": chosen.params,
                     "chosen_on": "dev", "candidates": chosen.candidates},
        "task": {"name": task.name, "kind": task.kind, "labels": list(task.labels),
                 "label_source": task.label_source, "primary_metric": task.primary_metric},
        "data": {name: {"source": split.source, "examples": len(split.examples)}
                 for name, split in task.splits.items()},
        "dev": scored["dev"], "test": scored.get("test"),
        "majority_baseline": {name: majority_baseline(task.kind, train_gold, gold(task.splits[name].examples),
                                                      task.labels) for name in scored},
        "model": {"file": model_file.name, "bytes": model_file.stat().st_size},
        "prediction": prediction,
        "fit_seconds": round(chosen.search_seconds, 2),  # features and every candidate, dev predictions too
        "environment": environment(),
        "data_spec": asdict(spec),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def environment() -> dict:
    return {"python": platform.python_version(), "edgedistill": edgedistill.__version__, "cpu": cpu_model(),
            **{name: package_version(name) for name in LIBRARIES}}
