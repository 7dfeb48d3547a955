"""A timm-style runner: explicit warm-up, then timed iterations, results as a dict."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def time_callable(fn: Callable[[], object], *, warmup: int, iterations: int,
                  items_per_call: int = 1) -> dict:
    """Latency percentiles in milliseconds and throughput in items per second."""
    for _ in range(warmup):
        fn()
    samples = np.empty(iterations, dtype=np.float64)
    for i in range(iterations):
        start = time.perf_counter()
        fn()
        samples[i] = time.perf_counter() - start
    ms = samples * 1000.0
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "min_ms": float(ms.min()),
        "iterations": iterations,
        "warmup": warmup,
        "throughput_per_s": float(items_per_call / samples.mean()),
    }
