"""edgedistill's export + INT8 against `optimum-cli export onnx` + Optimum's ORTQuantizer, one run.

On one fine-tuned model (the AfriSenti-Hausa e5-small teacher by default) this builds, side by side:

* optimum-fp32 / optimum-int8: `optimum-cli export onnx --task text-classification`, then
  `ORTQuantizer` with `AutoQuantizationConfig.avx512_vnni(is_static=False, per_channel=False)`
  (what a user does without edgedistill: the baseline in docs/export-and-quantization.md);
* ed-fp32 / ed-int8: `edgedistill export` and `edgedistill quantize` (accuracy gate on the full dev
  split, preset for this CPU);
* ed-trim-int8: `edgedistill trim-vocab` to the 40k pieces most frequent in Hausa, then the same
  export and quantize;

and reports: max |logit| difference of the FP32 ONNX vs PyTorch over the whole dev split; dev
macro-F1 of every variant; file sizes; and latency/RSS/cold start from the project's harness (each
variant in its own process, rounds interleaved, ratios taken within a round against optimum-int8).

    python benchmarks/studies/export_vs_optimum.py --model runs/teachers/afrisenti-hau \
        --out benchmarks/results/export_vs_optimum.md

The results file starts with the command that produced it. Artifacts go to --work (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from study_paths import ROOT

from edgedistill.atomic import atomic_write_text

BIN = Path(sys.executable).parent
REFERENCE = "optimum-int8"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(command: list[str]) -> None:
    log("$ " + shlex.join(command))
    subprocess.run(command, check=True, cwd=ROOT)


# ------------------------------------------------------------------ building the variants


def build_edgedistill(model: Path, work: Path, trim_size: int, dev_limit: int | None) -> dict[str, Path]:
    edgedistill = str(BIN / "edgedistill")
    paths = {"ed-fp32": work / "ed-fp32", "ed-int8": work / "ed-int8", "ed-trim-int8": work / "ed-trim-int8"}
    run([edgedistill, "export", str(model), "--out", str(paths["ed-fp32"]), "--overwrite"])
    limit = ["--dev-limit", str(dev_limit)] if dev_limit else []
    run([edgedistill, "quantize", str(paths["ed-fp32"]), "--out", str(paths["ed-int8"]), "--overwrite",
         "--report", str(work / "gate.json"), *limit])
    task = json.loads((model / "edgedistill-task.json").read_text())
    trimmed = work / "trimmed"
    run([edgedistill, "trim-vocab", str(model), str(trimmed), "--lang", "hau", "--text-file",
         str(data_root() / "afrisenti" / "hau" / "train.tsv"), "--tsv-column", "tweet",
         "--size", str(trim_size), "--overwrite"])
    run([edgedistill, "export", str(trimmed), "--out", str(work / "ed-trim-fp32"), "--overwrite",
         "--task", "sequence-classification", "--prefix", task["text_prefix"],
         "--max-length", str(task["max_length"])])
    run([edgedistill, "quantize", str(work / "ed-trim-fp32"), "--out", str(paths["ed-trim-int8"]),
         "--overwrite", "--report", str(work / "gate-trim.json"), "--data", "afrisenti", "--language", "hau",
         *limit])
    return paths


def build_optimum(model: Path, work: Path) -> dict[str, Path]:
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    fp32, int8 = work / "optimum-fp32", work / "optimum-int8"
    shutil.rmtree(fp32, ignore_errors=True)
    shutil.rmtree(int8, ignore_errors=True)
    run([str(BIN / "optimum-cli"), "export", "onnx", "--model", str(model), "--task", "text-classification",
         str(fp32)])
    log("ORTQuantizer: AutoQuantizationConfig.avx512_vnni(is_static=False, per_channel=False)")
    quantizer = ORTQuantizer.from_pretrained(fp32)
    config = AutoQuantizationConfig.avx512_vnni(is_static=False, per_channel=False)
    quantizer.quantize(save_dir=int8, quantization_config=config)
    return {"optimum-fp32": as_bundle(fp32 / "model.onnx", model, work / "optimum-fp32-bundle"),
            "optimum-int8": as_bundle(int8 / "model_quantized.onnx", model, work / "optimum-int8-bundle")}


def as_bundle(onnx_file: Path, model: Path, dest: Path) -> Path:
    """Optimum's file, unchanged, with a manifest around it so the harness can load it like ours."""
    import onnxruntime as ort

    from edgedistill.runtime.bundle import Manifest, seal_bundle

    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    shutil.copy(onnx_file, dest / "model.onnx")
    shutil.copy(model / "tokenizer.json", dest / "tokenizer.json")
    session = ort.InferenceSession(str(dest / "model.onnx"), providers=["CPUExecutionProvider"])
    config = json.loads((model / "config.json").read_text())
    task = json.loads((model / "edgedistill-task.json").read_text())
    labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    architecture = {"layers": config["num_hidden_layers"], "hidden_size": config["hidden_size"],
                    "heads": config["num_attention_heads"], "intermediate_size": config["intermediate_size"],
                    "vocab_size": config["vocab_size"]}
    manifest = Manifest(task="sequence-classification", labels=labels, max_length=task["max_length"],
                        vocab_size=config["vocab_size"], inputs=[i.name for i in session.get_inputs()],
                        outputs=[o.name for o in session.get_outputs()],
                        pad_token_id=config.get("pad_token_id"), input_prefix=task["text_prefix"],
                        architecture=architecture,
                        source={"model": str(model), "built_by": f"optimum ({onnx_file.name})"})
    seal_bundle(dest, manifest)
    return dest


