"""Seconds per distillation step and peak memory: the whole word-embedding matrix trained, or its seen rows.

    .venv/bin/python benchmarks/studies/seen_rows_speed.py  # the three table students on AfriSenti hau
    .venv/bin/python benchmarks/studies/seen_rows_speed.py --steps 20 --students comet

Each measurement is one `distill` of the results table's recipe (benchmarks/studies/results_table.py) on the
cell, cut to ``--steps`` optimizer steps, in its own process (so peak RSS is that run's). "whole" runs
it with edgedistill.seen_rows switched off, "seen rows" as the project runs it; the two alternate per
student so both see the same machine load. Seconds per step are the Trainer's training time over the
steps (data loading, forward, backward, clipping, AdamW); the teacher's outputs come from the cache,
computed before the timed steps. Writes benchmarks/results/seen_rows_speed.md and .json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from study_paths import ROOT

from edgedistill.atomic import atomic_write_text

COMMAND = ".venv/bin/python benchmarks/studies/seen_rows_speed.py"
MODES = ("whole", "seen rows")


def measure(student: str, cell_name: str, mode: str, steps: int, teachers: Path) -> dict:
    """One cut-down distillation in this process; the Trainer's seconds per step and the peak RSS."""
    from results_table import TABLE_CELLS, cell_config

    import edgedistill.distill.run as distill_run
    from edgedistill.chain.recipe import apply_overrides

    cell = next(c for c in TABLE_CELLS if c.name == cell_name)
    if not (teachers / cell.name).is_dir():
        raise SystemExit(f"no fine-tuned teacher at {teachers / cell.name}; make it with "
                         f"benchmarks/studies/teacher_baselines.py or pass --teachers")
    if mode == "whole":
        distill_run.seen_rows_only = lambda *args: contextlib.nullcontext(None)
    with tempfile.TemporaryDirectory() as scratch:
        config = apply_overrides(cell_config(student, cell, teachers), {
            "output_dir": f"{scratch}/student", "next": [], "training.max_steps": steps,
            "training.save_steps": steps, "data.max_eval_examples": 32})
        results = distill_run.distill(config, progress=False).results
    training = results["training"]
    return {"student": student, "mode": mode, "steps": training["steps"],
            "seconds_per_step": training["train_seconds"] / training["steps"],
            "embedding_rows_trained": training.get("embedding_rows_trained"),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure_in_subprocess(student: str, cell: str, mode: str, steps: int, teachers: Path) -> dict:
    command = [sys.executable, __file__, "--measure", student, mode, "--cell", cell, "--steps", str(steps),
               "--teachers", str(teachers)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"measuring {student} ({mode}) failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def render(rows: list[dict], cell: str, steps: int, command: str) -> str:
    lines = ["# Training the seen embedding rows only: distillation step time and memory (generated)", "",
             f"Produced by `{command}`; regenerate, never edit. Each row is one distillation of the results "
             f"table's recipe on {cell}, cut to {steps} steps at batch 32, one thread, in its own process; "
             "the two modes of a student ran one after the other. \"whole\": every row of the word-embedding "
             "matrix gets a dense gradient and an AdamW step; \"seen rows\": only the rows of tokens in the "
             "training data (edgedistill.seen_rows, what the project runs).", "",
             "| student | mode | rows trained | s / step | peak RSS MB | step time vs whole | RSS vs whole |",
             "|---|---|---|---|---|---|---|"]
    whole = {r["student"]: r for r in rows if r["mode"] == "whole"}
    for r in rows:
        base = whole[r["student"]]
        trained = "all" if r["embedding_rows_trained"] is None else f"{r['embedding_rows_trained']:,}"
        lines.append(f"| {r['student']} | {r['mode']} | {trained} | {r['seconds_per_step']:.3f} | "
                     f"{r['peak_rss_mb']:.0f} | {r['seconds_per_step'] / base['seconds_per_step']:.2f} | "
                     f"{r['peak_rss_mb'] / base['peak_rss_mb']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", nargs="+", default=["comet", "gurgurov", "cruz"])
    parser.add_argument("--cell", default="afrisenti-hau")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--teachers", type=Path, default=ROOT / "runs" / "teachers")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--measure", nargs=2, metavar=("STUDENT", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        student, mode = args.measure
        print(json.dumps(measure(student, args.cell, mode, args.steps, args.teachers)))
        return 0
    rows = [measure_in_subprocess(student, args.cell, mode, args.steps, args.teachers)
            for student in args.students for mode in MODES]
    command = " ".join([COMMAND, "--students", *args.students, "--cell", args.cell, "--steps",
                        str(args.steps)])
    atomic_write_text(args.out / "seen_rows_speed.md", render(rows, args.cell, args.steps, command))
    atomic_write_text(args.out / "seen_rows_speed.json",
                      json.dumps({"command": command, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out / 'seen_rows_speed.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
