"""`edgedistill bench`: the benchmark harness from the command line."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

from edgedistill.benchmarks.runner import BenchConfig
from edgedistill.cli_support import AliasedOption


@click.command()
@click.argument("variants", nargs=-1, required=True)
@click.option("--max-length", "seq_len", cls=AliasedOption, aliases=["--seq"], type=click.IntRange(min=4),
              default=BenchConfig.seq_len, show_default=True,
              help="Sequence length in tokens (special tokens included): every input is this long.")
@click.option("--batch-size", "batch_size", cls=AliasedOption, aliases=["--batch"],
              type=click.IntRange(min=1), default=BenchConfig.batch_size, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=BenchConfig.threads, show_default=True,
              help="Intra-op threads for PyTorch and ONNX Runtime alike.")
@click.option("--rounds", type=click.IntRange(min=1), default=BenchConfig.rounds, show_default=True,
              help="Interleaved rounds; each (round, variant) runs in a fresh process.")
@click.option("--warmup", type=click.IntRange(min=0), default=BenchConfig.warmup, show_default=True)
@click.option("--iterations", type=click.IntRange(min=1), default=BenchConfig.iterations, show_default=True)
@click.option("--reference", help="Variant the ratios are taken against (default: the first).")
@click.option("--runtime-only", is_flag=True,
              help="Accept only ONNX bundles, so it runs on the base install (e.g. a Pi).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default="bench-out",
              show_default=True, help="Folder for bench.json, bench.md and bench.png.")
@click.option("--json", "as_json", is_flag=True,
              help="Print bench.json (every measurement) instead of bench.md.")
def bench(variants: tuple[str, ...], seq_len: int, batch_size: int, threads: int, rounds: int,
          warmup: int, iterations: int, reference: str | None, runtime_only: bool,
          out: Path, as_json: bool) -> None:
    """Measure VARIANTS side by side: latency p50/p90/p99, throughput, cold start, peak RSS,
    size, parameters and FLOPs, and their ratios against a reference variant.

    \b
    A variant is NAME=PATH or PATH:
      teacher=e5-small            the built-in teacher in PyTorch FP32
      student=runs/student        a Hugging Face model directory, PyTorch FP32
      int8=bundles/student-int8   a bundle directory, ONNX Runtime
      ts=export/model.pt          TorchScript (tokenizer.json beside it)
    """
    from edgedistill.benchmarks.report import write_report
    from edgedistill.benchmarks.runner import BenchError, run_benchmark
    from edgedistill.benchmarks.variants import VariantError, parse_variant
    from edgedistill.env import environment_report

    try:
        specs = [parse_variant(v) for v in variants]
    except VariantError as exc:
        raise click.BadParameter(str(exc), param_hint="VARIANTS") from None
    if runtime_only:
        heavy = [s.name for s in specs if s.kind != "onnx"]
        if heavy:
            raise click.BadParameter(f"--runtime-only accepts bundles only; not bundles: {heavy}",
                                     param_hint="VARIANTS")
    config = BenchConfig(seq_len, batch_size, threads, rounds, warmup, iterations, reference)
    try:
        result = run_benchmark(specs, config, progress=lambda m: click.echo(m, err=True))
    except BenchError as exc:
        raise click.ClickException(str(exc)) from None
    command = _canonical_command(variants, config, runtime_only, out)
    written = write_report(result, out, command=command, machine=environment_report())
    if as_json:
        click.echo(json.dumps(json.loads((out / "bench.json").read_text()), indent=2))
    else:
        click.echo((out / "bench.md").read_text())
    click.echo("wrote " + ", ".join(str(p) for p in written), err=True)


def _canonical_command(variants, config, runtime_only: bool, out: Path) -> str:
    """The full command, every setting spelled out, to head the report."""
    parts = ["edgedistill", "bench", *variants, "--max-length", config.seq_len, "--batch-size",
             config.batch_size, "--threads", config.threads, "--rounds", config.rounds,
             "--warmup", config.warmup, "--iterations", config.iterations]
    if config.reference:
        parts += ["--reference", config.reference]
    if runtime_only:
        parts.append("--runtime-only")
    parts += ["--out", out]
    return " ".join(shlex.quote(str(p)) for p in parts)


COMMANDS = [bench]
