"""Teachers: fine-tune the embedded e5-small teacher on every cell and write the table beside the baselines.

    .venv/bin/python benchmarks/studies/teacher_baselines.py               # train missing cells, write table
    .venv/bin/python benchmarks/studies/teacher_baselines.py --table-only  # only rewrite the table
    .venv/bin/python benchmarks/studies/teacher_baselines.py --only sib200-hau afrisenti-swa  # in this order

Each cell is ``edgedistill finetune`` with the settings below (the same FinetuneConfig the CLI
builds) on the whole training split, written to <runs>/<dataset>-<language>/ with its results.json;
<runs> defaults to ~/.cache/edgedistill/runs/teachers, outside the work tree, so that a cell
interrupted in one session resumes from its last epoch checkpoint in the next. A cell whose
results.json exists is not trained again. The table (benchmarks/results/teacher_baselines.md) and a
JSON summary beside it are generated from those results.json files and the baselines' records
(benchmarks/studies/baselines.py) only: regenerate, never edit.

The model folders (470 MB each) are not kept in git, so each cell's results.json is also copied to
benchmarks/results/teacher_runs/<cell>.json, and a cell whose folder is absent is read from there: the
table regenerates in a fresh clone. The first results table's teachers (capped budgets, frozen word
embeddings; CAPPED_* below) keep their records in teacher_runs/capped/."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from study_paths import RESULTS, ROOT

from edgedistill.atomic import atomic_write_text
from edgedistill.baselines import load_baseline_record
from edgedistill.tasks import DataSpec, FinetuneConfig
from edgedistill.teachers import cache_root

COMMAND = ".venv/bin/python benchmarks/studies/teacher_baselines.py"
RECORDS = RESULTS / "teacher_runs"
CAPPED_RECORDS = RECORDS / "capped"

@dataclass(frozen=True)
class Cell:
    dataset: str
    language: str
    variant: str = ""  # an ablation: a name and the settings it changes
    overrides: tuple[tuple[str, object], ...] = ()

    @property
    def name(self) -> str:
        return f"{self.dataset}-{self.language}" + (f"-{self.variant}" if self.variant else "")

    def output_dir(self, runs: Path) -> Path:
        return runs / "ablations" / self.name if self.variant else runs / self.name

    @property
    def settings(self) -> dict:
        return {**COMMON, **PER_DATASET[self.dataset], **dict(self.overrides)}

    def config(self, runs: Path) -> FinetuneConfig:
        return FinetuneConfig(data=DataSpec(self.dataset, language=self.language),
                              output_dir=str(self.output_dir(runs)), **self.settings)


# Cells first trained after the bf16 ablation below (same score; a step 1.4-2.9x faster on this CPU,
# benchmarks/results/precision_speed.md) train in
# bfloat16 autocast; the eight trained before it stay as they were, so their records and students hold.
BF16 = (("precision", "bf16"),)
FP32_CELLS = {"afrisenti-kin", "afrisenti-swa", "sib200-hau", "sib200-ibo", "sib200-kin", "sib200-swh",
              "sib200-yor", "masakhaner-hau"}


def _cell(dataset: str, language: str) -> Cell:
    return Cell(dataset, language, overrides=() if f"{dataset}-{language}" in FP32_CELLS else BF16)


# In run order: the AfriSenti Hausa teacher first (other stages distil from it), SIB-200 English last.
CELLS = [_cell("afrisenti", lang) for lang in ("hau", "ibo", "kin", "swa", "yor")] + \
        [_cell("sib200", lang) for lang in ("hau", "ibo", "kin", "swh", "yor")] + \
        [_cell("masakhaner", lang) for lang in ("hau", "ibo", "kin", "swa", "yor")] + [_cell("sib200", "eng")]
# A cell with changed settings: Cell(dataset, language, name, overrides). bf16: does bfloat16 autocast
# (about 2x faster a step on this CPU) keep the fp32 teacher's score?
ABLATIONS: list[Cell] = [Cell("sib200", "hau", "bf16", (("precision", "bf16"),)),
                         Cell("afrisenti", "kin", "bf16", (("precision", "bf16"),))]

# The first results table's teachers (2026-11): budgets capped to fit a shared 2-core CPU, word
# embeddings frozen. They lost to TF-IDF+LR and CRF baselines on 12 of 15 cells (issue 16); their
# records are kept in teacher_runs/capped/ and the students of chain_table.md were distilled from them.
CAPPED_COMMON = dict(model="e5-small", learning_rate=5e-5, head_learning_rate=1e-3, batch_size=16,
                     eval_batch_size=64, max_length=128, warmup_ratio=0.1, weight_decay=0.01, seed=42,
                     freeze_word_embeddings=True, max_dev_examples=300, select_best_on_dev=True, threads=1)
CAPPED_PER_DATASET = {
    "afrisenti": dict(max_train_examples=1500, epochs=2, class_weights="balanced"),
    "sib200": dict(max_train_examples=None, epochs=3, class_weights="balanced"),
    "masakhaner": dict(max_train_examples=1000, epochs=3, batch_size=8, learning_rate=1e-4),
}

# Full-data teachers: the whole training split, word embeddings trained (only the rows the data uses,
# edgedistill.seen_rows), the best epoch chosen on the whole dev split. Identical for every language.
COMMON = dict(model="e5-small", learning_rate=5e-5, head_learning_rate=1e-3, batch_size=32,
              eval_batch_size=64, max_length=128, warmup_ratio=0.1, weight_decay=0.01, seed=42,
              freeze_word_embeddings=False, max_train_examples=None, max_dev_examples=None,
              select_best_on_dev=True, threads=1)
PER_DATASET = {
    "afrisenti": dict(epochs=3, class_weights="balanced"),
    "sib200": dict(epochs=6, batch_size=16, learning_rate=1e-4, class_weights="balanced"),
    "masakhaner": dict(epochs=3, batch_size=16, learning_rate=1e-4),
}
METRIC_NAMES = {"macro_f1": "macro-F1", "entity_f1": "entity F1 (seqeval)", "accuracy": "accuracy"}


def train_missing(cells: list[Cell], runs: Path, progress: bool) -> None:
    from edgedistill.tasks.finetune import RESULTS_FILE, finetune

    for cell in cells:
        config = cell.config(runs)
        if (Path(config.output_dir) / RESULTS_FILE).is_file():
            print(f"[{cell.name}] done already, skipped", flush=True)
            continue
        print(f"[{cell.name}] fine-tuning, {time.strftime('%H:%M:%S')}", flush=True)
        try:
            results = finetune(config, progress=progress)
        except Exception:  # one failed cell must not stop the others; the table marks it missing
            traceback.print_exc()
            continue
        metric = results["task"]["primary_metric"]
        print(f"[{cell.name}] test {metric} {results['test'][metric]:.4f}, "
              f"wall {results['wall_seconds'] / 60:.1f} min", flush=True)


def load_results(runs: Path, records: Path = RECORDS) -> dict[str, dict]:
    """Each cell's results.json from its model folder (copied to ``records``), else from ``records``."""
    found = {}
    for cell in CELLS + ABLATIONS:
        path, record = cell.output_dir(runs) / "results.json", records / f"{cell.name}.json"
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            atomic_write_text(record, text)
        elif record.is_file():
            text = record.read_text(encoding="utf-8")
        else:
            continue
        found[cell.name] = json.loads(text)
    return found


