"""The results table of issue 8: teacher and three students on five African languages, FP32 and INT8.

    .venv/bin/python benchmarks/studies/results_table.py               # run every missing cell, write table
    .venv/bin/python benchmarks/studies/results_table.py --dry-run     # plan every run, train nothing
    .venv/bin/python benchmarks/studies/results_table.py --table-only  # only rewrite it from finished runs
    .venv/bin/python benchmarks/studies/results_table.py --only afrisenti-hau --students comet
    .venv/bin/python benchmarks/studies/results_table.py --jobs 2      # two runs at a time, one thread each

Each (student, cell) is one `edgedistill run` (edgedistill.chain) in runs/results/<student>-<cell>/,
so an interrupted run resumes and a finished one is reused. The teacher of a cell is
runs/teachers/<cell> when benchmarks/studies/teacher_baselines.py made it, else the chain fine-tunes
e5-small with the same settings. Every student's vocabulary is trimmed to 40k tokens of the cell's
language. The table (benchmarks/results/chain_table.md, .json, .png) is generated from the runs'
facts.json only: regenerate, never edit.

A run takes 10-20 minutes on this project's 2-core machines and its folder (hundreds of MB) is not
kept in git, so each finished run also leaves a record, benchmarks/results/chain_runs/<run>.json: its
three table rows and a key of the settings it was made with. A cell whose run folder is absent counts
from its record while the key matches the settings this script states now; a changed recipe makes
the record stale, and the table lists the run as missing until it is made again. The key names the
teacher by its fine-tuning recipe, not by the folder it was read from, so a record made with
runs/teachers/<cell> counts on a machine whose chain would fine-tune that teacher itself.

The teacher is multilingual-e5-small fine-tuned on the task: it has class logits and no MLM head. So
the gurgurov and cruz recipes, written for MLM teachers (XLM-R, mBERT) on raw text, are adapted to
distil on the task: their MLM term becomes the gold-label term, and their structure stays (gurgurov:
every other teacher layer, logit MSE, FFN pruned to 2/3, hidden size 312 by SVD with a second round;
cruz: a blank 4L/312H/FFN 1200 student with random embeddings, KL at T = 2, then fine-tuned).

Budgets, the same for every student: the teacher labels at most 4,000 training examples (the transfer
set) and every distillation round sees 12,000 of them (375 steps at batch 32), so small training
splits (SIB-200's 701 sentences, AfriSenti kin and swa) are repeated for more epochs. Cruz's own
fine-tuning step gets the teacher's labelled budget and schedule (1,500 tweets x 2 epochs, SIB-200's
701 x 3, 1,000 MasakhaNER sentences x 3), not more. One asymmetry stays and the table says so: the
gold-label term of gurgurov and cruz reads the labels of the whole transfer set (up to 4,000), while
the teacher was fine-tuned on 1,500 tweets (AfriSenti) or 1,000 sentences (MasakhaNER).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import subprocess
import sys
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from study_paths import RESULTS, ROOT
from teacher_baselines import CAPPED_COMMON, CAPPED_PER_DATASET, CELLS, Cell

from edgedistill.atomic import atomic_save_figure, atomic_write_text
from edgedistill.shared_data import RAW_TEXT_ALIASES

COMMAND = ".venv/bin/python benchmarks/studies/results_table.py"
TABLE_CELLS = [cell for cell in CELLS if cell.language != "eng"]  # five African languages per dataset
TRIM = '{step="trim-vocab", target_size=40000, languages=["RAW"]}'
TRANSFER_EXAMPLES = 4000  # training examples the teacher labels for distillation, at most
EXAMPLES_SEEN = 12_000  # 375 steps at batch 32: 3 epochs of 4,000; smaller training splits get more epochs
STUDENTS: dict[str, tuple[str, list[str]]] = {
    "comet": ("comet", [f"next=[{TRIM}]"]),
    "gurgurov": ("gurgurov", [
        "student.init=teacher-layers",
        'losses=[{type="logit-mse", weight=0.5}, {type="labels", weight=0.5}]',
        'next=[{step="prune-ffn", ffn_size=1024}, {step="distill", name="gurgurov-round2", '
        f'student={{init="reduce-hidden", hidden_size=312, method="svd"}}}}, {TRIM}]']),
    "cruz": ("cruz-tiny", [
        'losses=[{type="kl", weight=0.5, temperature=2.0}, {type="labels", weight=0.5}]',
        f'next=[{{step="finetune", FINETUNE}}, {TRIM}]']),
}
ConfigFor = Callable[[str, Cell], object]  # (student, cell) -> the DistillConfig its run must have used
KeyFor = Callable[[str, Cell], str]  # (student, cell) -> the settings key its record must carry
RECORDS = "chain_runs"  # the runs' records, a folder beside chain_table.md


def cell_config(student: str, cell: Cell, teachers: Path | None, extra: tuple[str, ...] = ()):
    """The student's recipe on ``cell``: its task, its teacher, its language, the whole test split.

    The teacher is ``teachers/<cell>`` when that folder exists; otherwise (and with ``teachers=None``)
    the chain fine-tunes e5-small with benchmarks/studies/teacher_baselines.py's settings. ``extra`` settings
    (``key=value``, as `edgedistill run --set` takes them) come last.
    """
    from edgedistill.chain.run import resolve_recipe

    recipe, settings = STUDENTS[student]
    raw = RAW_TEXT_ALIASES.get(cell.language, cell.language)  # the trim step names the raw text's code
    teacher_budget = {k: v for k, v in {**CAPPED_COMMON, **CAPPED_PER_DATASET[cell.dataset]}.items()
                      if k != "model"}
    # The student's own fine-tuning sees the teacher's labelled budget and schedule, not more; its word
    # embeddings train (they are the student's own, learnt from scratch).
    student_finetune = inline_table({**teacher_budget, "freeze_word_embeddings": False})[1:-1]
    settings = [item.replace("RAW", raw).replace("FINETUNE", student_finetune) for item in settings] + [
        "data.raw=none", f'data.task={{dataset="{cell.dataset}", language="{cell.language}"}}',
        f"data.max_train_examples={TRANSFER_EXAMPLES}", "data.max_eval_examples=none", "teacher.head=auto",
        "training.threads=1", f'name="{student}-{cell.name}"']
    epochs = distill_epochs(cell)
    if epochs != 3.0:  # the recipes' own schedule is 3 epochs; saying so again would change fingerprints
        settings.append(f"training.epochs={epochs}")
    teacher = teachers / cell.name if teachers else None
    if teacher and teacher.is_dir():
        settings.append(f'teacher.model="{teacher}"')
    else:  # the chain fine-tunes e5-small as benchmarks/studies/teacher_baselines.py would
        settings += ['teacher.model="e5-small"', f"teacher.finetune={inline_table(teacher_budget)}"]
    return resolve_recipe(recipe, settings=[*settings, *extra])


@functools.cache  # the table plans 45 runs; each cell's training split is read once
def distill_epochs(cell: Cell) -> float:
    """Epochs over the cell's transfer set that show every student the same number of examples."""
    from edgedistill.tasks.config import DataSpec
    from edgedistill.tasks.task import load_task

    available = len(load_task(DataSpec(cell.dataset, language=cell.language), splits=("train",))
                    .splits["train"].examples)
    return max(3.0, round(EXAMPLES_SEEN / min(available, TRANSFER_EXAMPLES), 2))