def data_root() -> Path:
    from edgedistill.shared_data import data_root as root

    return root()


# ------------------------------------------------------------------ accuracy


def dev_split() -> tuple[list[str], list[str]]:
    from edgedistill.tasks import read_afrisenti

    examples = read_afrisenti(data_root() / "afrisenti" / "hau" / "dev.tsv")
    return [e.text for e in examples], [e.label for e in examples]


def onnx_logits(bundle: Path, texts: list[str]) -> np.ndarray:
    from edgedistill.export.encoding import file_encoder
    from edgedistill.export.evaluate import predict
    from edgedistill.runtime.bundle import load_manifest

    manifest = load_manifest(bundle)
    encode = file_encoder(bundle / "tokenizer.json", manifest.inputs, max_length=manifest.max_length,
                          prefix=manifest.input_prefix, pad_id=manifest.pad_token_id)
    return np.stack(predict(bundle / manifest.model_file, encode, texts, batch_size=32))


def pytorch_logits(model_dir: Path, texts: list[str], prefix: str, max_length: int) -> np.ndarray:
    import torch
    from transformers import AutoModelForSequenceClassification

    from edgedistill.teachers.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    logits = np.zeros((len(texts), model.config.num_labels), np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), 32):
            chunk = order[start : start + 32]
            batch = tokenizer([prefix + texts[i] for i in chunk], padding=True, truncation=True,
                              max_length=max_length, return_tensors="pt")
            logits[chunk] = model(**batch).logits.numpy()
    return logits


def macro_f1(logits: np.ndarray, gold: list[str], labels: list[str]) -> float:
    from edgedistill.tasks.metrics import classification_metrics

    predicted = [labels[i] for i in logits.argmax(1)]
    return 100 * classification_metrics(gold, predicted, tuple(labels))["macro_f1"]


def accuracy_table(model: Path, bundles: dict[str, Path]) -> dict:
    texts, gold = dev_split()
    task = json.loads((model / "edgedistill-task.json").read_text())
    labels = task["labels"]
    log(f"PyTorch logits on {len(texts)} dev tweets")
    reference = pytorch_logits(model, texts, task["text_prefix"], task["max_length"])
    rows = {"pytorch-fp32": {"macro_f1": macro_f1(reference, gold, labels)}}
    for name, bundle in bundles.items():
        log(f"ONNX logits of {name}")
        logits = onnx_logits(bundle, texts)
        rows[name] = {"macro_f1": macro_f1(logits, gold, labels),
                      "max_abs_logit_diff_vs_pytorch": float(np.abs(logits - reference).max()),
                      "argmax_agreement_vs_pytorch": float((logits.argmax(1) == reference.argmax(1)).mean())}
    return {"dev_examples": len(texts), "rows": rows}


# ------------------------------------------------------------------ latency and report


def latency(specs: dict[str, str], rounds: int, iterations: int, out: Path) -> dict:
    """`edgedistill bench` in its own light process (a worker's peak RSS starts from its parent's)."""
    variants = [f"{name}={path}" for name, path in specs.items()]
    run([str(BIN / "edgedistill"), "bench", *variants, "--seq", "128", "--batch", "1", "--threads", "1",
         "--rounds", str(rounds), "--warmup", "5", "--iterations", str(iterations), "--reference", REFERENCE,
         "--out", str(out)])
    return json.loads((out / "bench.json").read_text())


def file_sizes(bundles: dict[str, Path]) -> dict[str, int]:
    from edgedistill.runtime.bundle import load_manifest

    sizes = {}
    for name, bundle in bundles.items():
        manifest = load_manifest(bundle, verify=False)
        sizes[name] = sum((bundle / f).stat().st_size for f in manifest.files
                          if f.startswith(manifest.model_file))
    return sizes


