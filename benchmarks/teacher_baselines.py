"""Teacher baselines: fine-tune the embedded e5-small teacher on every cell and write the table.

    .venv/bin/python benchmarks/teacher_baselines.py                 # train missing cells, write the table
    .venv/bin/python benchmarks/teacher_baselines.py --table-only    # only rewrite the table
    .venv/bin/python benchmarks/teacher_baselines.py --only afrisenti-hau

Each cell is ``edgedistill finetune`` with the settings below (the same FinetuneConfig the CLI
builds), written to runs/teachers/<dataset>-<language>/ with its results.json. A cell whose
results.json exists is not trained again; an interrupted cell resumes from its last epoch checkpoint.
The table (benchmarks/results/teacher_baselines.md) and a JSON summary beside it are generated
from those results.json files only: regenerate, never edit.

The model folders (470 MB each) are not kept in git, so each cell's results.json is also copied to
benchmarks/results/teacher_runs/<cell>.json, and a cell whose folder is absent is read from there: the
table regenerates in a fresh clone. Trained again on 2026-12-03, the five SIB-200 cells gave the
same test score to the last digit; MasakhaNER Igbo and Yoruba did not (0.267 and 0.598 against 0.306
and 0.600 from 2026-11-21; cause not found).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from edgedistill.atomic import atomic_write_text
from edgedistill.tasks import DataSpec, FinetuneConfig

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
COMMAND = ".venv/bin/python benchmarks/teacher_baselines.py"
RECORDS = RESULTS / "teacher_runs"

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

    def config(self, runs: Path) -> FinetuneConfig:
        settings = {**COMMON, **PER_DATASET[self.dataset], **dict(self.overrides)}
        return FinetuneConfig(data=DataSpec(self.dataset, language=self.language),
                              output_dir=str(self.output_dir(runs)), **settings)


# In run order: the AfriSenti Hausa teacher first (other stages distil from it), SIB-200 English last.
CELLS = [Cell("afrisenti", lang) for lang in ("hau", "ibo", "kin", "swa", "yor")] + \
        [Cell("sib200", lang) for lang in ("hau", "ibo", "kin", "swh", "yor")] + \
        [Cell("masakhaner", lang) for lang in ("hau", "ibo", "kin", "swa", "yor")] + [Cell("sib200", "eng")]
# Does freezing the word embeddings cost accuracy? The same cell with them trained.
ABLATIONS = [Cell("afrisenti", "hau", "train-word-embeddings", (("freeze_word_embeddings", False),))]

# Settings chosen to fit a shared 2-core CPU (see the table's notes); identical for every language.
COMMON = dict(model="e5-small", learning_rate=5e-5, head_learning_rate=1e-3, batch_size=16,
              eval_batch_size=64, max_length=128, warmup_ratio=0.1, weight_decay=0.01, seed=42,
              freeze_word_embeddings=True, max_dev_examples=300, select_best_on_dev=True, threads=1)
PER_DATASET = {
    "afrisenti": dict(max_train_examples=1500, epochs=2, class_weights="balanced"),
    "sib200": dict(max_train_examples=None, epochs=3, class_weights="balanced"),
    "masakhaner": dict(max_train_examples=1000, epochs=3, batch_size=8, learning_rate=1e-4),
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


HEADER = ("| dataset | language | teacher (test) | majority class | train examples used "
          "| epochs (best on dev) | test examples | train min | wall min |")


def settings_differences(cell: Cell, result: dict, runs: Path) -> dict:
    """Settings with which a cell was trained that differ from the ones this script states now."""
    expected = cell.config(runs).to_dict()
    return {k: result["config"].get(k) for k, v in expected.items()
            if k not in ("output_dir", "data") and result["config"].get(k) != v}


def table_row(cell: Cell, result: dict | None, runs: Path) -> str:
    if result is None:
        return f"| {cell.dataset} | {cell.language} | missing | | | | | | |"
    metric = result["task"]["primary_metric"]
    test, baseline = result["test"][metric], result["majority_baseline"]["test"]
    data, training = result["data"], result["training"]
    best = training["best_epoch_on_dev"]
    epochs = f"{training['epochs']:g}" + (f" ({best:g})" if best is not None else "")
    minutes = f"{training['train_seconds'] / 60:.1f} | {result['wall_seconds'] / 60:.1f}"
    if training.get("resumed_from_checkpoint"):  # the times cover only the part after the restart
        minutes = "resumed, not timed | resumed, not timed"
    differs = settings_differences(cell, result, runs)
    marker = f" (other settings: {json.dumps(differs)})" if differs else ""
    return (f"| {cell.dataset} | {cell.language} | **{test:.3f}**{marker} | {baseline[metric]:.3f} "
            f"({baseline['label']}) | {data['train_used']:,} of {data['train']['examples']:,} | {epochs} "
            f"| {data['test_used']:,} | {minutes} |")


def render_table(results: dict[str, dict], runs: Path) -> str:
    lines = [f"<!-- generated by `{COMMAND}` from runs/teachers/*/results.json or their copies in "
             "teacher_runs/; regenerate, never edit -->",
             "", "# Teacher baselines: multilingual-e5-small, 4-bit weights dequantized, fine-tuned", "",
             f"Generated by: `{COMMAND}` (fine-tunes the cells that have no results yet into runs/teachers/, "
             f"then writes this file and teacher_baselines.json; `--table-only` only rewrites them).", ""]
    for dataset in ("afrisenti", "masakhaner", "sib200"):
        metric = "entity_f1" if dataset == "masakhaner" else "macro_f1"
        lines += [f"## {dataset}: test {METRIC_NAMES[metric]}", "", HEADER, "|---" * 9 + "|"]
        lines += [table_row(c, results.get(c.name), runs) for c in CELLS if c.dataset == dataset]
        lines.append("")
    lines += _ablation_section(results) + _superseded_section(runs) + _settings_notes(results)
    return "\n".join(lines) + "\n"


def _ablation_section(results: dict[str, dict]) -> list[str]:
    lines = ["## Ablation: freezing the word embeddings", "",
             "| cell | word embeddings | test macro-F1 | trainable parameters | s/step | train min |",
             "|---|---|---|---|---|---|"]
    for cell in ABLATIONS:
        base = Cell(cell.dataset, cell.language)
        for label, result in (("frozen (the table above)", results.get(base.name)),
                              ("trained", results.get(cell.name))):
            if result is None:
                lines.append(f"| {base.name} | {label} | missing | | | |")
                continue
            metric, training = result["task"]["primary_metric"], result["training"]
            trainable = result["model"]["trainable_parameters"]
            lines.append(f"| {base.name} | {label} | {result['test'][metric]:.3f} | {trainable:,} | "
                         f"{training['seconds_per_step']:.2f} | {training['train_seconds'] / 60:.1f} |")
    return lines + [""]


def _superseded_section(runs: Path) -> list[str]:
    """Results of earlier settings, kept under runs/teachers/superseded/, so that nothing is hidden."""
    found = sorted((runs / "superseded").glob("*/results.json"))
    if not found:
        return []
    cells = {c.name: c for c in CELLS}
    lines = ["## Superseded runs (earlier settings)", "",
             "The first settings trained the new head at the encoder's learning rate and weighted all "
             "classes alike: AfriSenti Swahili (59% neutral) never left the majority class. The first NER "
             "settings (2 epochs, batch 16, learning rate 5e-5: 126 steps) had barely started to find "
             "entities. Those models are kept under runs/teachers/superseded/.", "",
             "| run | test | majority class | settings that differ from the current ones |",
             "|---|---|---|---|"]
    for path in found:
        result = json.loads(path.read_text())
        metric = result["task"]["primary_metric"]
        cell = cells.get(path.parent.name.rsplit("-v", 1)[0])
        differs = settings_differences(cell, result, runs) if cell else {}
        lines.append(f"| {path.parent.name} | {result['test'][metric]:.3f} {METRIC_NAMES[metric]} | "
                     f"{result['majority_baseline']['test'][metric]:.3f} | `{json.dumps(differs)}` |")
    return lines + [""]


def _settings_notes(results: dict[str, dict]) -> list[str]:
    missing = [c.name for c in CELLS + ABLATIONS if c.name not in results]
    env = next(iter(results.values()))["environment"] if results else {}
    return [
        "## Settings (the same for every language)", "",
        f"- Common: `{json.dumps(COMMON)}`", f"- Per dataset: `{json.dumps(PER_DATASET)}`",
        "- Training examples are a seeded shuffle of the training split (the AfriSenti files are sorted by "
        "label), capped as above; dev is a seeded sample of 300 that picks the best epoch; test is always "
        "the whole test split.",
        "- Word embeddings frozen (96M of the 118M parameters); everything else is trained. The randomly "
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
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "teachers")
    parser.add_argument("--only", nargs="*", help="cells to train, e.g. afrisenti-hau sib200-yor")
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    runs = args.runs.resolve()
    if not args.table_only:
        cells = [c for c in CELLS + ABLATIONS if not args.only or c.name in args.only]
        train_missing(cells, runs, progress=not args.no_progress)
    results = load_results(runs)
    atomic_write_text(RESULTS / "teacher_baselines.md", render_table(results, runs))
    atomic_write_text(RESULTS / "teacher_baselines.json", summary_json(results, runs))
    print(f"wrote {RESULTS / 'teacher_baselines.md'} ({len(results)} of {len(CELLS) + len(ABLATIONS)} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