def inline_table(values: dict) -> str:
    return "{" + ", ".join(f"{k}={json.dumps(v)}" for k, v in values.items() if v is not None) + "}"


def run_dir(runs: Path, student: str, cell: Cell) -> Path:
    return runs / f"{student}-{cell.name}"


def record_key(student: str, cell: Cell) -> str:
    """The settings key a record of (student, cell) must carry to count in the table now."""
    return settings_key(cell_config(student, cell, teachers=None))


def recorded(records: Path, student: str, cell: Cell) -> bool:
    """Whether a record with today's settings stands for this run, so it need not be made again."""
    record = read_record(records, student, cell)
    if record and record["settings_key"] == record_key(student, cell):
        print(f"[{student} {cell.name}] recorded in {records / record_path_name(student, cell)}, "
              "not made again (delete the record to make it again)", flush=True)
        return True
    return False


def run_cells(cells: list[Cell], students: list[str], runs: Path, teachers: Path, records: Path,
              dry_run: bool) -> None:
    from edgedistill.chain.plan import ChainOptions, build_stages
    from edgedistill.chain.run import run_chain

    for cell in cells:
        for student in students:
            if not run_finished(runs, student, cell, teachers) and recorded(records, student, cell):
                continue
            out = run_dir(runs, student, cell)
            config = cell_config(student, cell, teachers)
            if dry_run:
                stages = build_stages(config, ChainOptions(out=out))
                print(f"[{student} {cell.name}] {out}: " + ", ".join(s.name for s in stages), flush=True)
                continue
            try:
                run_chain(config, out)
            except Exception:  # noqa: BLE001 - one failed cell must not stop the others
                traceback.print_exc()
                print(f"[{student} {cell.name}] failed; the table marks it missing", flush=True)
                continue
            run_rows(runs, records, student, cell, config, record_key(student, cell))  # records the run


