#!/usr/bin/env bash
# Regenerates benchmarks/results/teacher-vs-student/ (bench.md, bench.json, bench.png):
#
#   benchmarks/teacher_vs_student.sh [TEACHER_DIR] [STUDENT_DIR]
#
# TEACHER_DIR: the e5-small teacher fine-tuned on AfriSenti Hausa (default runs/teachers/afrisenti-hau,
# written by benchmarks/studies/teacher_baselines.py). STUDENT_DIR: a comet-shaped student (6L/256H/8 heads/
# FFN 1024); by default an untrained one of that shape is built (benchmarks/studies/comet_shape.py), which is
# enough for speed, memory and size, and its accuracy is not reported. The student's vocabulary is
# trimmed to the 40k tokens most frequent in Hausa text, then both models are exported to FP32 bundles
# and quantized to INT8 behind the accuracy gate, and all variants run interleaved in one benchmark:
# seq 128, batch 1, one thread, 3 rounds, each (round, variant) in a fresh process.
# The teacher's INT8 gate allows a 3-point macro-F1 drop on 400 dev tweets (it loses 1.8-6 points
# under every dynamic scheme, see the log): it is a speed reference here, not a model to ship.
# Bundles already under runs/teacher-vs-student are reused; delete that folder to rebuild them.
set -euo pipefail
cd "$(dirname "$0")/.."
TEACHER=${1:-runs/teachers/afrisenti-hau}
STUDENT=${2:-}
WORK=runs/teacher-vs-student
BIN=.venv/bin
[ -d "$TEACHER" ] || { echo "no teacher at $TEACHER: run benchmarks/studies/teacher_baselines.py first" >&2; exit 1; }
mkdir -p "$WORK"
if [ -z "$STUDENT" ]; then
  STUDENT=$WORK/student-shape
  [ -d "$STUDENT" ] || "$BIN/python" benchmarks/studies/comet_shape.py "$TEACHER" "$STUDENT"
fi
QUANTIZE=(--data afrisenti --language hau --dev-limit 400 --overwrite --report)
if [ ! -d "$WORK/student-40k" ]; then
  "$BIN/edgedistill" trim-vocab "$STUDENT" "$WORK/student-40k" --lang hau --size 40000
  cp "$STUDENT"/edgedistill-task.json "$WORK/student-40k/" 2>/dev/null || true
fi
[ -d "$WORK/teacher-fp32" ] || "$BIN/edgedistill" export "$TEACHER" --out "$WORK/teacher-fp32"
[ -d "$WORK/teacher-int8" ] || "$BIN/edgedistill" quantize "$WORK/teacher-fp32" \
  --out "$WORK/teacher-int8" "${QUANTIZE[@]}" "$WORK/teacher-gate.json" --max-drop 3
[ -d "$WORK/student-fp32" ] || "$BIN/edgedistill" export "$WORK/student-40k" --out "$WORK/student-fp32"
[ -d "$WORK/student-int8" ] || "$BIN/edgedistill" quantize "$WORK/student-fp32" \
  --out "$WORK/student-int8" "${QUANTIZE[@]}" "$WORK/student-gate.json"
"$BIN/edgedistill" bench \
  teacher-pytorch-fp32="$TEACHER" teacher-onnx-fp32="$WORK/teacher-fp32" \
  teacher-onnx-int8="$WORK/teacher-int8" student-pytorch-fp32="$WORK/student-40k" \
  student-onnx-fp32="$WORK/student-fp32" student-onnx-int8="$WORK/student-int8" \
  --seq 128 --batch 1 --threads 1 --rounds 3 --warmup 5 --iterations 30 \
  --out benchmarks/results/teacher-vs-student
