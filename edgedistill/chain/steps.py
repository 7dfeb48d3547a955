"""What each stage of the chain does: thin calls into the stages' own code, and the numbers they leave.

Every function here takes what the plan read from the recipe (typed configs, the names of the
stages it reads), then the folder to write (``product``) and the records of the stages before it, and
returns a summary read back from the files it wrote (results.json, a compression report, a bundle
manifest, bench.json), so the report quotes the run and nothing else. When ``product`` already exists,
an earlier attempt finished it and it is only read back.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgedistill.atomic import read_json
from edgedistill.chain.runner import StageRecord
from edgedistill.errors import EdgedistillError
from edgedistill.tasks.task import TASK_FILE

if TYPE_CHECKING:
    from edgedistill.benchmarks.runner import BenchConfig
    from edgedistill.chain.next_steps import CompressStep, TextSources
    from edgedistill.chain.recipe import Recipe
    from edgedistill.export.quantize_options import QuantizeOptions
    from edgedistill.tasks.config import FinetuneConfig


class ChainError(EdgedistillError):
    """A chain that cannot run as configured; the message names the recipe key."""


def say(message: str) -> None:
    """What a stage reports while it runs, indented under the chain's line for the stage."""
    print(f"      {message}", file=sys.stderr, flush=True)


def _training_summary(results: dict[str, Any], model: Path) -> dict[str, Any]:
    """The numbers of a fine-tuning or distillation results.json that the report uses."""
    def used(split: str) -> int | None:
        data = results.get("data", {})
        return data.get(f"{split}_used", data.get(f"{split}_examples"))

    test, steps = results.get("test") or {}, results.get("training", {}).get("steps")
    metric = next((k for k in ("macro_f1", "entity_f1", "accuracy") if k in test), None)
    headline = f"{steps} steps" + (f", test {metric} {test[metric]:.4f}" if metric else "") if steps else None
    return {"dev": results.get("dev"), "test": results.get("test"), "dev_examples": used("dev"),
            "test_examples": used("test"), "wall_seconds": results.get("wall_seconds"), "steps": steps,
            "parameters": (results.get("student") or {}).get("parameters"),
            "shape": (results.get("student") or {}).get("shape"),
            "display_name": (results.get("model") or {}).get("display_name"),
            "headline": headline, "model": str(model)}


# ---------------------------------------------------------------- training stages

def teacher(model: str, finetune: FinetuneConfig | None, product: Path, done: dict[str, StageRecord], *,
            progress: bool) -> dict[str, Any]:
    """Fine-tune the teacher on the task, or point at it when it needs no fine-tuning."""
    if finetune is None:
        from edgedistill.teachers import resolve_teacher

        location = resolve_teacher(model)  # a directory, or a hub id
        local = isinstance(location, Path)
        results = read_json(location / "results.json") if local else {}
        summary = _training_summary(results, Path(str(location)))
        return {**summary, "model_outside": str(location.resolve()) if local else location,
                "fine_tuned_here": False,
                "headline": f"used as it is: {location}"}
    from edgedistill.tasks.finetune import finetune as run_finetune

    if not product.exists():
        run_finetune(finetune.replace(output_dir=str(product)), progress=progress)
    return {**_training_summary(read_json(product / "results.json"), product), "fine_tuned_here": True}


def distill(config: Recipe, teacher_from: str, product: Path, done: dict[str, StageRecord], *,
            progress: bool) -> dict[str, Any]:
    """One distillation round; its teacher is the model of the stage named in ``teacher_from``."""
    from edgedistill.distill.run import distill as run_distill

    teacher = dataclasses.replace(config.teacher, model=str(done[teacher_from].model))
    if not product.exists():
        run_distill(config.replace(teacher=teacher, output_dir=str(product)), progress=progress)
    return _training_summary(read_json(product / "results.json"), product)


def finetune_student(config: FinetuneConfig, source: str, product: Path, done: dict[str, StageRecord], *,
                     progress: bool) -> dict[str, Any]:
    """Fine-tune the model of the stage ``source`` on the step's task."""
    from edgedistill.tasks.finetune import finetune

    if not product.exists():
        finetune(config.replace(model=str(done[source].model), output_dir=str(product)), progress=progress)
    return _training_summary(read_json(product / "results.json"), product)


# ---------------------------------------------------------------- compression stages