HEADER = ("| dataset | language | teacher (test) | baseline (test) | teacher vs baseline | majority class "
          "| train examples used | epochs (best on dev) | test examples | train min | wall min |")


def baseline_test(cell: Cell, metric: str) -> tuple[float, str] | None:
    """The cell's baseline test score and kind (benchmarks/studies/baselines.py's record), if it has one."""
    record = load_baseline_record(cell.dataset, cell.language)
    return (record["test"][metric], record["baseline"]["kind"]) if record else None


def versus(teacher: float, baseline: tuple[float, str] | None) -> str:
    if baseline is None:
        return "no baseline record"
    gap = 100 * (teacher - baseline[0])
    return f"{'ahead' if gap >= 0 else 'behind'} by {abs(gap):.1f} points"


def settings_differences(cell: Cell, result: dict, runs: Path) -> dict:
    """Settings with which a cell was trained that differ from the ones this script states now."""
    expected = cell.config(runs).to_dict()
    defaults = {f.name: f.default for f in dataclasses.fields(FinetuneConfig)}  # keys added since
    return {k: result["config"].get(k, defaults[k]) for k, v in expected.items()
            if k not in ("output_dir", "data") and result["config"].get(k, defaults[k]) != v}


def table_row(cell: Cell, result: dict | None, runs: Path) -> str:
    metric = "entity_f1" if cell.dataset == "masakhaner" else "macro_f1"
    baseline = baseline_test(cell, metric)
    shown = f"{baseline[0]:.3f} ({baseline[1]})" if baseline else "no record"
    if result is None:
        return f"| {cell.dataset} | {cell.language} | missing | {shown} | | | | | | | |"
    test, majority = result["test"][metric], result["majority_baseline"]["test"]
    data, training = result["data"], result["training"]
    best = training["best_epoch_on_dev"]
    epochs = f"{training['epochs']:g}" + (f" ({best:g})" if best is not None else "")
    minutes = f"{training['train_seconds'] / 60:.1f} | {result['wall_seconds'] / 60:.1f}"
    if training.get("resumed_from_checkpoint"):  # the times cover only the part after the restart
        minutes = "resumed, not timed | resumed, not timed"
    differs = settings_differences(cell, result, runs)
    marker = f" (other settings: {json.dumps(differs)})" if differs else ""
    return (f"| {cell.dataset} | {cell.language} | **{test:.3f}**{marker} | {shown} | "
            f"{versus(test, baseline)} | {majority[metric]:.3f} ({majority['label']}) | "
            f"{data['train_used']:,} of {data['train']['examples']:,} | {epochs} | {data['test_used']:,} "
            f"| {minutes} |")


