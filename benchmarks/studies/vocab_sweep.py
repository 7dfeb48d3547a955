"""How far can the vocabulary be trimmed? One results-table run re-trimmed to smaller vocabularies.

    .venv/bin/python benchmarks/studies/vocab_sweep.py  # comet on afrisenti-hau
    .venv/bin/python benchmarks/studies/vocab_sweep.py --student comet --cell afrisenti-yor \
        --sizes 40000 20000
    .venv/bin/python benchmarks/studies/vocab_sweep.py --table shipping --student default \
        --cell masakhaner-hau --sizes 40000 60000 80000 120000

The results table trims every student to 40k tokens, as Gurgurov et al. do; its bundles are then about
96.7% smaller than the teacher's FP32 weights, against a 97% target. This sweep takes the run
runs/results/<student>-<cell>/ of benchmarks/studies/results_table.py, copies its stages before the trim (same
settings, so the chain reuses them instead of training again) into runs/vocab/<student>-<cell>-<size>/
and runs the chain from the trim on: export, INT8 behind the gate, the test score, the benchmark. Every
number in benchmarks/results/vocab_sweep_<student>-<cell>.md comes from those runs' facts.json and the
trim's compression report; regenerate, never edit.

With --table shipping the run is one of benchmarks/studies/shipping_table.py's students instead, read from
~/.cache/edgedistill/runs/students/<student>-<cell>/, swept under ~/.cache/edgedistill/runs/vocab/ and
written to benchmarks/results/vocab_sweep_shipping-<student>-<cell>.md. Every stage of the run that the
sweep would make with the same settings (its fingerprint) is copied, so the run's own size is reused.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import results_table
import shipping_table
from results_table import TABLE_CELLS, run_dir
from study_paths import ROOT

from edgedistill.atomic import atomic_write_text, read_json
from edgedistill.teachers import cache_root

COMMAND = ".venv/bin/python benchmarks/studies/vocab_sweep.py"
TRIM = "trim-vocab"
HOME = cache_root() / "runs"


@dataclass(frozen=True)
class Table:
    """A table whose students can be swept: how it builds a recipe and where its runs live."""

    script: str  # makes a missing run: `<script> --only <cell> --students <student>`
    students: tuple[str, ...]
    config: Callable  # (student, cell, teachers) -> the student's DistillConfig on the cell
    runs: Path
    sweeps: Path
    teachers: Path
    prefix: str  # of the results file's name
    about: str  # which student this is, and how its trim keeps tokens
    note: str = ""


TABLES = {
    "results": Table(
        "benchmarks/studies/results_table.py", tuple(results_table.STUDENTS), results_table.cell_config,
        ROOT / "runs" / "results", ROOT / "runs" / "vocab", ROOT / "runs" / "teachers", "",
        "The student is the results table's (benchmarks/results/chain_table.md), re-trimmed; tokens are kept "
        "by frequency in the language's raw MAFAND text, then filled up to the size in the tokenizer's own "
        "order."),
    "shipping": Table(
        "benchmarks/studies/shipping_table.py", tuple(shipping_table.STUDENTS), shipping_table.student_config,
        HOME / "students", HOME / "vocab", HOME / "teachers", "shipping-",
        "The student is the shipping table's (benchmarks/results/shipping_table.md), re-trimmed; tokens are "
        "kept by frequency in the language's raw MAFAND text and the task's training texts (as the model "
        "reads them), then filled up to the size in the tokenizer's own order.",
        "The machine was loaded: other training jobs shared its 2 cores during these runs, so latencies and "
        "speed-ups are noisy. A text is re-segmented when the trimmed tokenizer splits it otherwise than "
        "the full one: 100% minus the texts unchanged."),
}


def sized_config(student: str, cell, teachers: Path, size: int, table: str = "results"):
    """The recipe of ``student`` on ``cell`` in ``table`` with its vocabulary trimmed to ``size``."""
    from edgedistill.chain.recipe import apply_overrides

    config = TABLES[table].config(student, cell, teachers)
    steps = [step.step for step in config.next]
    return apply_overrides(config, [f"next[{steps.index(TRIM)}].target_size={size}"])


def run_size(table: str, student: str, cell, size: int, runs: Path, sweeps: Path, teachers: Path) -> Path:
    from edgedistill.chain.plan import ChainOptions, build_stages
    from edgedistill.chain.run import run_chain
    from edgedistill.chain.runner import finished

    config = sized_config(student, cell, teachers, size, table)
    source, out = run_dir(runs, student, cell), sweeps / f"{student}-{cell.name}-{size}"
    stages = build_stages(config, ChainOptions(out=out))
    trim = next(i for i, s in enumerate(stages) if s.name.endswith(TRIM))
    # The run's stages that this size would make with the same settings: those before the trim at least.
    same = [stage for i, stage in enumerate(stages) if finished(stages[:i + 1], source)]
    if len(same) < trim:
        raise SystemExit(f"Error: {source} lacks {stages[len(same)].name} as these settings make it (missing "
                         f"or made otherwise); run `.venv/bin/python {TABLES[table].script} --only "
                         f"{cell.name} --students {student}` first.")
    for stage in same:
        if not (out / stage.name).exists():
            shutil.copytree(source / stage.name, out / stage.name)
    run_chain(config, out)
    return out


def row(size: int, out: Path) -> dict:
    facts = read_json(next(out.glob("*-report/facts.json")))
    trim = read_json(next(out.glob(f"*-{TRIM}/compression-report.json")))["details"]
    held_out = trim["fallback_on_held_out_text"]
    int8 = facts["bench"]["variants"]["student-onnx-int8"]
    teacher = facts["bench"]["variants"]["teacher-pytorch-fp32"]
    return {"vocabulary": size, "metric": facts["metric"], "from_text": trim["kept_by_reason"]["from_text"],
            "held_out_unk_rate": held_out["unk_rate"], "held_out_unchanged": held_out["texts_unchanged"],
            "fp32": facts["bundles"]["fp32"]["test"], "int8": facts["bundles"]["int8"]["test"],
            "teacher": facts["teacher"]["test"],
            "parameters": facts["bundles"]["int8"]["parameters"]["total"],
            "int8_bytes": int8["size_bytes"], "teacher_bytes": teacher["size_bytes"],
            "speedup": int8["speedup_vs_reference"], "int8_p50_ms": int8["p50_ms"],
            "teacher_p50_ms": teacher["p50_ms"]}


def render(table: Table, student: str, cell, metric: str, rows: list[dict], command: str) -> str:
    lines = [f"# Vocabulary size: {student} on {cell.name} (generated)", "",
             f"Produced by `{command}`; regenerate, never edit. {table.about} "
             f"Unknown-token rate and unchanged texts: on held-out raw text, after the trim. Test {metric} "
             f"on the whole test split through ONNX Runtime; speed-up against the teacher in PyTorch FP32 in "
             f"the same benchmark run (seq 128, batch 1, one thread). A vocabulary lookup costs the same "
             f"at any size, so latency should not move down the table; where the teacher's p50 moves, the "
             f"machine's load did (other jobs shared its 2 cores)."
             + (f" {table.note}" if table.note else ""), "",
             f"| vocabulary | kept from text | held-out unk rate | texts unchanged | test {metric} FP32 "
             "| INT8 | % of teacher | parameters | INT8 MB | % smaller than teacher | INT8 p50 ms "
             "| teacher p50 ms | speed-up |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['vocabulary']:,} | {r['from_text']:,} | {r['held_out_unk_rate']:.4f} | "
                     f"{100 * r['held_out_unchanged']:.1f}% | {r['fp32']:.4f} | {r['int8']:.4f} | "
                     f"{100 * r['int8'] / r['teacher']:.1f} | {r['parameters']:,} | "
                     f"{r['int8_bytes'] / 1e6:.1f} | "
                     f"{100 * (1 - r['int8_bytes'] / r['teacher_bytes']):.2f} | {r['int8_p50_ms']:.2f} | "
                     f"{r['teacher_p50_ms']:.1f} | {r['speedup']:.1f}x |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", choices=sorted(TABLES), default="results",
                        help="whose students: those of benchmarks/studies/results_table.py or "
                             "shipping_table.py")
    parser.add_argument("--student", help="one of the table's students (default: comet, or default)")
    parser.add_argument("--cell", default="afrisenti-hau", choices=[c.name for c in TABLE_CELLS])
    parser.add_argument("--sizes", type=int, nargs="+", default=[40000, 30000, 20000, 10000, 5000])
    parser.add_argument("--runs", type=Path, help="the table's runs (default: the table's own)")
    parser.add_argument("--sweeps", type=Path, help="where the sweep's runs go (default: beside the runs)")
    parser.add_argument("--teachers", type=Path, help="the cells' teachers (default: the table's own)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    table = TABLES[args.table]
    student = args.student or table.students[0]
    if student not in table.students:
        raise SystemExit(f"Error: the {args.table} table has no student {student!r}; its students: "
                         f"{', '.join(table.students)}.")
    cell = next(c for c in TABLE_CELLS if c.name == args.cell)
    runs, sweeps, teachers = (given or default for given, default in ((args.runs, table.runs),
                              (args.sweeps, table.sweeps), (args.teachers, table.teachers)))
    rows = [row(size, run_size(args.table, student, cell, size, runs, sweeps, teachers))
            for size in sorted(set(args.sizes), reverse=True)]
    command = " ".join([COMMAND, *(["--table", args.table] if table.prefix else []), "--student", student,
                        "--cell", cell.name, "--sizes", *(str(r["vocabulary"]) for r in rows)])
    name = f"vocab_sweep_{table.prefix}{student}-{cell.name}"
    atomic_write_text(args.out / f"{name}.md", render(table, student, cell, rows[0]["metric"], rows, command))
    summary = json.dumps({"command": command, "rows": rows}, indent=2)
    atomic_write_text(args.out / f"{name}.json", summary + "\n")
    print(f"wrote {args.out / name}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