def run_finished(runs: Path, student: str, cell: Cell, teachers: Path) -> bool:
    return load_facts(run_dir(runs, student, cell), cell_config(student, cell, teachers)).facts is not None


def run_cells_in_parallel(cells: list[Cell], students: list[str], runs: Path, teachers: Path, records: Path,
                          jobs: int) -> None:
    """Each unfinished, unrecorded run in its own process, ``jobs`` at a time, its output in
    <runs>/<run>.log.

    Every run already trains on one thread (training.threads=1), so ``jobs`` should not exceed the
    machine's cores.
    """
    pending = [(student, cell) for cell in cells for student in students
               if not run_finished(runs, student, cell, teachers) and not recorded(records, student, cell)]
    print(f"{len(pending)} runs to make, {jobs} at a time; logs in {runs}/<run>.log", flush=True)

    def one(student: str, cell: Cell) -> None:
        log = runs / f"{student}-{cell.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, __file__, "--only", cell.name, "--students", student, "--runs", str(runs),
                   "--teachers", str(teachers), "--out", str(records.parent), "--runs-only"]
        print(f"[{student} {cell.name}] started", flush=True)
        with log.open("w", encoding="utf-8") as out:
            code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
        done = code == 0 and run_finished(runs, student, cell, teachers)
        print(f"[{student} {cell.name}] " + ("finished" if done else f"failed; see {log}"), flush=True)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in [pool.submit(one, student, cell) for student, cell in pending]:
            future.result()


# ---------------------------------------------------------------- the table

@dataclass
class RunFacts:
    """A run's facts.json, or why the table has none for it."""

    facts: dict | None
    missing_because: str = ""


def load_facts(out: Path, config) -> RunFacts:
    """The facts.json of the run in ``out``; a run made with other settings than ``config``'s does not
    count."""
    from edgedistill.chain.plan import ChainOptions, build_stages
    from edgedistill.chain.runner import finished

    stages = build_stages(config, ChainOptions(out=out))
    if finished(stages, out):
        return RunFacts(json.loads((out / stages[-1].name / "facts.json").read_text()))
    stale = any(out.glob("*-report/facts.json"))
    return RunFacts(None, "made with other settings" if stale else "not run")


def rows_for(cell: Cell, student: str, facts: dict) -> list[dict]:
    """The teacher row and the student's FP32 and INT8 rows, each number from the run's files."""
    bench, teacher = facts["bench"]["variants"], facts["teacher"]["test"]
    rows = []
    for precision, variant in (("FP32", "student-onnx-fp32"), ("INT8", "student-onnx-int8")):
        measured = bench.get(variant, {})
        metric = facts["bundles"][precision.lower()]["test"]
        rows.append({"cell": cell.name, "model": f"{student} {precision}", "metric": metric,
                     "retention": metric / teacher if metric is not None and teacher else None,
                     "parameters": (facts["bundles"]["int8"]["parameters"] or {}).get("total"),
                     "size_bytes": measured.get("size_bytes"),
                     "latency_ratio": 1 / measured["speedup_vs_reference"] if measured else None,
                     "rss_ratio": measured.get("rss_ratio_vs_reference")})
    return rows


TEACHER = "teacher FP32 (PyTorch)"


def teacher_row(cell: Cell, facts: dict) -> dict:
    measured = facts["bench"]["variants"].get("teacher-pytorch-fp32", {})
    return {"cell": cell.name, "model": TEACHER, "metric": facts["teacher"]["test"],
            "retention": 1.0, "parameters": (measured.get("parameters") or {}).get("total"),
            "size_bytes": measured.get("size_bytes"), "latency_ratio": 1.0, "rss_ratio": 1.0}


