"""One measurement in a fresh process: cold start, latency after warm-up, peak RSS.

Run by the runner as ``python -m edgedistill.benchmarks.worker '<json>'``; prints one JSON line.
A fresh process per variant and round keeps one variant's memory and caches out of another's.
"""

from __future__ import annotations

import json
import sys
import time

from edgedistill.memory import peak_rss_bytes


def measure(request: dict) -> dict:
    import psutil

    from edgedistill.benchmarks.variants import LOADERS, VariantSpec, limit_threads

    started = psutil.Process().create_time()
    threads = request["threads"]
    limit_threads(threads)
    spec = VariantSpec(**request["variant"])
    loaded = LOADERS[spec.kind](spec, request["seq_len"], request["batch_size"], threads)
    loaded.run()
    cold_start_s = time.time() - started

    from edgedistill.benchmarks.timing import time_callable

    timing = time_callable(loaded.run, warmup=request["warmup"], iterations=request["iterations"],
                           items_per_call=request["batch_size"])
    peak_rss = peak_rss_bytes()
    return {"cold_start_s": cold_start_s, "peak_rss_bytes": peak_rss, **timing,
            "architecture": loaded.architecture, "parameters": loaded.parameters,
            "size_bytes": loaded.size_bytes, "metrics": loaded.metrics}


def main() -> None:
    request = json.loads(sys.argv[1])
    try:
        result = measure(request)
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        result = {"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
                  if str(exc).strip() else type(exc).__name__}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
