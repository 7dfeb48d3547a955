"""How far can the vocabulary be trimmed? One results-table run re-trimmed to smaller vocabularies.

    .venv/bin/python benchmarks/vocab_sweep.py                       # comet on afrisenti-hau
    .venv/bin/python benchmarks/vocab_sweep.py --student comet --cell afrisenti-yor --sizes 40000 20000

The results table trims every student to 40k tokens, as Gurgurov et al. do; its bundles are then about
96.7% smaller than the teacher's FP32 weights, against a 97% target. This sweep takes the run
runs/results/<student>-<cell>/ of benchmarks/results_table.py, copies its stages before the trim (same
settings, so the chain reuses them instead of training again) into runs/vocab/<student>-<cell>-<size>/
and runs the chain from the trim on: export, INT8 behind the gate, the test score, the benchmark. Every
number in benchmarks/results/vocab_sweep_<student>-<cell>.md comes from those runs' facts.json and the
trim's compression report; regenerate, never edit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from edgedistill.atomic import atomic_write_text, read_json
from edgedistill.benchmarks.results_table import STUDENTS, TABLE_CELLS, cell_config, run_dir

ROOT = Path(__file__).resolve().parents[1]
COMMAND = ".venv/bin/python benchmarks/vocab_sweep.py"
TRIM = "trim-vocab"


def sized_config(student: str, cell, teachers: Path, size: int):
    """The results-table recipe of ``student`` on ``cell`` with its vocabulary trimmed to ``size``."""
    steps = [step.step for step in cell_config(student, cell, teachers).next]
    return cell_config(student, cell, teachers, extra=(f"next[{steps.index(TRIM)}].target_size={size}",))


def run_size(student: str, cell, size: int, runs: Path, sweeps: Path, teachers: Path) -> Path:
    from edgedistill.chain.plan import ChainOptions, build_stages
    from edgedistill.chain.run import run_chain

    config = sized_config(student, cell, teachers, size)
    source, out = run_dir(runs, student, cell), sweeps / f"{student}-{cell.name}-{size}"
    stages = build_stages(config, ChainOptions(out=out))
    for stage in stages[:next(i for i, s in enumerate(stages) if s.name.endswith(TRIM))]:
        if not (out / stage.name).exists():
            if not (source / stage.name).is_dir():
                raise SystemExit(f"Error: {source / stage.name} is missing; run "
                                 f"`.venv/bin/python benchmarks/results_table.py --only {cell.name} "
                                 f"--students {student}` first.")
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


def render(student: str, cell, metric: str, rows: list[dict], command: str) -> str:
    lines = [f"# Vocabulary size: {student} on {cell.name} (generated)", "",
             f"Produced by `{command}`; regenerate, never edit. The student is the results table's "
             f"(benchmarks/results/chain_table.md), re-trimmed; tokens are kept by frequency in the "
             f"language's raw MAFAND text, then filled up to the size in the tokenizer's own order. "
             f"Unknown-token rate and unchanged texts: on held-out raw text, after the trim. Test {metric} "
             f"on the whole test split through ONNX Runtime; speed-up against the teacher in PyTorch FP32 in "
             f"the same benchmark run (seq 128, batch 1, one thread). A vocabulary lookup costs the same "
             f"at any size, so latency should not move down the table; where the teacher's p50 moves, the "
             f"machine's load did (other jobs shared its 2 cores).", "",
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
    parser.add_argument("--student", choices=sorted(STUDENTS), default="comet")
    parser.add_argument("--cell", default="afrisenti-hau", choices=[c.name for c in TABLE_CELLS])
    parser.add_argument("--sizes", type=int, nargs="+", default=[40000, 30000, 20000, 10000, 5000])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "results")
    parser.add_argument("--sweeps", type=Path, default=ROOT / "runs" / "vocab")
    parser.add_argument("--teachers", type=Path, default=ROOT / "runs" / "teachers")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    cell = next(c for c in TABLE_CELLS if c.name == args.cell)
    rows = [row(size, run_size(args.student, cell, size, args.runs, args.sweeps, args.teachers))
            for size in sorted(set(args.sizes), reverse=True)]
    command = " ".join([COMMAND, "--student", args.student, "--cell", cell.name, "--sizes",
                        *(str(r["vocabulary"]) for r in rows)])
    name = f"vocab_sweep_{args.student}-{cell.name}"
    atomic_write_text(args.out / f"{name}.md", render(args.student, cell, rows[0]["metric"], rows, command))
    summary = json.dumps({"command": command, "rows": rows}, indent=2)
    atomic_write_text(args.out / f"{name}.json", summary + "\n")
    print(f"wrote {args.out / name}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
