#!/usr/bin/env bash
# Regenerates benchmarks/results/students-speed/ (bench.md, bench.json, bench.png): the three INT8
# students of the results table against their teacher in PyTorch FP32, in one benchmark on a machine
# with nothing else running: seq 128, batch 1, one thread, 5 rounds with the variants interleaved, each
# (round, variant) in a fresh process.
#
#   benchmarks/students_speed.sh [CELL]      # default masakhaner-yor
#
# The bundles are the table's runs under runs/results/<student>-CELL (benchmarks/studies/results_table.py
# makes them); speed depends on the students' shapes, not on the cell. The table's own speed column
# comes from each run's bench stage, made while other jobs shared the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
CELL=${1:-masakhaner-yor}
RUNS=runs/results
bundle() {  # the INT8 bundle of a finished run: its quantize stage
  local found
  found=$(ls -d "$RUNS/$1-$CELL"/*-quantize 2>/dev/null | head -1)
  [ -n "$found" ] || { echo "no finished $1 run for $CELL under $RUNS: run benchmarks/studies/results_table.py --only $CELL" >&2; exit 1; }
  echo "$found"
}
[ -d "runs/teachers/$CELL" ] || { echo "no teacher at runs/teachers/$CELL: run benchmarks/studies/teacher_baselines.py --only $CELL" >&2; exit 1; }
.venv/bin/edgedistill bench teacher-pytorch-fp32="runs/teachers/$CELL" \
  comet-onnx-int8="$(bundle comet)" cruz-onnx-int8="$(bundle cruz)" gurgurov-onnx-int8="$(bundle gurgurov)" \
  --seq 128 --batch 1 --threads 1 --rounds 5 --warmup 5 --iterations 30 --out benchmarks/results/students-speed
