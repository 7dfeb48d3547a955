"""The table of issue 16: per cell, the baseline, the full-data teacher and the default student.

    .venv/bin/python benchmarks/studies/shipping_table.py                     # make missing runs, write table
    .venv/bin/python benchmarks/studies/shipping_table.py --only sib200-hau sib200-yor   # cells, in order
    .venv/bin/python benchmarks/studies/shipping_table.py --students default default-kl  # candidates
    .venv/bin/python benchmarks/studies/shipping_table.py --table-only

A run is one `edgedistill run` of a student recipe on one cell, distilled from that cell's teacher
made by benchmarks/studies/teacher_baselines.py (the whole training split, word embeddings trained). A cell
whose teacher is not there yet is listed as waiting for it; nothing fine-tunes a teacher here. Runs
live outside the work tree (--runs, default ~/.cache/edgedistill/runs/students) so that an interrupted
one resumes in a later session, and each finished run leaves a record in
benchmarks/results/shipping_runs/ (its rows and a settings key), from which the table regenerates in a
fresh clone. The baseline rows are benchmarks/studies/baselines.py's records, scored on the same test
examples.

The students (STUDENTS below) all start from every other layer of their teacher (6 of 12 layers,
384 hidden, the teacher's own heads and FFN), learn from the teacher's outputs on the whole training
split (the teacher saw every gold label of it, so the gold-label term adds no data it lacked) and see at
least 12,000 examples (small splits are repeated for more epochs); token tasks match per-token logits.
The vocabulary is trimmed to the tokens (40k; 80k for NER, see VOCABULARY) most frequent in the
language's raw text and the task's training texts (with the "query: " prefix the model reads; raw
text alone cost the first SIB-200
Hausa student 1.5 points of macro-F1 between its PyTorch and ONNX scores). The candidates differ
in the distillation loss ("default" logit MSE, "default-kl" KL at T=2) or the transfer set
("default-raw" adds up to 10k sentences of the language's raw MAFAND text, labelled by the teacher
only); the table says which one the default recipe should take.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import traceback
from pathlib import Path

from results_table import (
    TABLE_CELLS,
    TEACHER,
    TRIM,
    RunRows,
    inline_table,
    run_dir,
    run_rows,
    settings_key,
)
from study_paths import RESULTS, ROOT
from teacher_baselines import CELLS as TEACHER_CELLS
from teacher_baselines import Cell, load_results
from versus_baseline import RECORDS as PAIRED_RECORDS

from edgedistill.atomic import atomic_write_text
from edgedistill.baselines import load_baseline_record
from edgedistill.shared_data import RAW_TEXT_ALIASES
from edgedistill.teachers import cache_root

COMMAND = ".venv/bin/python benchmarks/studies/shipping_table.py"
RECORDS = RESULTS / "shipping_runs"
EXAMPLES_SEEN = 12_000  # at least this many training examples per run: 375 steps at batch 32

# The trimmed vocabulary counts the task's training texts (its "query: " prefix included) beside the raw text.
TRIM_WITH_TASK_TEXT = TRIM[:-1] + ", task_text=true}"
_FROM_TEACHER_LAYERS = ["student.init=teacher-layers", 'student.layers="every-other"',
                        f"next=[{TRIM_WITH_TASK_TEXT}]"]
STUDENTS: dict[str, list[str]] = {
    "default": [*_FROM_TEACHER_LAYERS,
                'losses=[{type="logit-mse", weight=0.5}, {type="labels", weight=0.5}]'],
    "default-kl": [*_FROM_TEACHER_LAYERS,
                   'losses=[{type="kl", weight=0.5, temperature=2.0}, {type="labels", weight=0.5}]'],
}
# Entity names are rare: a 40k trim re-segmented 6.6% of MasakhaNER Hausa's test entity words and cost
# the NER student 2.4 points of entity F1; 80k gave them back (benchmarks/results/
# vocab_sweep_shipping-default-masakhaner-hau.md). Sentence tasks keep 40k.
VOCABULARY = {"masakhaner": 80_000}
# "default" with the language's raw MAFAND text (all its splits, up to 10k sentences) added to the
# transfer set: the teacher labels it; at least 2 passes over the larger set instead of 3.
RAW_TRANSFER_SENTENCES = 10_000
STUDENTS["default-raw"] = [*STUDENTS["default"], 'data.unlabelled={language="RAW", splits=["train", "dev", '
                           f'"test"], max_sentences={RAW_TRANSFER_SENTENCES}}}']


@functools.cache  # the table plans every (student, cell) twice: its settings and its record's key
def train_size(cell: Cell) -> int:
    from edgedistill.tasks.config import DataSpec
    from edgedistill.tasks.task import load_task

    task = load_task(DataSpec(cell.dataset, language=cell.language), splits=("train",))
    return len(task.splits["train"].examples)


def teacher_cell(cell: Cell) -> Cell:
    """The teacher's cell of benchmarks/studies/teacher_baselines.py: its fine-tuning settings."""
    return next(c for c in TEACHER_CELLS if c.name == cell.name)


