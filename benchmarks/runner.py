"""Run variants interleaved, round by round, and compute ratios within each round.

On a shared, noisy machine absolute latencies drift; a ratio taken between variants measured
back to back in the same round does not drift with them. Each (round, variant) is a fresh process.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from edgedistill.benchmarks.flops import forward_flops
from edgedistill.config import Config, ConfigError, check_positive_or_none

if TYPE_CHECKING:  # numpy stays out of the CLI's start, which reads BenchConfig's defaults
    from edgedistill.benchmarks.variants import VariantSpec


@dataclass
class BenchConfig(Config):
    """How the variants are measured; the defaults are `edgedistill bench`'s."""

    seq_len: int = 128
    batch_size: int = 1
    threads: int = 1
    rounds: int = 3
    warmup: int = 5
    iterations: int = 30
    reference: str | None = None  # variant name the ratios are taken against (default: first)

    def validate(self) -> None:
        for name in ("seq_len", "batch_size", "threads", "rounds", "iterations"):
            check_positive_or_none(getattr(self, name), name)
        if self.warmup < 0:
            raise ConfigError(f"warmup must be 0 or more, got {self.warmup}")


# `edgedistill run` benches four variants at the end of a long chain: fewer and shorter rounds.
CHAIN_BENCH = BenchConfig(rounds=2, warmup=3, iterations=20)


@dataclass
class BenchResult:
    config: BenchConfig
    variants: list[VariantSpec]
    rounds: list[dict[str, dict]] = field(default_factory=list)  # round -> name -> measurement
    summary: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"config": self.config.to_dict(), "variants": [v.to_dict() for v in self.variants],
                "rounds": self.rounds, "summary": self.summary}


class BenchError(RuntimeError):
    """A variant failed to run; the message names it."""


def run_worker(spec: VariantSpec, config: BenchConfig, timeout_s: float = 1800) -> dict:
    request = {"variant": spec.to_dict(), "seq_len": config.seq_len,
               "batch_size": config.batch_size, "threads": config.threads,
               "warmup": config.warmup, "iterations": config.iterations}
    process = subprocess.run([sys.executable, "-m", "edgedistill.benchmarks.worker",
                              json.dumps(request)], capture_output=True, text=True,
                             timeout=timeout_s)
    lines = [line for line in process.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = process.stderr.strip().splitlines()[-1:] or ["no output"]
        raise BenchError(f"variant {spec.name} crashed (exit {process.returncode}): {tail[0]}")
    result = json.loads(lines[-1])
    if "error" in result:
        raise BenchError(f"variant {spec.name} failed: {result['error']}")
    return result


def run_benchmark(variants: list[VariantSpec], config: BenchConfig, progress=print) -> BenchResult:
    if not variants:
        raise BenchError("no variants to benchmark")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise BenchError(f"variant names must be unique, got {names}")
    reference = config.reference or names[0]
    if reference not in names:
        raise BenchError(f"reference variant {reference!r} is not among {names}")
    result = BenchResult(config, variants)
    for round_index in range(config.rounds):
        measured = {}
        # Rotate the order each round so no variant always runs first (or last).
        shift = round_index % len(variants)
        for spec in variants[shift:] + variants[:shift]:
            progress(f"round {round_index + 1}/{config.rounds}: {spec.name}")
            measured[spec.name] = run_worker(spec, config)
        result.rounds.append(measured)
    result.summary = summarize(result.rounds, names, reference, config)
    return result


def summarize(rounds: list[dict[str, dict]], names: list[str], reference: str,
              config: BenchConfig) -> dict[str, dict]:
    summary = {}
    for name in names:
        per_round = [r[name] for r in rounds]
        median = {key: statistics.median(m[key] for m in per_round)
                  for key in ("p50_ms", "p90_ms", "p99_ms", "throughput_per_s", "cold_start_s",
                              "peak_rss_bytes")}
        last = per_round[-1]
        flops = forward_flops(last["architecture"], config.seq_len, config.batch_size)
        summary[name] = {
            **median,
            "speedup_vs_reference": statistics.median(
                r[reference]["p50_ms"] / r[name]["p50_ms"] for r in rounds),
            "rss_ratio_vs_reference": statistics.median(
                r[name]["peak_rss_bytes"] / r[reference]["peak_rss_bytes"] for r in rounds),
            "size_bytes": last["size_bytes"],
            "size_ratio_vs_reference": last["size_bytes"] / rounds[-1][reference]["size_bytes"]
            if rounds[-1][reference]["size_bytes"] else None,
            "parameters": last["parameters"],
            "architecture": last["architecture"],
            "metrics": last["metrics"],
            "forward_gflops": flops / 1e9 if flops else None,
            "flops_per_token": flops / (config.seq_len * config.batch_size) if flops else None,
            "achieved_gflops_per_s": flops / 1e9 / (median["p50_ms"] / 1000) if flops else None,
        }
    return summary