# ---------------------------------------------------------------- the runs' records

def settings_key(config, extra: dict | None = None) -> str:
    """A short hash of a run's settings (its DistillConfig, and ``extra``: settings the chain adds, such
    as its quantization defaults), the same on every machine."""
    settings = config.to_dict() if extra is None else {"config": config.to_dict(), "extra": extra}
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def record_path_name(student: str, cell: Cell) -> str:
    return f"{student}-{cell.name}.json"


def read_record(records: Path, student: str, cell: Cell) -> dict | None:
    path = records / record_path_name(student, cell)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def write_record(records: Path, student: str, cell: Cell, key: str, rows: list[dict],
                 command: str = COMMAND) -> None:
    """Record a finished run's rows, the key of its settings and the command that made it."""
    record = {"run": f"{student}-{cell.name}", "command": command, "settings_key": key, "rows": rows}
    atomic_write_text(records / record_path_name(student, cell), json.dumps(record, indent=2) + "\n")


@dataclass
class RunRows:
    """A run's rows in the table (the teacher's, the student's FP32 and INT8), or why it has none."""

    rows: list[dict] | None
    missing_because: str = ""


def run_rows(runs: Path, records: Path, student: str, cell: Cell, config, key: str,
             command: str = COMMAND) -> RunRows:
    """From the run's folder when it is finished with ``config`` (recording it), else from a record
    carrying ``key``."""
    folder = run_dir(runs, student, cell)
    run = load_facts(folder, config) if folder.is_dir() else RunFacts(None, "not run")
    if run.facts:
        rows = [teacher_row(cell, run.facts), *rows_for(cell, student, run.facts)]
        write_record(records, student, cell, key, rows, command)
        return RunRows(rows)
    record = read_record(records, student, cell)
    if record and record["settings_key"] == key:
        return RunRows(record["rows"])
    stale = record is not None or run.missing_because == "made with other settings"
    return RunRows(None, "made with other settings" if stale else "not run")


def collect(runs: Path, records: Path, cells: list[Cell], students: list[str], config_for: ConfigFor,
            key_for: KeyFor) -> tuple[list[dict], list[str]]:
    rows, missing = [], []
    for cell in cells:
        found = {student: run_rows(runs, records, student, cell, config_for(student, cell),
                                   key_for(student, cell)) for student in students}
        first = next((run.rows for run in found.values() if run.rows), None)
        if first:
            rows.append(first[0])  # the teacher, measured in the first run of the cell
        for student, run in found.items():
            if run.rows:
                if run.rows[0]["metric"] != first[0]["metric"]:  # distilled from another teacher
                    rows.append({**run.rows[0], "model": f"{TEACHER} for {student}"})
                rows.extend(run.rows[1:])
            else:
                reason = run.missing_because
                missing.append(f"{student}-{cell.name}" + (f" ({reason})" if reason != "not run" else ""))
    return rows, missing


def _fmt(value, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, int | float) else "-"


def int8_summary(rows: list[dict]) -> dict[str, dict]:
    """Per INT8 student (and all together): retention, size reduction and speed-up against the teacher."""
    teacher_size = {r["cell"]: r["size_bytes"] for r in rows if r["model"].startswith("teacher")}
    groups: dict[str, list[dict]] = {}
    for r in rows:
        if r["model"].endswith("INT8") and r["retention"] is not None:
            for key in (r["model"], "all INT8 students"):
                groups.setdefault(key, []).append(r)
    summary = {}
    for key, members in groups.items():
        retention = [100 * r["retention"] for r in members]
        smaller = [100 * (1 - r["size_bytes"] / teacher_size[r["cell"]]) for r in members
                   if r["size_bytes"] and teacher_size.get(r["cell"])]
        speedup = [1 / r["latency_ratio"] for r in members if r["latency_ratio"]]
        summary[key] = {"runs": len(members), "mean_retention": sum(retention) / len(retention),
                        "retention": (min(retention), max(retention)),
                        "smaller": (min(smaller), max(smaller)) if smaller else None,
                        "speedup": (min(speedup), max(speedup)) if speedup else None}
    return summary