@functools.cache
def raw_transfer_size(language: str) -> int:
    """Raw sentences "default-raw" adds (before the few equal to a dev or test text are dropped)."""
    from edgedistill.shared_data import DataNotFound, raw_sentences

    count = 0
    for split in ("train", "dev", "test"):
        try:
            count += len(raw_sentences(language, split=split))
        except DataNotFound:
            continue
    return min(count, RAW_TRANSFER_SENTENCES)


def student_config(student: str, cell: Cell, teachers: Path | None):
    """The student's recipe on ``cell``; the teacher is ``teachers/<cell>``, or (``teachers=None``,
    for the settings key) named by its fine-tuning settings."""
    from edgedistill.chain.run import resolve_recipe

    raw = RAW_TEXT_ALIASES.get(cell.language, cell.language)
    unlabelled = any(item.startswith("data.unlabelled=") for item in STUDENTS[student])
    examples = train_size(cell) + (raw_transfer_size(raw) if unlabelled else 0)
    epochs = max(2.0 if unlabelled else 3.0, round(EXAMPLES_SEEN / examples, 2))
    settings = [item.replace("RAW", raw) for item in STUDENTS[student]] + [
        "data.raw=none", f'data.task={{dataset="{cell.dataset}", language="{cell.language}"}}',
        "data.max_train_examples=none", "data.max_eval_examples=none", "teacher.head=auto",
        "training.threads=1", f"training.epochs={epochs}", f'name="{student}-{cell.name}"']
    if cell.dataset in VOCABULARY:  # next[0] is the trim
        settings.append(f"next[0].target_size={VOCABULARY[cell.dataset]}")
    if teachers is None:
        budget = {k: v for k, v in teacher_cell(cell).settings.items() if k != "model"}
        settings += ['teacher.model="e5-small"', f"teacher.finetune={inline_table(budget)}"]
    else:
        settings.append(f'teacher.model="{teachers / cell.name}"')
    return resolve_recipe("gurgurov", settings=settings)


def record_key(student: str, cell: Cell) -> str:
    """The settings key of a run's record: its recipe and the chain's INT8 defaults (a record made
    before the quantize step started per-channel does not count for the table now)."""
    from edgedistill.chain.plan import QUANTIZE_DEFAULTS

    return settings_key(student_config(student, cell, teachers=None), extra=QUANTIZE_DEFAULTS)


def make_runs(cells: list[Cell], students: list[str], runs: Path, teachers: Path) -> None:
    from edgedistill.chain.run import run_chain

    for cell in cells:
        if not (teachers / cell.name / "results.json").is_file():
            print(f"[{cell.name}] no teacher in {teachers / cell.name} yet; run "
                  f"benchmarks/studies/teacher_baselines.py --only {cell.name} first", flush=True)
            continue
        for student in students:
            key = record_key(student, cell)
            if rows_of(runs, student, cell, teachers, key).rows:
                print(f"[{student} {cell.name}] done already", flush=True)
                continue
            config = student_config(student, cell, teachers)
            try:
                run_chain(config, run_dir(runs, student, cell))
            except Exception:  # noqa: BLE001 - one failed run must not stop the others
                traceback.print_exc()
                print(f"[{student} {cell.name}] failed; the table marks it missing", flush=True)
                continue
            rows_of(runs, student, cell, teachers, key)  # records the finished run


def rows_of(runs: Path, student: str, cell: Cell, teachers: Path, key: str) -> RunRows:
    return run_rows(runs, RECORDS, student, cell, student_config(student, cell, teachers), key,
                    command=COMMAND)


# ---------------------------------------------------------------- the table

def baseline_row(cell: Cell) -> dict | None:
    metric = "entity_f1" if cell.dataset == "masakhaner" else "macro_f1"
    record = load_baseline_record(cell.dataset, cell.language)
    if record is None:
        return None
    return {"cell": cell.name, "model": f"baseline: {record['baseline']['kind']}",
            "metric": record["test"][metric], "size_bytes": record["model"]["bytes"],
            "ms_per_text": record["prediction"]["ms_per_text_median"], "vs_baseline": None}