def compress(step: CompressStep, text: TextSources, source_stage: str, product: Path,
             done: dict[str, StageRecord]) -> dict[str, Any]:
    """trim-vocab, prune-ffn, prune-heads or reduce-hidden on the previous model (edgedistill.compress)."""
    source = done[source_stage].model
    if not product.exists():
        texts, held_out = _compression_texts(text, source)
        step.run(source, product, texts, held_out)
    if (source / TASK_FILE).is_file() and not (product / TASK_FILE).is_file():
        shutil.copy(source / TASK_FILE, product / TASK_FILE)  # labels, text prefix, data: unchanged
    report = read_json(product / "compression-report.json")
    return {"headline": report.get("headline"), "parameters_before": report.get("parameters_before"),
            "parameters": report.get("parameters_after"), "model": str(product)}


def task_texts(source: Path) -> list[str]:
    """The training texts of the task ``source`` was trained on, with its text prefix, as it reads them:
    a vocabulary trimmed on raw text alone can drop the prefix's tokens and the task's own words."""
    from edgedistill.tasks import DataSpec, load_task

    info = read_json(source / TASK_FILE)
    if not info.get("data"):
        raise ChainError(f"task_text is set, but {source} does not say which task it was trained on "
                         f"(no data in its {TASK_FILE})")
    task = load_task(DataSpec(**info["data"]), splits=("train",))
    prefix = info.get("text_prefix") or ""
    return [prefix + (" ".join(e.tokens) if hasattr(e, "tokens") else e.text)
            for e in task.split("train").examples]


def _compression_texts(text: TextSources, source: Path) -> tuple[list[str], list[str] | None]:
    """The texts a compressor counts (the task's training texts first, when asked), and the held-out
    texts (the test split of the same languages) a trimmed tokenizer is measured on."""
    from edgedistill.compress.text import gather_texts

    texts = task_texts(source) if text.task_text else []
    if text.languages or text.files or not texts:
        texts += gather_texts(text.languages, text.files, limit_per_source=text.max_sentences)
    held_out = gather_texts(text.languages, (), limit_per_source=text.max_sentences, split="test") \
        if text.languages else None
    return texts, held_out


# ---------------------------------------------------------------- export, quantize, bench

def export(options: dict[str, Any], source: str, product: Path, done: dict[str, StageRecord]
           ) -> dict[str, Any]:
    """Export the model of the stage ``source`` to an ONNX FP32 bundle (``options``: ExportOptions keys)."""
    from edgedistill.export.pipeline import ExportOptions, export_bundle

    if not product.exists():
        export_bundle(str(done[source].model), product, ExportOptions(**options), log=say)
    return _bundle_summary(product)


def quantize(options: QuantizeOptions, data: dict[str, Any] | None, source: str, product: Path,
             done: dict[str, StageRecord]) -> dict[str, Any]:
    """Quantize the FP32 bundle of the stage ``source`` to INT8 behind the accuracy gate, on the dev split
    of ``data`` (None: the task the bundle records)."""
    from edgedistill.export.pipeline import dev_data, quantize_bundle
    from edgedistill.runtime.bundle import load_manifest

    fp32 = done[source].model
    if not product.exists():
        manifest = load_manifest(fp32)
        spec = data or dict((manifest.source.get("task") or {}).get("data") or {})
        if not spec:
            raise ChainError("the quantize stage needs dev data: give the recipe a [data.task] or a "
                             "finetune step with a task")
        dev = dev_data(spec, manifest.task, manifest.labels or None, limit=options.dev_limit)
        quantize_bundle(fp32, product, options.ladder(), dev, max_drop=options.max_drop, log=say)
    return _bundle_summary(product)