def write_report(out: Path, command: str, context: dict, accuracy: dict, sizes: dict, bench: dict,
                 gates: dict) -> None:
    summary = bench["summary"]
    lines = [f"# {command}", "",
             f"Model: {context['model_display']} ({context['model']}); dev: AfriSenti hau, "
             f"{accuracy['dev_examples']} tweets. Machine: {context['cpu']}, {context['cores']} cores, "
             f"load average {context['load_before']} before / {context['load_after']} after (shared "
             f"machine: compare ratios, which are taken within each round, not absolute times).", "",
             "| variant | dev macro-F1 | max abs logit diff vs PyTorch | model file(s) "
             "| size vs optimum-int8 | latency p50 (seq 128, batch 1, 1 thread) | speed-up vs optimum-int8 "
             "| peak RSS | cold start |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, row in accuracy["rows"].items():
        bench_row = summary.get(name, {})
        size = sizes.get(name, bench_row.get("size_bytes"))
        lines.append("| " + " | ".join([
            name, f"{row['macro_f1']:.2f}",
            f"{row['max_abs_logit_diff_vs_pytorch']:.2e}" if "max_abs_logit_diff_vs_pytorch" in row else "-",
            f"{size / 1e6:.1f} MB" if size else "-",
            f"{size / sizes[REFERENCE]:.2f}x" if size and REFERENCE in sizes else "-",
            f"{bench_row['p50_ms']:.1f} ms" if bench_row else "-",
            f"{bench_row['speedup_vs_reference']:.2f}x" if bench_row else "-",
            f"{bench_row['peak_rss_bytes'] / 1e6:.0f} MB" if bench_row else "-",
            f"{bench_row['cold_start_s']:.2f} s" if bench_row else "-"]) + " |")
    lines += ["", "Accuracy gate (edgedistill quantize), schemes tried in order:", ""]
    for name, report in gates.items():
        for index, attempt in enumerate(report["attempts"]):
            chosen = " (chosen)" if index == report["chosen"] else ""
            lines.append(f"- {name}: {attempt['description']}: macro_f1 {attempt['metric']:.2f}, drop "
                         f"{attempt['drop']:+.2f} points vs FP32 {report['fp32_metric']:.2f}{chosen}")
    lines += ["", "```json", json.dumps({"context": context, "accuracy": accuracy, "sizes_bytes": sizes,
                                          "bench": bench, "gates": gates}, indent=1, default=str),
              "```", ""]
    atomic_write_text(out, "\n".join(lines))
    log(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "runs" / "teachers" / "afrisenti-hau")
    parser.add_argument("--work", type=Path, default=ROOT / "out" / "export-vs-optimum")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "export_vs_optimum.md")
    parser.add_argument("--trim-size", type=int, default=40000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--skip-build", action="store_true", help="Reuse the artifacts already in --work.")
    parser.add_argument("--dev-limit", type=int, help="Gate on fewer dev tweets (dry runs only).")
    args = parser.parse_args()
    command = "python " + shlex.join([str(Path(sys.argv[0]).resolve().relative_to(ROOT)), *sys.argv[1:]])
    from edgedistill.env import cpu_model, usable_cores

    context = {"model": str(args.model), "cpu": cpu_model(), "cores": usable_cores(),
               "load_before": round(os.getloadavg()[0], 2),
               "model_display": json.loads((args.model / "edgedistill-teacher.json").read_text()).get(
                   "display_name", args.model.name)}
    args.work.mkdir(parents=True, exist_ok=True)
    names = ["optimum-fp32", "optimum-int8", "ed-fp32", "ed-int8", "ed-trim-int8"]
    if args.skip_build:
        bundles = {name: args.work / (f"{name}-bundle" if name.startswith("optimum") else name)
                   for name in names}
    else:
        bundles = {**build_optimum(args.model, args.work),
                   **build_edgedistill(args.model, args.work, args.trim_size, args.dev_limit)}
    accuracy = accuracy_table(args.model, bundles)
    gates = {name: json.loads((args.work / file).read_text())
             for name, file in (("ed-int8", "gate.json"), ("ed-trim-int8", "gate-trim.json"))}
    bench = latency({"pytorch-fp32": str(args.model), **{n: str(p) for n, p in bundles.items()}},
                    args.rounds, args.iterations, args.work / "bench")
    context["load_after"] = round(os.getloadavg()[0], 2)
    write_report(args.out, command, context, accuracy, file_sizes(bundles), bench, gates)


if __name__ == "__main__":
    main()