def collect(cells: list[Cell], students: list[str], runs: Path, teachers: Path
            ) -> tuple[list[dict], list[str]]:
    """Per cell: the baseline, the teacher (its record; size and speed from a student's run) and the
    students' FP32 and INT8 rows."""
    teacher_results = load_results(teachers)
    rows, missing = [], []
    for cell in cells:
        baseline, result = baseline_row(cell), teacher_results.get(cell.name)
        found = {student: rows_of(runs, student, cell, teachers, record_key(student, cell))
                 for student in students}
        measured = next((run.rows[0] for run in found.values() if run.rows), {})
        if result:
            metric = result["task"]["primary_metric"]
            rows.append({**measured, "cell": cell.name, "model": TEACHER, "metric": result["test"][metric],
                         "retention": 1.0})
        for label, row in (("baseline", baseline), ("teacher", result)):
            if row is None:
                missing.append(f"{label} {cell.name}")
        for student, run in found.items():
            if run.rows:
                rows.extend(run.rows[1:])
            else:
                why = run.missing_because if result else "waiting for its teacher"
                missing.append(f"{student}-{cell.name}" + ("" if why == "not run" else f" ({why})"))
        if baseline:
            compared = [r for r in rows if r["cell"] == cell.name]
            rows.insert(len(rows) - len(compared), baseline)
            paired = paired_intervals(cell, baseline["metric"])
            for row in compared:
                row["vs_baseline"] = row["metric"] - baseline["metric"]
                interval = paired.get((row["model"], round(row["metric"], 6)))
                if interval:
                    row["vs_baseline_interval"] = interval
    return rows, missing


def paired_intervals(cell: Cell, baseline: float) -> dict[tuple[str, float], list[float]]:
    """The 5th-95th percentile of (model - baseline) over paired resamples of the test split, from
    versus_baseline.py's record of the cell, keyed by (table model, its score): an interval counts only
    for the very scores it was measured on."""
    path = PAIRED_RECORDS / f"{cell.name}.json"
    if not path.is_file():
        return {}
    record = json.loads(path.read_text(encoding="utf-8"))
    if round(record["scores"]["baseline"], 6) != round(baseline, 6):
        return {}
    names = {"student INT8": "default INT8", "teacher": TEACHER}
    return {(names[name], round(record["scores"][name], 6)):
            record["differences"][f"{name} - baseline"]["interval_5_95"] for name in names}


def _fmt(value, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, int | float) else "-"


def _versus(gap: float | None, interval: list[float] | None = None) -> str:
    if gap is None:
        return ""
    text = f"{'ahead' if gap >= 0 else 'behind'} by {abs(100 * gap):.1f}"
    if interval:
        low, high = interval
        noise = "within noise, " if low <= 0 <= high else ""
        text += f" ({noise}90% interval {100 * low:+.1f} to {100 * high:+.1f})"
    return text


def summary(rows: list[dict], students: list[str]) -> list[str]:
    lines = ["", "## Against the goals of issue 16", "",
             "| model | cells | at or above the baseline | clearly behind it (of those measured) | "
             "mean % of the teacher |",
             "|---|---|---|---|---|"]
    for model in [TEACHER] + [f"{s} {p}" for s in students for p in ("FP32", "INT8")]:
        mine = [r for r in rows if r["model"] == model]
        if not mine:
            continue
        ahead = sum(r.get("vs_baseline") is not None and r["vs_baseline"] >= 0 for r in mine)
        compared = sum(r.get("vs_baseline") is not None for r in mine)
        retention = [100 * r["retention"] for r in mine if r.get("retention") is not None]
        mean = f"{sum(retention) / len(retention):.1f}" if retention else "-"
        intervals = [r["vs_baseline_interval"] for r in mine if r.get("vs_baseline_interval")]
        behind = sum(high < 0 for _, high in intervals)
        lines.append(f"| {model} | {len(mine)} | {ahead} of {compared} | {behind} of {len(intervals)} "
                     f"| {mean} |")
    return lines + ["", "Clearly behind: of the cells with a paired bootstrap over their test examples "
                    "(benchmarks/studies/versus_baseline.py), those whose 90% interval of (model - "
                    "baseline) lies below 0.",
                    "", "Goals: teachers at or above the baseline on at least 12 of 15 cells; the default "
                    "INT8 student at or above it on at least 12 of 15, with a mean of at least 95% of its "
                    "teacher."]