def targets(rows: list[dict]) -> list[str]:
    summary = int8_summary(rows)
    if not summary:
        return []

    def span(pair, fmt: str) -> str:
        return "-" if pair is None else f"{pair[0]:{fmt}}-{pair[1]:{fmt}}"

    lines = ["", "## Targets, INT8 students", "",
             "Targets: mean retention >= 95% (AfroXLMR-Comet reports 89%), bundle >= 97% smaller than the "
             "teacher's FP32 weights, >= 20x the teacher's PyTorch FP32 speed.", "",
             "| INT8 student | runs | mean % of teacher | % of teacher, range | % smaller | speed-up |",
             "|---|---|---|---|---|---|"]
    for key, s in sorted(summary.items(), key=lambda item: item[0] == "all INT8 students"):
        lines.append(f"| {key} | {s['runs']} | {s['mean_retention']:.1f} | {span(s['retention'], '.1f')} | "
                     f"{span(s['smaller'], '.1f')} | {span(s['speedup'], '.1f')}x |")
    return lines + per_dataset(rows)


def per_dataset(rows: list[dict]) -> list[str]:
    """Mean % of the teacher of each INT8 student on each dataset (runs counted in brackets)."""
    datasets = list(DATASET_MARKERS)
    lines = ["", "Mean % of the teacher per dataset (runs):", "",
             "| INT8 student | " + " | ".join(datasets) + " |", "|---" * (len(datasets) + 1) + "|"]
    students = sorted({r["model"] for r in rows if r["model"].endswith("INT8")})
    for model in students:
        cells = []
        for dataset in datasets:
            kept = [100 * r["retention"] for r in rows if r["model"] == model and r["retention"] is not None
                    and r["cell"].startswith(dataset + "-")]
            cells.append(f"{sum(kept) / len(kept):.1f} ({len(kept)})" if kept else "-")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return lines


def render(rows: list[dict], missing: list[str]) -> str:
    lines = ["# Teacher and students on five African languages (generated)", "",
             f"Produced by `{COMMAND}` from the runs' records in chain_runs/ (each run an `edgedistill run`"
             " in runs/results/); regenerate, never edit. Task metric on the whole test split: macro-F1 "
             "(AfriSenti, SIB-200) or entity F1 (MasakhaNER), of the teacher in PyTorch and of the students' "
             "bundles. Latency and RSS ratios against the teacher in PyTorch FP32, measured in the same "
             "benchmark run (seq 128, batch 1, one thread). Students: comet (6L/256H, KL + attention), "
             "gurgurov (every other teacher layer, FFN and hidden size reduced, two rounds) and cruz (blank "
             "4L/312H, then fine-tuned), each distilled on at most 4,000 teacher-labelled training examples "
             "for 12,000 examples seen, vocabulary trimmed to 40k; gurgurov's and cruz's gold-label term "
             "reads the labels of that transfer set, more than the teacher's own fine-tuning saw (the "
             "script's header gives every budget).", "",
             "| cell | model | task metric | % of teacher | parameters | file MB | latency ratio "
             "| RSS ratio |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['cell']} | {r['model']} | {_fmt(r['metric'], '.4f')} | "
                     f"{_fmt(r['retention'] and 100 * r['retention'], '.1f')} | "
                     f"{_fmt(r['parameters'], ',')} | "
                     f"{_fmt(r['size_bytes'] and r['size_bytes'] / 1e6, '.1f')} | "
                     f"{_fmt(r['latency_ratio'], '.3f')} | {_fmt(r['rss_ratio'], '.3f')} |")
    if any(r["model"].startswith(f"{TEACHER} for ") for r in rows):
        lines += ["", f"A row \"{TEACHER} for STUDENT\": that student distilled from a teacher fine-tuned "
                  "again with the same settings, which scored differently (MasakhaNER teachers trained again "
                  "did not reproduce their scores; SIB-200 ones did, to the last digit); the student's % of "
                  "the teacher is against the teacher it distilled from."]
    lines += targets(rows)
    if missing:
        lines += ["", f"Missing runs ({len(missing)}): {', '.join(missing)}."]
    return "\n".join(lines) + "\n"


DATASET_MARKERS = {"afrisenti": "o", "sib200": "s", "masakhaner": "^"}