def render_table(results: dict[str, dict], runs: Path) -> str:
    lines = [f"<!-- generated by `{COMMAND}` from the cells' results.json or their copies in "
             "teacher_runs/; regenerate, never edit -->",
             "", "# Teachers: multilingual-e5-small, 4-bit weights dequantized, fine-tuned on the whole "
             "training split", "",
             f"Generated by: `{COMMAND}` (fine-tunes the cells that have no results yet into --runs, by "
             "default ~/.cache/edgedistill/runs/teachers/, then writes this file and teacher_baselines.json; "
             "`--table-only` only rewrites them). Baseline: TF-IDF + logistic regression (sentence tasks) or "
             "a CRF (NER), from benchmarks/studies/baselines.py's records, scored on the same test "
             "examples.", ""]
    for dataset in ("afrisenti", "masakhaner", "sib200"):
        metric = "entity_f1" if dataset == "masakhaner" else "macro_f1"
        lines += [f"## {dataset}: test {METRIC_NAMES[metric]}", "", HEADER, "|---" * 11 + "|"]
        lines += [table_row(c, results.get(c.name), runs) for c in CELLS if c.dataset == dataset]
        lines.append("")
    lines += _ablation_section(results) + _superseded_section() + _settings_notes(results)
    return "\n".join(lines) + "\n"


def _ablation_section(results: dict[str, dict]) -> list[str]:
    """Each ablation beside its cell trained with the table's settings."""
    done = [c for c in ABLATIONS if c.name in results]
    if not done:
        return []
    lines = ["## Ablations: one cell, one setting changed", "",
             "| cell | changed | test | with the table's settings | train min | with the table's settings |",
             "|---" * 6 + "|"]
    for cell in done:
        result, base = results[cell.name], results.get(f"{cell.dataset}-{cell.language}")
        metric = result["task"]["primary_metric"]
        base_test = f"{base['test'][metric]:.3f}" if base else "not trained"
        base_minutes = f"{base['training']['train_seconds'] / 60:.1f}" if base else ""
        lines.append(f"| {cell.dataset}-{cell.language} | {json.dumps(dict(cell.overrides))} | "
                     f"{result['test'][metric]:.3f} | {base_test} | "
                     f"{result['training']['train_seconds'] / 60:.1f} | {base_minutes} |")
    return lines + ["", "Minutes are wall time on the shared 2-core machine: they compare only roughly, "
                    "since the load of other jobs differed between the runs.", ""]


def _superseded_section() -> list[str]:
    """The first results table's teachers (capped budgets, frozen word embeddings), from their records."""
    found = sorted(CAPPED_RECORDS.glob("*.json"))
    if not found:
        return []
    lines = ["## Superseded: the first results table's teachers (capped budgets)", "",
             "Trained on at most 1,500 tweets or 1,000 NER sentences with the word embeddings frozen: "
             f"`{json.dumps(CAPPED_COMMON)}`, per dataset `{json.dumps(CAPPED_PER_DATASET)}`. The students "
             "of chain_table.md were distilled from them. Records of the cells trained twice are kept in "
             f"{_relative(CAPPED_RECORDS)}/.", "",
             "| cell | test | majority class | train examples used |", "|---|---|---|---|"]
    for path in found:
        result = json.loads(path.read_text(encoding="utf-8"))
        metric = result["task"]["primary_metric"]
        used = result["data"]["train_used"]
        lines.append(f"| {path.stem} | {result['test'][metric]:.3f} {METRIC_NAMES[metric]} | "
                     f"{result['majority_baseline']['test'][metric]:.3f} | {used:,} |")
    return lines + [""]