def render(rows: list[dict], missing: list[str], students: list[str]) -> str:
    lines = ["# Baseline, teacher and default student on five African languages (generated)", "",
             f"Produced by `{COMMAND}` from the runs' records in shipping_runs/ and the baselines' records "
             "in baselines/; regenerate, never edit. Task metric on the whole test split: macro-F1 "
             "(AfriSenti, SIB-200) or entity F1 (MasakhaNER). Baseline: TF-IDF + logistic regression or a "
             "CRF (benchmarks/studies/baselines.py). Teacher: multilingual-e5-small (4-bit weights "
             "dequantized) fine-tuned on the whole training split (benchmarks/studies/teacher_baselines.py). "
             "Students: see the "
             "script's header. Latency and RSS ratios are against the teacher in PyTorch FP32 in the same "
             "benchmark run (seq 128, batch 1, one thread); the baseline's latency is its own per-text "
             "median.", "",
             "| cell | model | task metric | vs baseline (points) | % of teacher | file MB | latency ratio "
             "| RSS ratio |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        latency = (f"{r['ms_per_text']:.3f} ms/text" if r.get("ms_per_text") is not None
                   else _fmt(r.get("latency_ratio"), ".3f"))
        lines.append(f"| {r['cell']} | {r['model']} | {_fmt(r['metric'], '.4f')} | "
                     f"{_versus(r.get('vs_baseline'), r.get('vs_baseline_interval'))} "
                     f"| {_fmt(r.get('retention') and 100 * r['retention'], '.1f')} | "
                     f"{_fmt(r.get('size_bytes') and r['size_bytes'] / 1e6, '.1f')} | {latency} | "
                     f"{_fmt(r.get('rss_ratio'), '.3f')} |")
    lines += summary(rows, students)
    if missing:
        lines += ["", f"Missing ({len(missing)}): {', '.join(missing)}."]
    return "\n".join(lines) + "\n"


README_START, README_END = "<!-- shipping-table:start -->", "<!-- shipping-table:end -->"


def readme_block(rows: list[dict], student: str = "default") -> str:
    """One line per cell for the README: baseline, teacher, the student's INT8 bundle, its size and speed."""
    lines = [README_START, f"<!-- generated by `{COMMAND}` (also writes benchmarks/results/"
             "shipping_table.md); regenerate, never edit -->", "",
             "| cell | baseline | teacher (e5-small, 470 MB) | student INT8 | vs baseline | student MB "
             "| speed-up vs teacher |", "|---|---|---|---|---|---|---|"]
    for cell in dict.fromkeys(r["cell"] for r in rows):
        mine = {r["model"]: r for r in rows if r["cell"] == cell}
        baseline = next((r for name, r in mine.items() if name.startswith("baseline")), None)
        teacher, int8 = mine.get(TEACHER), mine.get(f"{student} INT8")
        kind = baseline["model"].removeprefix("baseline: ") if baseline else ""
        latency = int8 and int8.get("latency_ratio")
        lines.append(f"| {cell} | {_fmt(baseline and baseline['metric'], '.3f')} {kind} | "
                     f"{_fmt(teacher and teacher['metric'], '.3f')} | "
                     f"{_fmt(int8 and int8['metric'], '.3f')} | "
                     f"{_versus(int8 and int8.get('vs_baseline'), int8 and int8.get('vs_baseline_interval'))}"
                     " | "
                     f"{_fmt(int8 and int8.get('size_bytes') and int8['size_bytes'] / 1e6, '.1f')} | "
                     f"{_fmt(latency and 1 / latency, '.1f')}{'x' if latency else ''} |")
    return "\n".join(lines + ["", README_END])


def update_readme(readme: Path, block: str) -> bool:
    """Replace the README's generated table between its markers; False if it has none."""
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return False
    atomic_write_text(readme, text[:start] + block + text[end + len(README_END):])
    return True


def write_table(cells: list[Cell], students: list[str], runs: Path, teachers: Path,
                out: Path = RESULTS, readme: Path | None = ROOT / "README.md") -> None:
    rows, missing = collect(cells, students, runs, teachers)
    atomic_write_text(out / "shipping_table.md", render(rows, missing, students))
    if readme is not None and not update_readme(readme, readme_block(rows)):
        print(f"{readme} has no {README_START} marker: its table was not updated")
    atomic_write_text(out / "shipping_table.json",
                      json.dumps({"command": COMMAND, "rows": rows, "missing": missing}, indent=2) + "\n")
    print(f"wrote {out / 'shipping_table.md'} ({len(rows)} rows, {len(missing)} missing)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    home = cache_root() / "runs"
    parser.add_argument("--runs", type=Path, default=home / "students")
    parser.add_argument("--teachers", type=Path, default=home / "teachers")
    parser.add_argument("--only", nargs="*", help="cells, in the order to run them, e.g. sib200-hau")
    parser.add_argument("--students", nargs="*", choices=sorted(STUDENTS), default=list(STUDENTS))
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args(argv)
    known = {c.name: c for c in TABLE_CELLS}
    unknown = [name for name in args.only or () if name not in known]
    if unknown:
        parser.error(f"no cell {unknown[0]!r}; cells: {', '.join(known)}")
    if not args.table_only:
        cells = [known[name] for name in args.only] if args.only else TABLE_CELLS
        make_runs(cells, args.students, args.runs.resolve(), args.teachers.resolve())
    write_table(TABLE_CELLS, list(STUDENTS), args.runs.resolve(), args.teachers.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
