"""Per-text latency and peak memory of a saved baseline, measured in a fresh process.

The fitting process holds the training data and every candidate's features, so its memory says
nothing about predicting. A child interpreter loads the model file, predicts one text at a time
(batch 1, one thread) after a warm-up, and reports the median latency and its own peak RSS.

    python -m edgedistill.baselines.measure MODEL_FILE < inputs.json
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from edgedistill.errors import EdgedistillError, first_sentence
from edgedistill.memory import peak_rss_bytes

WARMUP = 20
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


class MeasureError(EdgedistillError):
    """The child process that times predictions failed."""


def measure_prediction(model_file: Path, inputs: list, warmup: int = WARMUP) -> dict:
    """Median ms per input (batch 1, after ``warmup`` predictions) and peak RSS, from a fresh process."""
    request = json.dumps({"inputs": inputs, "warmup": warmup}, ensure_ascii=False)
    done = subprocess.run([sys.executable, "-m", "edgedistill.baselines.measure", str(model_file)],
                          input=request, capture_output=True, text=True, env={**os.environ, **ONE_THREAD})
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise MeasureError(f"timing the predictions of {model_file} failed: {last}")
    return json.loads(done.stdout)


def _time_predictions(model_file: str, inputs: list, warmup: int) -> dict:
    import joblib
    import sklearn  # noqa: F401 - its imports (scipy, and pandas where installed) are most of the memory

    before_model = peak_rss_bytes()
    started = time.perf_counter()
    model = joblib.load(model_file)
    load_seconds = time.perf_counter() - started
    for item in inputs[:warmup]:
        model.predict([item])
    times = []
    for item in inputs:
        start = time.perf_counter()
        model.predict([item])
        times.append(time.perf_counter() - start)
    return {"ms_per_text_median": statistics.median(times) * 1000, "texts_timed": len(times),
            "warmup": min(warmup, len(inputs)), "batch_size": 1, "threads": 1,
            "load_seconds": round(load_seconds, 3), "peak_rss_bytes": peak_rss_bytes(),
            "peak_rss_before_model_bytes": before_model}


def main() -> None:
    request = json.loads(sys.stdin.read())
    try:
        result = _time_predictions(sys.argv[1], request["inputs"], request["warmup"])
    except Exception as exc:  # any failure: reported to the parent as one line
        print(f"{type(exc).__name__}: {first_sentence(exc)}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
