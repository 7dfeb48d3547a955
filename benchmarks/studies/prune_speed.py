"""Is a structurally pruned model faster? multilingual-e5-small before and after pruning.

Prunes the built-in teacher (multilingual-e5-small, 4-bit weights dequantized) with
``edgedistill.compress`` on Hausa text, then times the full and the pruned models in ONE interleaved
run of the benchmark harness (each round, each variant in a fresh process, order rotated; the
speed-up is the median of per-round ratios, which does not drift with the machine's load). It also
says how far each pruned model's mean-pooled sentence embeddings moved (cosine to the full model on
held-out Hausa), next to the same shapes pruned at random, so the importance scores are checked too.

    .venv/bin/python benchmarks/studies/prune_speed.py           # writes benchmarks/results/prune_speed.md
"""

from __future__ import annotations

import argparse
import copy
import json
import shlex
import statistics
import tempfile
from pathlib import Path

from study_paths import RESULTS

from edgedistill.atomic import atomic_write_text

# name: (heads per layer, FFN neurons per layer); e5-small has 12 heads and FFN 1536 in 12 layers.
VARIANTS = {"ffn-768": (None, 768), "heads-6-ffn-768": (6, 768), "heads-4-ffn-384": (4, 384)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--iterations", type=int, default=30, help="timed forward passes per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seq", type=int, default=128, help="tokens per input")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--score-batches", type=int, default=8, help="batches of 8 Hausa sentences "
                        "the importance scores are computed on")
    parser.add_argument("--out", type=Path, default=RESULTS / "prune_speed.md")
    return parser.parse_args(argv)


def command_line(args: argparse.Namespace) -> str:
    """The full command, every setting spelled out, to head the results file."""
    out = args.out.resolve()
    shown = out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out
    parts = [".venv/bin/python", "benchmarks/studies/prune_speed.py", "--rounds", args.rounds, "--iterations",
             args.iterations, "--warmup", args.warmup, "--seq", args.seq, "--threads", args.threads,
             "--score-batches", args.score_batches, "--out", shown]
    return " ".join(shlex.quote(str(p)) for p in parts)


def build_variants(work: Path, score_batches: int) -> dict[str, dict]:
    """Prune the teacher into ``work/<name>`` for each variant; return their reports and cosines."""
    import torch

    from edgedistill.compress.importance import compute_importance, text_batches
    from edgedistill.compress.models import load_model, save_model
    from edgedistill.compress.pruning import PruneConfig, StructuredPruner, prune_ffn, prune_heads
    from edgedistill.shared_data import raw_sentences

    loaded = load_model("e5-small")
    full = loaded.model
    texts, held_out = raw_sentences("hau", split="train"), raw_sentences("hau", split="test", limit=64)
    reference = mean_pooled(full, loaded.tokenizer, held_out)
    batches = text_batches(loaded.tokenizer, texts, batches=score_batches, batch_size=8, max_length=128)
    scores = compute_importance(full, loaded.tokenizer, batches, "output")
    built = {}
    for name, (heads, ffn) in VARIANTS.items():
        config = PruneConfig(heads_per_layer=heads, ffn_size=ffn, objective="output",
                             batches=score_batches)
        model = copy.deepcopy(full)
        result = StructuredPruner(config).prune(model, loaded.tokenizer, scores=scores)
        save_model(model, loaded.tokenizer, work / name, result.report, source=loaded, overwrite=True)
        shuffled = copy.deepcopy(full)
        generator = torch.Generator().manual_seed(0)
        if heads:
            prune_heads(shuffled, [torch.rand(len(s), generator=generator) for s in scores.heads],
                        [heads] * len(scores.heads))
        prune_ffn(shuffled, [torch.rand(len(s), generator=generator) for s in scores.ffn], ffn)
        built[name] = {
            "path": str(work / name), "headline": result.report.headline,
            "non_embedding_parameters": result.report.parameters_after["non_embedding"],
            "cosine_to_full": cosine(mean_pooled(model, loaded.tokenizer, held_out), reference),
            "cosine_to_full_random_units": cosine(mean_pooled(shuffled, loaded.tokenizer, held_out),
                                                  reference),
        }
    built["full"] = {"path": "e5-small", "headline": "multilingual-e5-small, 4-bit weights dequantized",
                     "non_embedding_parameters": sum(p.numel() for p in full.encoder.parameters()),
                     "cosine_to_full": 1.0, "cosine_to_full_random_units": None,
                     "score_batches": score_batches}
    return built


