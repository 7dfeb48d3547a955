"""Is a student's lead or lag behind the baseline more than the test set's noise? Paired bootstrap per cell.

    .venv/bin/python benchmarks/studies/versus_baseline.py                 # cells with a finished default run
    .venv/bin/python benchmarks/studies/versus_baseline.py --only sib200-hau
    .venv/bin/python benchmarks/studies/versus_baseline.py --table-only

SIB-200 has 204 test sentences: one of them flipping moves macro-F1 by about half a point, so "behind the
TF-IDF baseline by 1.4 points" may be a tie. For each cell of benchmarks/shipping_table.py whose default
run is in --runs, this predicts the whole test split with the three models of that run (the teacher in
PyTorch FP32, the student's INT8 bundle one text at a time as the runtime runs it, and the run's own
baseline, TF-IDF + logistic regression or a CRF) and resamples the test examples with replacement
(ROUNDS times, one seed): every resample scores all three models on the same examples. A difference whose
5th-95th percentile interval excludes 0 is called ahead or behind; otherwise "tied within noise".
Each model's score on the unresampled split is checked against the run's record first.

Records go to benchmarks/results/versus_baseline/<cell>.json, the table to
benchmarks/results/versus_baseline.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from study_paths import RESULTS

RECORDS = RESULTS / "versus_baseline"
TABLE = RESULTS / "versus_baseline.md"
COMMAND = ".venv/bin/python benchmarks/studies/versus_baseline.py"
STUDENT = "default"
ROUNDS = 1000
SEED = 0
PAIRS = (("student INT8", "baseline"), ("teacher", "baseline"), ("student INT8", "teacher"))


def cell_names() -> list[str]:
    from results_table import TABLE_CELLS

    return [cell.name for cell in TABLE_CELLS]


def predictions(cell: str, run: Path, teacher: Path) -> tuple[list, dict[str, list], dict]:
    """Gold labels and each model's predictions on the whole test split."""
    import joblib
    import torch
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    from edgedistill.chain.bundle_model import BundleModel
    from edgedistill.runtime.bundle import load_manifest
    from edgedistill.tasks import DataSpec, load_task
    from edgedistill.tasks.scoring import predict_split
    from edgedistill.tasks.task import TOKEN
    from edgedistill.teachers.tokenizer import load_tokenizer

    torch.set_num_threads(1)
    bundle = run / "05-quantize"
    manifest = load_manifest(bundle)
    dataset, language = cell.split("-")
    task = load_task(DataSpec(dataset, language=language), splits=("test",), labels=tuple(manifest.labels),
                     label_source="the bundle's labels")
    examples = task.split("test").examples
    gold, student = predict_split(BundleModel(bundle, manifest), load_tokenizer(run / "03-trim-vocab"), task,
                                  "test", max_length=manifest.max_length, prefix=manifest.input_prefix,
                                  batch_size=1 if manifest.quantizes_per_batch else 64)
    model_class = AutoModelForTokenClassification if task.kind == TOKEN else \
        AutoModelForSequenceClassification
    info = json.loads((teacher / "edgedistill-task.json").read_text(encoding="utf-8"))
    _, teacher_predicted = predict_split(model_class.from_pretrained(teacher), load_tokenizer(teacher), task,
                                         "test", max_length=info.get("max_length", 128),
                                         prefix=info.get("text_prefix") or "")
    inputs = [list(e.tokens) for e in examples] if task.kind == TOKEN else [e.text for e in examples]
    baseline = [list(p) if task.kind == TOKEN else p
                for p in joblib.load(run / "07-baseline" / "model.joblib").predict(inputs)]
    facts = {"metric": task.primary_metric, "kind": task.kind, "labels": list(task.labels),
             "test_examples": len(examples)}
    return gold, {"student INT8": student, "teacher": teacher_predicted, "baseline": baseline}, facts


def example_counts(gold: list, predicted: list, kind: str, labels: list[str]) -> np.ndarray:
    """Per example, the counts the metric sums: entity (true positives, predicted, gold) for tagging,
    per label (true positive, predicted, gold) for classification. Resampling sums rows, so a
    resample's score is exact and fast."""
    if kind == "token-classification":
        from seqeval.metrics.sequence_labeling import get_entities

        rows = []
        for g, p in zip(gold, predicted, strict=True):
            g_set, p_set = set(get_entities(g)), set(get_entities(p))
            rows.append([len(g_set & p_set), len(p_set), len(g_set)])
        return np.array(rows, dtype=float)
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(gold), 3, len(labels)))
    for row, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        counts[row, 0, index[g]] += g == p
        counts[row, 1, index[p]] += 1
        counts[row, 2, index[g]] += 1
    return counts


