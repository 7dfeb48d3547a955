"""The other end of the student-size frontier: the teacher itself, vocabulary trimmed, INT8, no distillation.

    .venv/bin/python benchmarks/studies/teacher_int8.py                     # missing cells, then the table
    .venv/bin/python benchmarks/studies/teacher_int8.py --only sib200-hau   # these cells
    .venv/bin/python benchmarks/studies/teacher_int8.py --table-only

On SIB-200 the default student (6 of 12 layers) keeps 92-98% of its teacher and falls behind the
TF-IDF baseline, while the teacher is 1-2 points ahead of it. This asks what keeping all 12 layers
costs: each cell's teacher from benchmarks/teacher_baselines.py, its vocabulary trimmed as the default
student's is (the language's raw text and the task's training texts with their prefix; 40k tokens, 80k
for NER), exported, INT8 per-channel behind the accuracy gate (the CLI's defaults), and scored on the
whole test split one text at a time, as the runtime runs it. Latency is per text at its real length,
batch 1, 1 thread, the trimmed teacher and the default student's INT8 bundle interleaved in one process;
only the ratio between them is quoted, with the load average it was measured under.

Work goes to --runs (default ~/.cache/edgedistill/runs/teacher_int8); each finished cell leaves a record
in benchmarks/results/teacher_int8/, from which the table (benchmarks/results/teacher_int8.md) regenerates.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from study_paths import RESULTS

RECORDS = RESULTS / "teacher_int8"
TABLE = RESULTS / "teacher_int8.md"
COMMAND = ".venv/bin/python benchmarks/studies/teacher_int8.py"
CELLS = ("sib200-hau", "sib200-swh", "sib200-yor", "masakhaner-hau", "masakhaner-swa", "afrisenti-kin")
VOCABULARY = {"masakhaner": 80_000}  # as the default student's (benchmarks/shipping_table.py)
TIMED_TEXTS = 100  # test texts timed per bundle, each once per round
ROUNDS = 3


def cache() -> Path:
    from edgedistill.teachers import cache_root

    return cache_root() / "runs"


def edgedistill(*args: str) -> None:
    """One CLI command; its one-sentence error is the failure message."""
    command = [str(Path(sys.executable).parent / "edgedistill"), *args]
    result = subprocess.run(command, capture_output=True, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stderr.strip()[-600:]}")


def write_task_texts(teacher: Path, out: Path) -> Path:
    """The task's training texts as the model reads them (prefix included), one a line: what the chain's
    trim-vocab step counts with task_text = true."""
    from edgedistill.atomic import atomic_write_text
    from edgedistill.chain.steps import task_texts

    atomic_write_text(out, "\n".join(text.replace("\n", " ") for text in task_texts(teacher)) + "\n")
    return out


def build(cell: str, teacher: Path, work: Path) -> dict:
    """Trim, export and quantize ``teacher`` under ``work``; score both bundles on the test split."""
    from edgedistill.chain.bundle_model import score_bundle
    from edgedistill.shared_data import RAW_TEXT_ALIASES

    dataset, language = cell.split("-")
    work.mkdir(parents=True, exist_ok=True)
    trimmed, fp32, int8 = work / "trimmed", work / "fp32", work / "int8"
    size = VOCABULARY.get(dataset, 40_000)
    if not (trimmed / "model.safetensors").is_file():
        texts = write_task_texts(teacher, work / "task-texts.txt")
        edgedistill("trim-vocab", str(teacher), str(trimmed), "--overwrite", "--size", str(size),
                    "--lang", RAW_TEXT_ALIASES.get(language, language), "--text-file", str(texts))
        shutil.copy(teacher / "edgedistill-task.json", trimmed / "edgedistill-task.json")
    if not (fp32 / "edgedistill.json").is_file():
        edgedistill("export", str(trimmed), "--out", str(fp32), "--overwrite")
    if not (int8 / "edgedistill.json").is_file():
        edgedistill("quantize", str(fp32), "--out", str(int8), "--overwrite")
    scores = {}
    for name, bundle in (("fp32", fp32), ("int8", int8)):
        scores[name], info = score_bundle(bundle, trimmed)
    manifest = json.loads((int8 / "edgedistill.json").read_text(encoding="utf-8"))
    return {"cell": cell, "metric": info["metric"], "test_examples": info["examples"],
            "vocabulary": size, "scores": scores,
            "int8_bytes": (int8 / manifest.get("model_file", "model.onnx")).stat().st_size,
            "gate": manifest.get("metrics", {}).get("dev")}


def time_against_student(cell: str, int8: Path, student_int8: Path) -> dict:
    """Per-text latency of both INT8 bundles at real lengths, interleaved; the median ms of each."""
    from edgedistill.runtime import Predictor
    from edgedistill.tasks import DataSpec, load_task

    dataset, language = cell.split("-")
    task = load_task(DataSpec(dataset, language=language), splits=("test",))
    texts = [(" ".join(e.tokens) if hasattr(e, "tokens") else e.text)
             for e in task.split("test").examples[:TIMED_TEXTS]]
    models = {"teacher-int8": Predictor(int8, threads=1), "student-int8": Predictor(student_int8, threads=1)}
    run = {name: (p.tag if p.manifest.task == "token-classification" else p.classify)
           for name, p in models.items()}
    times: dict[str, list[float]] = {name: [] for name in models}
    for name in models:  # warm-up
        for text in texts[:5]:
            run[name](text)
    for round_ in range(ROUNDS):
        order = list(models) if round_ % 2 == 0 else list(reversed(models))
        for text in texts:
            for name in order:
                start = time.perf_counter()
                run[name](text)
                times[name].append((time.perf_counter() - start) * 1e3)
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {"median_ms": medians, "teacher_over_student": medians["teacher-int8"] / medians["student-int8"],
            "texts": len(texts), "rounds": ROUNDS, "load_average_1min": os.getloadavg()[0]}


def student_int8(cell: str) -> Path:
    return cache() / "students" / f"default-{cell}" / "05-quantize"


def run_cell(cell: str, runs: Path) -> None:
    teacher = cache() / "teachers" / cell
    if not (teacher / "results.json").is_file():
        print(f"[{cell}] no teacher at {teacher}; run benchmarks/teacher_baselines.py --only {cell} first")
        return
    started = time.time()
    record = build(cell, teacher, runs / cell)
    if (student_int8(cell) / "edgedistill.json").is_file():
        record["latency"] = time_against_student(cell, runs / cell / "int8", student_int8(cell))
    record["wall_seconds"] = round(time.time() - started, 1)
    record["command"] = COMMAND
    RECORDS.mkdir(parents=True, exist_ok=True)
    from edgedistill.atomic import atomic_write_text

    atomic_write_text(RECORDS / f"{cell}.json", json.dumps(record, indent=2) + "\n")
    minutes = record["wall_seconds"] / 60
    print(f"[{cell}] INT8 {record['scores']['int8']:.4f} in {minutes:.1f} min", flush=True)


def write_table() -> None:
    from edgedistill.atomic import atomic_write_text
    from edgedistill.baselines import load_baseline_record

    lines = [f"<!-- generated by `{COMMAND} --table-only` from benchmarks/results/teacher_int8/; regenerate, "
             "never edit -->", "",
             "# The teacher itself, vocabulary trimmed and INT8 (no distillation), beside the student",
             "", f"Generated by: `{COMMAND}` (see its docstring). Test split, whole; INT8 bundles scored one "
             "text at a time. Latency: median ms per test text at its real length, batch 1, 1 thread, both "
             "INT8 bundles interleaved in one process; the ratio is what to read, the load average says how "
             "busy the shared 2-core machine was.", "",
             "| cell | metric | baseline | teacher (PyTorch FP32) | default student INT8 | MB | "
             "trimmed teacher FP32 | trimmed teacher INT8 | MB | INT8 vs baseline | "
             "teacher INT8 ms / student INT8 ms | load avg |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for cell in CELLS:
        path = RECORDS / f"{cell}.json"
        if not path.is_file():
            lines.append(f"| {cell} | not run | | | | | | | | | | |")
            continue
        record = json.loads(path.read_text(encoding="utf-8"))
        dataset, language = cell.split("-")
        baseline = load_baseline_record(dataset, language) or {}
        base = (baseline.get("test") or {}).get(record["metric"])
        teacher, student = _teacher_score(cell, record["metric"]), _student_row(cell)
        int8 = record["scores"]["int8"]
        versus = "" if base is None else (f"{'ahead' if int8 >= base else 'behind'} by "
                                          f"{abs(int8 - base) * 100:.1f} points")
        latency = record.get("latency") or {}
        ms = latency.get("median_ms") or {}
        ratio = (f"{ms['teacher-int8']:.1f} / {ms['student-int8']:.1f} = "
                 f"{latency['teacher_over_student']:.2f}x"
                 if latency else "not measured")
        lines.append(" | ".join([
            f"| {cell}", record["metric"], _num(base), _num(teacher),
            _num(student and student["metric"]), _mb(student and student["size_bytes"]),
            _num(record["scores"]["fp32"]), f"**{int8:.3f}**", _mb(record["int8_bytes"]), versus, ratio,
            f"{latency['load_average_1min']:.1f}" if latency else ""]) + " |")
    atomic_write_text(TABLE, "\n".join(lines) + "\n")


def _teacher_score(cell: str, metric: str) -> float | None:
    """The teacher's test score in PyTorch, from benchmarks/studies/teacher_baselines.py's record."""
    path = RESULTS / "teacher_runs" / f"{cell}.json"
    return json.loads(path.read_text(encoding="utf-8"))["test"][metric] if path.is_file() else None


def _student_row(cell: str) -> dict | None:
    """The default student's INT8 row of benchmarks/studies/shipping_table.py's record, if it ran."""
    path = RESULTS / "shipping_runs" / f"default-{cell}.json"
    if not path.is_file():
        return None
    rows = {row["model"]: row for row in json.loads(path.read_text(encoding="utf-8"))["rows"]}
    return rows.get("default INT8")


def _num(value) -> str:
    return "" if value is None else f"{value:.3f}"


def _mb(value) -> str:
    return "" if not value else f"{value / 1e6:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=CELLS, help="cells to run, in this order")
    parser.add_argument("--runs", type=Path, default=None, help="work folder (default under ~/.cache)")
    parser.add_argument("--table-only", action="store_true", help="only rewrite the table from the records")
    args = parser.parse_args(argv)
    if not args.table_only:
        runs = args.runs or cache() / "teacher_int8"
        for cell in args.only or CELLS:
            if not (RECORDS / f"{cell}.json").is_file():
                run_cell(cell, runs)
    write_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