def plot(rows: list[dict], path: Path) -> None:
    """% of the teacher against file size: colour per model, marker per dataset, a bar at each mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    fig, ax = plt.subplots(figsize=(8, 5))
    def label(row: dict) -> str:  # every teacher is at 100%, whichever student it taught
        return TEACHER if row["model"].startswith(TEACHER) else row["model"]

    models = sorted({label(r) for r in rows})
    for index, model in enumerate(models):
        points = [r for r in rows if label(r) == model and r["size_bytes"] and r["retention"] is not None]
        for dataset, marker in DATASET_MARKERS.items():
            mine = [r for r in points if r["cell"].startswith(dataset + "-")]
            if mine:
                ax.scatter([r["size_bytes"] / 1e6 for r in mine], [100 * r["retention"] for r in mine],
                           color=f"C{index}", marker=marker, alpha=0.8, s=30)
        if points:
            size = sum(r["size_bytes"] for r in points) / len(points) / 1e6
            mean = 100 * sum(r["retention"] for r in points) / len(points)
            ax.plot([size / 1.12, size * 1.12], [mean, mean], color=f"C{index}", linewidth=2.5)
    ax.axhline(95, color="grey", linestyle="--", linewidth=1)
    ax.annotate("95% target", xy=(0.99, 95), xycoords=("axes fraction", "data"), ha="right", va="top",
                color="grey", fontsize=8)
    ax.set(xscale="log", xlabel="model file (MB, log scale)", ylabel="% of the teacher's task metric",
           title="accuracy against size, every cell (bar: the model's mean)")
    ax.xaxis.set_major_locator(FixedLocator([10, 20, 50, 100, 200, 500]))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    colours = ax.legend(handles=[Line2D([], [], color=f"C{i}", marker="o", linestyle="", label=m)
                                 for i, m in enumerate(models)], fontsize=8, loc="lower right")
    ax.add_artist(colours)
    ax.legend(handles=[Line2D([], [], color="black", marker=marker, linestyle="", label=dataset)
                       for dataset, marker in DATASET_MARKERS.items()], fontsize=8, loc="lower center")
    fig.tight_layout()
    atomic_save_figure(fig, path)
    plt.close(fig)


def write_table(runs: Path, cells: list[Cell], students: list[str], out: Path, config_for: ConfigFor,
                key_for: KeyFor | None = None) -> None:
    """Rewrite the table from the runs under ``runs`` made with ``config_for(student, cell)``'s settings
    and, for runs whose folder is not there, from their records in ``out/chain_runs`` carrying
    ``key_for(student, cell)`` (by default the key of ``config_for``'s settings)."""
    key_for = key_for or (lambda student, cell: settings_key(config_for(student, cell)))
    rows, missing = collect(runs, out / RECORDS, cells, students, config_for, key_for)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "chain_table.md", render(rows, missing))
    summary = json.dumps({"command": COMMAND, "rows": rows, "missing": missing}, indent=2)
    atomic_write_text(out / "chain_table.json", summary + "\n")
    if rows:
        plot(rows, out / "chain_table.png")
    print(f"wrote {out / 'chain_table.md'} ({len(rows)} rows, {len(missing)} runs missing)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "results")
    parser.add_argument("--teachers", type=Path, default=ROOT / "runs" / "teachers")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for chain_table.md/.json/.png")
    parser.add_argument("--only", nargs="*", help="cells, e.g. afrisenti-hau sib200-yor")
    parser.add_argument("--students", nargs="*", choices=sorted(STUDENTS), default=list(STUDENTS))
    parser.add_argument("--dry-run", action="store_true", help="plan every run and stop")
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument("--runs-only", action="store_true", help="make the runs, leave the table as it is")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs at a time, each in its own process on one thread (default 1)")
    args = parser.parse_args(argv)
    cells = [c for c in TABLE_CELLS if not args.only or c.name in args.only]
    if not cells:
        parser.error(f"no cell among {args.only}; cells: {', '.join(c.name for c in TABLE_CELLS)}")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    records = args.out / RECORDS
    if args.jobs > 1 and not (args.table_only or args.dry_run):
        run_cells_in_parallel(cells, args.students, args.runs, args.teachers, records, args.jobs)
    elif not args.table_only:
        run_cells(cells, args.students, args.runs, args.teachers, records, args.dry_run)
    if not (args.dry_run or args.runs_only):  # the table covers every cell and student, whatever ran now
        write_table(args.runs, TABLE_CELLS, list(STUDENTS), args.out,
                    lambda student, cell: cell_config(student, cell, args.teachers), record_key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