def score(counts: np.ndarray, kind: str) -> float:
    """Entity micro-F1 (seqeval's default) or macro-F1 over labels (precision 0 when never predicted)."""
    if kind == "token-classification":
        tp, predicted, gold = counts.sum(0)
        return float(2 * tp / (predicted + gold)) if predicted + gold else 0.0
    tp, predicted, gold = counts.sum(0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, gold, out=np.zeros_like(tp), where=gold > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp),
                   where=precision + recall > 0)
    return float(f1.mean())


def compare(cell: str, run: Path, teacher: Path) -> dict:
    gold, predicted, facts = predictions(cell, run, teacher)
    counts = {name: example_counts(gold, values, facts["kind"], facts["labels"])
              for name, values in predicted.items()}
    scores = {name: score(c, facts["kind"]) for name, c in counts.items()}
    rng = np.random.default_rng(SEED)
    samples = [rng.integers(0, len(gold), len(gold)) for _ in range(ROUNDS)]
    resampled = {name: np.array([score(c[s], facts["kind"]) for s in samples]) for name, c in counts.items()}
    differences = {}
    for first, second in PAIRS:
        diff = resampled[first] - resampled[second]
        low, high = np.percentile(diff, [5, 95])
        differences[f"{first} - {second}"] = {
            "observed": scores[first] - scores[second], "interval_5_95": [float(low), float(high)],
            "share_of_resamples_ahead": float((diff > 0).mean())}
    return {**facts, "cell": cell, "scores": scores, "differences": differences, "rounds": ROUNDS,
            "seed": SEED, "command": COMMAND}


def check_against_record(record: dict) -> None:
    """The unresampled scores must be the ones the shipping table printed from the run's records."""
    path = RESULTS / "shipping_runs" / f"{STUDENT}-{record['cell']}.json"
    rows = {row["model"]: row["metric"] for row in json.loads(path.read_text(encoding="utf-8"))["rows"]}
    for name, row in (("student INT8", f"{STUDENT} INT8"), ("teacher", "teacher FP32 (PyTorch)")):
        if abs(record["scores"][name] - rows[row]) > 1e-6:
            raise SystemExit(f"{record['cell']}: {name} scores {record['scores'][name]:.4f} here but "
                             f"{rows[row]:.4f} in {path.name}; the run and its record disagree")


def verdict(difference: dict) -> str:
    low, high = difference["interval_5_95"]
    word = "ahead" if low > 0 else "behind" if high < 0 else "tied within noise"
    return f"{difference['observed'] * 100:+.1f} [{low * 100:+.1f}, {high * 100:+.1f}] {word}"


def write_table() -> None:
    from edgedistill.atomic import atomic_write_text

    lines = [f"<!-- generated by `{COMMAND} --table-only` from benchmarks/results/versus_baseline/; "
             "regenerate, never edit -->", "",
             "# Ahead, behind or tied: a paired bootstrap of each default run on the whole test split",
             "",
             f"Generated by: `{COMMAND}` (see its docstring). Points of the cell's metric: the observed "
             f"difference, then the 5th-95th percentile over {ROUNDS} paired resamples of the test examples "
             "(seed 0). \"ahead\"/\"behind\" only when the interval excludes 0.", "",
             "| cell | metric | test examples | student INT8 | teacher | baseline | student - baseline | "
             "teacher - baseline | student - teacher |", "|---|---|---|---|---|---|---|---|---|"]
    for cell in cell_names():
        path = RECORDS / f"{cell}.json"
        if not path.is_file():
            continue
        record = json.loads(path.read_text(encoding="utf-8"))
        scores, diffs = record["scores"], record["differences"]
        lines.append(" | ".join([
            f"| {cell}", record["metric"], f"{record['test_examples']:,}",
            *(f"{scores[name]:.3f}" for name in ("student INT8", "teacher", "baseline")),
            *(verdict(diffs[f"{a} - {b}"]) for a, b in PAIRS)]) + " |")
    atomic_write_text(TABLE, "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    from edgedistill.teachers import cache_root

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="cells, e.g. sib200-hau")
    parser.add_argument("--runs", type=Path, default=cache_root() / "runs" / "students")
    parser.add_argument("--teachers", type=Path, default=cache_root() / "runs" / "teachers")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args(argv)
    if not args.table_only:
        from edgedistill.atomic import atomic_write_text

        for cell in args.only or cell_names():
            run = args.runs / f"{STUDENT}-{cell}"
            recorded = (RESULTS / "shipping_runs" / f"{STUDENT}-{cell}.json").is_file()
            if not recorded or not (run / "05-quantize" / "edgedistill.json").is_file():
                continue
            started = time.time()
            record = compare(cell, run, args.teachers / cell)
            check_against_record(record)
            record["wall_seconds"] = round(time.time() - started, 1)
            RECORDS.mkdir(parents=True, exist_ok=True)
            atomic_write_text(RECORDS / f"{cell}.json", json.dumps(record, indent=2) + "\n")
            print(f"[{cell}] {verdict(record['differences']['student INT8 - baseline'])}", flush=True)
    write_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
