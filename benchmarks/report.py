"""Write a benchmark result as JSON, a markdown table and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

from edgedistill.benchmarks.runner import BenchResult

PREFERRED_METRICS = ("macro_f1", "f1", "entity_f1", "accuracy")


def headline_metric(metrics: dict) -> tuple[str, float] | None:
    """The task metric to show: macro-F1 first, looked for at the top and one level down."""
    candidates = [metrics] + [v for v in metrics.values() if isinstance(v, dict)]
    for key in PREFERRED_METRICS:
        for level in candidates:
            value = level.get(key)
            if isinstance(value, (int, float)):
                return key, float(value)
    return None


def _mb(n: float | None) -> str:
    return f"{n / 2**20:.1f}" if n else "-"


def _num(x, fmt: str) -> str:
    return format(x, fmt) if isinstance(x, (int, float)) else "-"


def markdown_table(result: BenchResult) -> str:
    header = ("| variant | kind | p50 ms | p90 ms | p99 ms | speed-up | items/s | cold start s | "
              "peak RSS MB | RSS ratio | weights MB | size ratio | params | non-emb params | "
              "GFLOP/fwd | GFLOP/s | metric |")
    lines = [header, "|" + "|".join(["---"] * (header.count("|") - 1)) + "|"]
    kinds = {v.name: v.kind for v in result.variants}
    for name, s in result.summary.items():
        params = s["parameters"] or {}
        metric = headline_metric(s["metrics"] or {})
        lines.append("| " + " | ".join([
            name, kinds[name], _num(s["p50_ms"], ".2f"), _num(s["p90_ms"], ".2f"),
            _num(s["p99_ms"], ".2f"), _num(s["speedup_vs_reference"], ".2f") + "×",
            _num(s["throughput_per_s"], ".1f"), _num(s["cold_start_s"], ".2f"),
            _mb(s["peak_rss_bytes"]), _num(s["rss_ratio_vs_reference"], ".3f"),
            _mb(s["size_bytes"]), _num(s["size_ratio_vs_reference"], ".3f"),
            _num(params.get("total"), ","), _num(params.get("non_embedding"), ","),
            _num(s["forward_gflops"], ".2f"), _num(s["achieved_gflops_per_s"], ".1f"),
            f"{metric[0]} {metric[1]:.4f}" if metric else "-",
        ]) + " |")
    return "\n".join(lines)


def write_report(result: BenchResult, out_dir: Path, *, command: str, machine: dict) -> list[Path]:
    """Write bench.json, bench.md and (when matplotlib is installed) PNG plots."""
    from edgedistill.atomic import atomic_write_text

    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"command": command, "machine": machine, **result.to_dict()}
    atomic_write_text(out_dir / "bench.json", json.dumps(payload, indent=2) + "\n")
    cfg = result.config
    reference = cfg.reference or result.variants[0].name
    flags = " ".join(machine.get("cpu_flags", []))
    text = "\n".join([
        "# Benchmark", "",
        f"Produced by: `{command}`", "",
        f"Machine: {machine.get('cpu_model')} ({flags}), {machine['cores']['usable']} usable cores; "
        f"onnxruntime {machine['packages'].get('onnxruntime')}, torch "
        f"{machine['packages'].get('torch') or 'not installed'}.",
        f"Settings: seq {cfg.seq_len}, batch {cfg.batch_size}, {cfg.threads} thread(s), "
        f"{cfg.warmup} warm-up + {cfg.iterations} timed runs per process, {cfg.rounds} rounds with "
        f"the variants interleaved (order rotated each round), each (round, variant) in a fresh "
        f"process. Latencies and RSS are medians over rounds; ratios are taken within each round "
        f"against `{reference}`, then the median. Speed-up > 1 is faster; RSS and size ratios < 1 "
        f"are smaller. Weights MB is the model file(s) on disk. FLOPs count the encoder's matrix "
        f"multiplications (benchmarks/flops.py).", "",
        markdown_table(result), "",
    ])
    atomic_write_text(out_dir / "bench.md", text)
    written = [out_dir / "bench.json", out_dir / "bench.md"]
    written += write_plots(result, out_dir)
    return written


def write_plots(result: BenchResult, out_dir: Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    names = list(result.summary)
    sizes = [result.summary[n]["size_bytes"] / 2**20 for n in names]
    latency = [result.summary[n]["p50_ms"] for n in names]
    metrics = [headline_metric(result.summary[n]["metrics"] or {}) for n in names]
    panels = 2 if sum(m is not None for m in metrics) >= 2 else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.5), squeeze=False)
    ax = axes[0][0]
    ax.scatter(sizes, latency)
    for name, x, y in zip(names, sizes, latency, strict=True):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    _plain_log_axes(ax, y_log=True)
    ax.set(xlabel="weights on disk (MB)", ylabel="p50 latency (ms)",
           title=f"seq {result.config.seq_len}, batch {result.config.batch_size}, "
                 f"{result.config.threads} thread(s)")
    if panels == 2:
        ax = axes[0][1]
        points = [(s, m[1], n) for s, m, n in zip(sizes, metrics, names, strict=True) if m]
        ax.scatter([p[0] for p in points], [p[1] for p in points])
        for x, y, name in points:
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        _plain_log_axes(ax, y_log=False)
        ax.set(xlabel="weights on disk (MB)",
               ylabel=next(m[0] for m in metrics if m), title="task metric vs size")
    fig.tight_layout()
    from edgedistill.atomic import atomic_save_figure

    path = out_dir / "bench.png"
    atomic_save_figure(fig, path, dpi=120)
    plt.close(fig)
    return [path]


def _plain_log_axes(ax, *, y_log: bool) -> None:
    """Log scales labelled with plain numbers (matplotlib's minor labels overlap otherwise)."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    axes = [ax.xaxis, ax.yaxis] if y_log else [ax.xaxis]
    ax.set_xscale("log")
    if y_log:
        ax.set_yscale("log")
    for axis in axes:
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(NullFormatter())