def mean_pooled(model, tokenizer, texts: list[str]):
    import torch

    batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return (hidden * mask).sum(1) / mask.sum(1)


def cosine(a, b) -> float:
    import torch

    return round(float(torch.nn.functional.cosine_similarity(a, b, dim=-1).mean()), 4)


def time_variants(built: dict[str, dict], args: argparse.Namespace):
    from edgedistill.benchmarks.runner import BenchConfig, run_benchmark
    from edgedistill.benchmarks.variants import VariantSpec

    specs = [VariantSpec("full", "pytorch", "e5-small")]
    specs += [VariantSpec(name, "pytorch", built[name]["path"]) for name in VARIANTS]
    config = BenchConfig(seq_len=args.seq, batch_size=1, threads=args.threads, rounds=args.rounds,
                         warmup=args.warmup, iterations=args.iterations, reference="full")
    return run_benchmark(specs, config, progress=lambda message: print(message, flush=True))


def report(command: str, built: dict[str, dict], result) -> str:
    from edgedistill.env import environment_report

    machine = environment_report()
    lines = [
        f"`{command}`", "",
        "Structured pruning of multilingual-e5-small (4-bit weights dequantized), PyTorch FP32, "
        f"seq {result.config.seq_len}, batch 1, {result.config.threads} thread(s), {result.config.rounds} "
        f"interleaved rounds (fresh process per variant and round), median p50 of "
        f"{result.config.iterations} runs after {result.config.warmup} warm-up.",
        f"Machine: {machine.get('cpu_model') or '?'}, {machine['cores']['usable']} "
        f"usable cores (shared with other work while this ran).", "",
        "| variant | shape | non-embedding params | p50 ms | speed-up vs full (median of rounds) "
        "| per-round speed-ups | cosine to full | cosine, same shape pruned at random |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ["full", *VARIANTS]:
        ratios = [r["full"]["p50_ms"] / r[name]["p50_ms"] for r in result.rounds]
        row = built[name]
        random_cosine = row["cosine_to_full_random_units"]
        lines.append(
            f"| {name} | {row['headline']} | {row['non_embedding_parameters']:,} | "
            f"{result.summary[name]['p50_ms']:.1f} | {statistics.median(ratios):.2f}x | "
            f"{', '.join(f'{r:.2f}' for r in ratios)} | {row['cosine_to_full']:.4f} | "
            f"{'' if random_cosine is None else f'{random_cosine:.4f}'} |")
    lines += ["", "Cosine: mean-pooled sentence embeddings of 64 held-out Hausa sentences (MAFAND test), "
              "pruned vs full, before any re-training. Importance: objective 'output' (label-free: "
              "masking gradients and |grad x weight| of random projections of the final hidden states) "
              f"over {built['full']['score_batches']} batches of 8 Hausa MAFAND train sentences. "
              "Random: the same shapes with heads and neurons chosen at random.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="prune-speed-") as work:
        built = build_variants(Path(work), args.score_batches)
        result = time_variants(built, args)
    text = report(command_line(args), built, result)
    atomic_write_text(args.out, text)
    atomic_write_text(args.out.with_suffix(".json"), json.dumps(
        {"command": command_line(args), "variants": built, "benchmark": result.to_dict()}, indent=2))
    print(text)


if __name__ == "__main__":
    main()
