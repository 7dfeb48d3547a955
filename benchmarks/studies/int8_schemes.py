"""Which INT8 scheme should a student ship with? Accuracy and speed of each, per cell, in one run.

    .venv/bin/python benchmarks/int8_schemes.py                      # the cells with a default student
    .venv/bin/python benchmarks/int8_schemes.py --cells sib200-hau masakhaner-hau
    .venv/bin/python benchmarks/int8_schemes.py --table-only

Each cell's FP32 bundle is the default student of benchmarks/shipping_table.py (its run's 04-export
stage, under --runs). Every scheme of SCHEMES quantizes it once, with no accuracy gate (the point is to
see what each costs), into --work; then the FP32 bundle and every INT8 one are scored on the whole dev
and test splits with the project's scoring code, and benchmarked together, interleaved round by round,
each measurement a fresh process (seq 128, batch 1, one thread): the speed-ups are ratios against the
FP32 bundle within the same rounds. Records go to benchmarks/results/int8_schemes/<cell>.json and the
table to benchmarks/results/int8_schemes.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from edgedistill.atomic import atomic_write_text
from edgedistill.benchmarks.runner import BenchConfig, run_benchmark
from edgedistill.benchmarks.variants import VariantSpec
from edgedistill.chain.bundle_model import score_bundle
from edgedistill.export.quantize import DynamicScheme, StaticScheme, auto_preset
from edgedistill.teachers import cache_root

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RECORDS = RESULTS / "int8_schemes"
COMMAND = ".venv/bin/python benchmarks/int8_schemes.py"
CELLS = ("sib200-hau", "sib200-yor", "masakhaner-hau")


def schemes(preset: str) -> dict[str, object]:
    """Name -> scheme, today's default first. avx2 is the 7-bit-weight preset for CPUs without VNNI."""
    return {
        "dynamic": DynamicScheme(preset=preset),
        "dynamic-per-channel": DynamicScheme(preset=preset, per_channel=True),
        "dynamic-per-channel-fp32-classifier": DynamicScheme(preset=preset, per_channel=True,
                                                             keep_fp32=["classifier"]),
        "dynamic-fp32-embeddings": DynamicScheme(preset=preset, keep_fp32=["embeddings"]),
        "dynamic-per-channel-avx2": DynamicScheme(preset="avx2", per_channel=True),
        "static-qdq-minmax": StaticScheme(preset=preset, calibration_method="minmax"),
        "static-qdq-percentile": StaticScheme(preset=preset, calibration_method="percentile"),
    }


def quantize_all(fp32: Path, folder: Path, data, preset: str) -> dict[str, Path]:
    """Every scheme's INT8 bundle under ``folder`` (made once; a rerun reuses what exists)."""
    from edgedistill.export.pipeline import quantize_bundle

    made = {}
    for name, scheme in schemes(preset).items():
        out = folder / name
        if not (out / "edgedistill.json").is_file():
            print(f"  quantizing: {name}", flush=True)
            quantize_bundle(fp32, out, [scheme], data, max_drop=100.0, overwrite=True)
        made[name] = out
    return made