def evaluate(fp32: str, int8: str, product: Path, done: dict[str, StageRecord], *, data: dict[str, Any],
             limit: int | None, seed: int) -> dict[str, Any]:
    """Score the FP32 and INT8 bundles on the test sample the teacher and the student were scored on."""
    scores = read_json(product / "scores.json")
    if not scores:
        from edgedistill.chain.bundle_model import score_bundle

        model = done[done[fp32].settings["source"]].model  # the exported model: its tokenizer
        scores = {"bundles": {}}
        for name, stage in (("fp32", fp32), ("int8", int8)):
            scores["bundles"][name], info = score_bundle(done[stage].model, model, data, limit=limit,
                                                         seed=seed)
            scores.update(info)
        product.mkdir(parents=True, exist_ok=True)
        (product / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
    bundles = scores["bundles"]
    if bundles.get("int8") is not None:
        scores["headline"] = (f"test {scores['metric']}: FP32 {bundles['fp32']:.4f}, "
                              f"INT8 {bundles['int8']:.4f}")
    return scores


def baseline(product: Path, done: dict[str, StageRecord], *, data: dict[str, Any], limit: int | None,
             seed: int) -> dict[str, Any]:
    """The simple baseline (TF-IDF + logistic regression, or a CRF) on the test sample the bundles were
    scored on, so that the report can say whether the student beats it."""
    from edgedistill.baselines.train import BaselineError, train_baseline
    from edgedistill.tasks import DataSpec

    if not product.exists():
        try:
            train_baseline(DataSpec(**data), product, test_limit=limit, seed=seed)
        except BaselineError as exc:  # e.g. no dev split to choose its settings on: the report says so
            return {"skipped": str(exc), "headline": f"no baseline: {exc}"}
    results = read_json(product / "results.json")
    metric = results["task"]["primary_metric"]
    test = (results.get("test") or {}).get(metric)
    # "score", not "test": the report takes a stage with a "test" summary for a trained model
    return {"kind": results["baseline"]["kind"], "description": results["baseline"]["description"],
            "metric": metric, "score": test, "test_examples": results["data"].get("test_used"),
            "bytes": results["model"]["bytes"], "ms_per_text": results["prediction"]["ms_per_text_median"],
            "headline": f"{results['baseline']['kind']}: test {metric} {test:.4f}" if test is not None
            else results["baseline"]["kind"]}


def _bundle_summary(bundle: Path) -> dict[str, Any]:
    manifest = read_json(bundle / "edgedistill.json")
    metrics = manifest.get("metrics", {})
    gate = metrics.get("gate") or {}
    chosen = gate["attempts"][gate["chosen"]]["description"] if gate.get("chosen") is not None else None
    diff = (metrics.get("onnx_validation") or {}).get("max_abs_diff") or {}
    model_bytes = (bundle / manifest.get("model_file", "model.onnx")).stat().st_size
    headline = (f"INT8 ({chosen}), {model_bytes / 1e6:.1f} MB" if chosen else
                f"ONNX FP32, {model_bytes / 1e6:.1f} MB, max abs diff vs PyTorch "
                + ", ".join(f"{k} {v:.1e}" for k, v in diff.items()))
    return {"headline": headline, "task": manifest.get("task"), "labels": manifest.get("labels"),
            "model_bytes": model_bytes,
            "bundle_bytes": sum(p.stat().st_size for p in bundle.iterdir() if p.is_file()),
            "parameters": manifest.get("parameters"), "architecture": manifest.get("architecture"),
            "vocab_size": manifest.get("vocab_size"), "dev": metrics.get("dev"), "gate_choice": chosen,
            "onnx_max_abs_diff": diff,
            "model": str(bundle)}


def bench(config: BenchConfig, variants: list[list[str]], product: Path, done: dict[str, StageRecord]
          ) -> dict[str, Any]:
    """Teacher (PyTorch FP32) against the student (PyTorch FP32, ONNX FP32, ONNX INT8), interleaved;
    ``variants`` are [name, kind, stage] triples, the first the reference."""
    if not (product / "bench.json").is_file():
        _bench(config, variants, product, done)
    payload = read_json(product / "bench.json")
    summary = {name: {k: v for k, v in values.items() if k != "metrics"}
               for name, values in payload["summary"].items()}
    int8 = summary.get("student-onnx-int8", {})
    headline = (f"INT8 student p50 {int8['p50_ms']:.2f} ms, {int8['speedup_vs_reference']:.1f}x the "
                f"teacher's speed") if int8 else None
    return {"config": payload["config"], "summary": summary, "command": payload["command"],
            "headline": headline}


def _bench(config: BenchConfig, stages: list[list[str]], product: Path, done: dict[str, StageRecord]) -> None:
    import shlex

    from edgedistill.benchmarks.report import write_report
    from edgedistill.benchmarks.runner import BenchError, run_benchmark
    from edgedistill.benchmarks.variants import VariantSpec
    from edgedistill.env import environment_report

    variants = [VariantSpec(name, kind, str(done[stage].model)) for name, kind, stage in stages]
    config = config.replace(reference=variants[0].name)
    try:
        result = run_benchmark(variants, config, progress=say)
    except BenchError as exc:
        raise ChainError(str(exc)) from None
    command = " ".join(["edgedistill", "bench", *(shlex.quote(f"{v.name}={v.path}") for v in variants),
                        "--max-length", str(config.seq_len), "--batch-size", str(config.batch_size),
                        "--threads", str(config.threads), "--rounds", str(config.rounds),
                        "--warmup", str(config.warmup), "--iterations", str(config.iterations)])
    write_report(result, product, command=command, machine=environment_report())


def report(settings: dict[str, Any], product: Path, done: dict[str, StageRecord]) -> dict[str, Any]:
    """The report and model card, from the records of the stages ``settings`` names."""
    from edgedistill.chain.report import write_chain_report

    if not (product / "report.md").is_file():
        write_chain_report(settings, done, product)
    return {"report": "report.md", "bundle": "bundle", "model_card": "bundle/README.md"}