def _settings_notes(results: dict[str, dict]) -> list[str]:
    missing = [c.name for c in CELLS + ABLATIONS if c.name not in results]
    env = next(iter(results.values()))["environment"] if results else {}
    return [
        "## Settings (the same for every language)", "",
        f"- Common: `{json.dumps(COMMON)}`", f"- Per dataset: `{json.dumps(PER_DATASET)}`",
        "- Precision: bfloat16 autocast (`precision=bf16`, see the ablation above) for "
        + ", ".join(c.name for c in CELLS if c.overrides == BF16) + "; fp32 for the cells trained before "
        "that ablation (" + ", ".join(sorted(FP32_CELLS)) + ").",
        "- The whole training split (a seeded shuffle: the AfriSenti files are sorted by label); the whole "
        "dev split picks the best epoch; test is always the whole test split, the same examples the "
        "baselines (benchmarks/studies/baselines.py) and the students are scored on.",
        "- Everything is trained, word embeddings included: only the rows the training data uses "
        "(edgedistill/seen_rows.py), the rest of the 250k-row table is never touched. The randomly "
        "initialised head (BERT's pooler and the classifier of the Hugging Face BertFor*Classification "
        "models, kept standard so that export works) learns at head_learning_rate, the encoder at "
        "learning_rate. AfriSenti and SIB-200 weight the loss by inverse class frequency (balanced).",
        "- Sentence tasks get the \"query: \" prefix (multilingual-e5's convention for classification); "
        "NER words get no prefix.",
        "- Majority class: the most frequent training label predicted everywhere (for NER \"O\", so "
        "entity F1 0).",
        f"- Machine: {env.get('cpu', '?')} with 2 cores, CPU only, {env.get('torch_threads', '?')} torch "
        f"thread, torch {env.get('torch', '?')}, transformers {env.get('transformers', '?')}. The cores "
        "were shared with other engineers' jobs throughout; with 2 threads under that load a step was "
        "5-10x slower than with 1 (OpenMP threads waiting on each other), hence threads=1, and most cells "
        "ran two at a time. No GPU was available to this work. Times are what this machine gave and vary "
        "with its load; a cell that resumed from the checkpoint of an interrupted process is not timed.",
        "- Missing cells: " + (", ".join(missing) if missing else "none"), "",
    ]


def summary_json(results: dict[str, dict], runs: Path) -> str:
    cells = {c.name: c for c in CELLS + ABLATIONS}
    rows = {name: {"metric": r["task"]["primary_metric"], "test": r["test"][r["task"]["primary_metric"]],
                   "majority_baseline": r["majority_baseline"]["test"][r["task"]["primary_metric"]],
                   "test_all_metrics": {k: v for k, v in r["test"].items() if isinstance(v, float)},
                   "train_used": r["data"]["train_used"], "epochs": r["training"]["epochs"],
                   "train_seconds": r["training"]["train_seconds"], "wall_seconds": r["wall_seconds"],
                   "model_dir": _relative(cells[name].output_dir(runs)), "config": r["config"]}
            for name, r in results.items()}
    return json.dumps({"generated_by": COMMAND, "teacher": "multilingual-e5-small, 4-bit weights dequantized",
                       "cells": rows}, indent=2) + "\n"


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=cache_root() / "runs" / "teachers",
                        help="model folders and their epoch checkpoints, outside the work tree so that an "
                             "interrupted cell resumes in a later session [default: %(default)s]")
    parser.add_argument("--only", nargs="*", help="cells to train, e.g. afrisenti-hau sib200-yor")
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    runs = args.runs.resolve()
    if not args.table_only:
        known = {c.name: c for c in CELLS + ABLATIONS}
        unknown = [name for name in args.only or () if name not in known]
        if unknown:
            parser.error(f"no cell {unknown[0]!r}; cells: {', '.join(known)}")
        cells = [known[name] for name in args.only] if args.only else CELLS + ABLATIONS  # in the order given
        train_missing(cells, runs, progress=not args.no_progress)
    results = load_results(runs)
    atomic_write_text(RESULTS / "teacher_baselines.md", render_table(results, runs))
    atomic_write_text(RESULTS / "teacher_baselines.json", summary_json(results, runs))
    print(f"wrote {RESULTS / 'teacher_baselines.md'} ({len(results)} of {len(CELLS) + len(ABLATIONS)} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