def measure_cell(cell: str, runs: Path, work: Path, rounds: int) -> dict:
    from edgedistill.export.pipeline import dev_data
    from edgedistill.runtime.bundle import load_manifest

    run = runs / f"default-{cell}"
    fp32, tokenizer_dir = run / "04-export", run / "03-trim-vocab"
    manifest = load_manifest(fp32)
    spec = dict(manifest.source["task"]["data"])
    preset = auto_preset()
    data = dev_data(spec, manifest.task, manifest.labels or None)
    bundles = {"fp32": fp32, **quantize_all(fp32, work / cell, data, preset)}
    rows: dict[str, dict] = {}
    metric = None
    for name, bundle in bundles.items():
        print(f"  scoring: {name}", flush=True)
        scores = {}
        for split in ("dev", "test"):
            scores[split], facts = score_bundle(bundle, tokenizer_dir, spec, split=split)
            metric = facts["metric"]
        quantization = load_manifest(bundle).quantization or {}
        rows[name] = {**scores, "model_bytes": (bundle / "model.onnx").stat().st_size,
                      "scheme": quantization.get("scheme", quantization)}
    print("  benchmarking", flush=True)
    config = BenchConfig(rounds=rounds, iterations=30, warmup=5, reference="fp32")
    bench = run_benchmark([VariantSpec(name, "onnx", str(path)) for name, path in bundles.items()], config,
                          progress=lambda _: None)
    for name, summary in bench.summary.items():
        rows[name].update(p50_ms=summary["p50_ms"], speedup_vs_fp32=summary["speedup_vs_reference"],
                          peak_rss_bytes=summary["peak_rss_bytes"])
    return {"cell": cell, "metric": metric, "preset": preset, "fp32_bundle": str(fp32),
            "dev_examples": len(data.texts), "bench": config.to_dict(), "rows": rows,
            "measured": time.strftime("%Y-%m-%d %H:%M")}


def render(records: list[dict]) -> str:
    lines = [f"<!-- generated by `{COMMAND}` from int8_schemes/*.json; regenerate, never edit -->", "",
             "# INT8 schemes for the default students", "",
             f"Generated by: `{COMMAND}` (`--table-only` rewrites this file from the records). Each cell's "
             "FP32 bundle is its default student (benchmarks/shipping_table.py); every scheme quantized it "
             "with no accuracy gate. Scores: the task metric (macro-F1, or entity F1 for MasakhaNER) on the "
             "whole dev and test splits, x100, with the drop from FP32 in brackets. Speed: p50 latency at "
             "seq 128, batch 1, one thread, and the speed-up against the FP32 bundle measured in the same "
             "interleaved rounds (fresh process each). The machine's 2 cores were shared with training jobs "
             "while these ran: compare ratios within a cell, not absolute milliseconds.", ""]
    for record in records:
        rows = record["rows"]
        base = rows["fp32"]
        lines += [f"## {record['cell']} ({record['metric']}, preset {record['preset']}, "
                  f"{record['dev_examples']} dev examples, measured {record['measured']})", "",
                  "| scheme | dev | test | model MB | p50 ms | speed-up vs FP32 |", "|---" * 6 + "|"]
        for name, row in rows.items():
            lines.append(f"| {name} | {_score(row['dev'], base['dev'], name)} | "
                         f"{_score(row['test'], base['test'], name)} | {row['model_bytes'] / 1e6:.1f} | "
                         f"{row['p50_ms']:.2f} | {row['speedup_vs_fp32']:.2f}x |")
        lines.append("")
    return "\n".join(lines)


def _score(value: float, fp32: float, name: str) -> str:
    return f"{100 * value:.1f}" if name == "fp32" else f"{100 * value:.1f} ({100 * (value - fp32):+.1f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    home = cache_root() / "runs"
    parser.add_argument("--runs", type=Path, default=home / "students", help="default students' runs")
    parser.add_argument("--work", type=Path, default=home / "int8_schemes", help="INT8 bundles made here")
    parser.add_argument("--cells", nargs="*", default=list(CELLS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args(argv)
    if not args.table_only:
        for cell in args.cells:
            if not (args.runs / f"default-{cell}" / "04-export" / "edgedistill.json").is_file():
                print(f"[{cell}] no default student's FP32 bundle under {args.runs}; skipped", flush=True)
                continue
            print(f"[{cell}] {time.strftime('%H:%M:%S')}", flush=True)
            record = measure_cell(cell, args.runs, args.work, args.rounds)
            atomic_write_text(RECORDS / f"{cell}.json", json.dumps(record, indent=2) + "\n")
    records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(RECORDS.glob("*.json"))]
    atomic_write_text(RESULTS / "int8_schemes.md", render(records))
    print(f"wrote {RESULTS / 'int8_schemes.md'} ({len(records)} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
