"""`edgedistill export` and `edgedistill quantize`: the export stage from the command line.

Only click and the standard library are imported here; the stage itself is imported inside each
command, so the CLI starts on a device install without torch.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import click

from edgedistill.cli_support import AliasedOption, require_modules
from edgedistill.export.quantize_options import FP32_PARTS, PRESET_CHOICES, SCHEME_KINDS, QuantizeOptions


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


@contextlib.contextmanager
def _bundle_errors_as_click():
    """The runtime's BundleError is a ValueError (the runtime imports nothing of the project)."""
    from edgedistill.runtime.bundle import BundleError

    try:
        yield
    except BundleError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("export")
@click.argument("model")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Bundle directory to write (appears only when complete and checked).")
@click.option("--task", type=click.Choice(["sequence-classification", "token-classification", "embedding"]),
              help="Default: from the model's class or its edgedistill-task.json.")
@click.option("--target", type=click.Choice(["cpu", "android"]), default="cpu", show_default=True,
              help="android adds the ORT-format model whose input is a string tensor "
                   "(tokenizer in the graph; needs onnxruntime-extensions on the phone).")
@click.option("--variant", "variants", multiple=True,
              type=click.Choice(["ort", "string_input", "string_input_ort", "torchscript"]),
              help="Extra files: ORT format (ONNX Runtime Mobile), the string-input model as ONNX or "
                   "ORT format, TorchScript (for libtorch). Repeatable.")
@click.option("--max-length", type=click.IntRange(min=2), help="Default: the fine-tuning length, else 128.")
@click.option("--text-prefix", "input_prefix", cls=AliasedOption, aliases=["--prefix"],
              help='Text put before every input (default: the fine-tuning prefix, e.g. e5\'s "query: ").')
@click.option("--optimize", is_flag=True,
              help="Apply ONNX Runtime's transformer fusions (attention, skip-LayerNorm, GELU) offline.")
@click.option("--opset", type=click.IntRange(min=14), default=17, show_default=True)
@click.option("--backend", type=click.Choice(["auto", "optimum", "torch"]), default="auto", show_default=True,
              help="auto: optimum-onnx where it supports the architecture, else torch.onnx.")
@click.option("--external-data", is_flag=True,
              help="Write the weights to model.onnx.data even under 2 GB (always done beyond).")
@click.option("--pooling", type=click.Choice(["mean", "cls"]), help="Embedding models only.")
@click.option("--min-id-agreement", type=click.FloatRange(0, 1), default=0.99, show_default=True,
              help="Share of real sentences on which the in-graph tokenizer must give tokenizer.json's ids.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest (without hashes) as JSON.")
def export(model: str, out: Path, task, target, variants, max_length, input_prefix, optimize, opset,
           backend, external_data, pooling, min_id_agreement, overwrite, as_json) -> None:
    """Export MODEL to an FP32 bundle: model.onnx, tokenizer.json and edgedistill.json.

    MODEL is a model directory (fine-tuned, distilled or trimmed), the built-in "e5-small", or a hub
    id where the hub is reachable. The ONNX file has dynamic batch and sequence axes (weights in
    model.onnx.data beyond 2 GB) and is checked against PyTorch on real sentences before the bundle
    is written; the finished bundle is run through the runtime before it is renamed into place.

    \b
    Examples:
      edgedistill export runs/teachers/afrisenti-hau --out bundles/hau-fp32
      edgedistill export runs/student --out bundles/student --target android
    """
    from edgedistill.export.pipeline import ExportOptions, export_bundle, manifest_summary
    from edgedistill.output_guard import refuse_output_over_inputs

    refuse_output_over_inputs(out, [model], option="--out")
    _refuse_existing(out, overwrite)
    options = ExportOptions(task=task, max_length=max_length, target=target, variants=list(variants),
                            optimize=optimize, opset=opset, backend=backend, input_prefix=input_prefix,
                            external_data=True if external_data else None, pooling=pooling,
                            min_id_agreement=min_id_agreement)
    with _bundle_errors_as_click():
        manifest = export_bundle(model, out, options, overwrite=overwrite, log=_echo_err)
    if as_json:
        click.echo(json.dumps(manifest_summary(manifest), indent=2, ensure_ascii=False))
        return
    diff = manifest.metrics["onnx_validation"]["max_abs_diff"]
    sizes = {name: (out / name).stat().st_size for name in manifest.files}
    click.echo(f"bundle      {out}  ({manifest.task}, {len(manifest.labels)} labels, max_length "
               f"{manifest.max_length})")
    click.echo("validation  ONNX vs PyTorch max abs diff "
               + ", ".join(f"{k} {v:.2e}" for k, v in diff.items()))
    if "tokenizer_graph" in manifest.metrics:
        check = manifest.metrics["tokenizer_graph"]
        click.echo(f"tokenizer   in-graph ids equal tokenizer.json on {check['same_ids']}/"
                   f"{check['sentences']} sentences")
    click.echo("files       " + ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sizes.items()))


@click.command("quantize")
@click.argument("bundle", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="INT8 bundle directory to write.")
@click.option("--scheme", "kind", type=click.Choice(SCHEME_KINDS),
              default=QuantizeOptions.scheme, show_default=True,
              help="dynamic: int8 weights, activations quantized per batch. static: QDQ with activation "
                   "ranges calibrated on the task's training text. neural-compressor: Intel Neural "
                   "Compressor's PyTorch INT8 (pt2e, every Linear) exported to QDQ ONNX; needs the "
                   "bundle's source model directory.")
@click.option("--preset", type=click.Choice(PRESET_CHOICES), default=QuantizeOptions.preset,
              show_default=True,
              help="The CPU the bundle will run on (auto: this one). avx2/avx512 use 7-bit weights "
                   "against u8s8 overflow; avx512_vnni and arm64 use full 8 bits.")
@click.option("--per-channel/--per-tensor", default=QuantizeOptions.per_channel, show_default=True,
              help="Weight scales per output channel (lost less accuracy than per-tensor at the same speed "
                   "on the measured students: benchmarks/results/int8_schemes.md) or one per tensor.")
@click.option("--keep-fp32", multiple=True, type=click.Choice(FP32_PARTS),
              help="Start with these parts in FP32. Repeatable.")
@click.option("--no-escalate", is_flag=True,
              help="Try only the given scheme; by default the gate goes on to per-channel, classifier in "
                   "FP32, sensitive MatMuls in FP32, embeddings in FP32.")
@click.option("--max-drop", type=click.FloatRange(min=0), default=QuantizeOptions.max_drop, show_default=True,
              help="Largest allowed drop of the dev metric (points, e.g. macro-F1 x 100).")
@click.option("--strict-gate", is_flag=True,
              help="Refuse any drop above --max-drop, even one within the noise of a small dev set "
                   "(by default a scheme is refused only when a paired bootstrap puts its drop above "
                   "--max-drop with 95% confidence).")
@click.option("--data", "dataset", help="Dev data: a built-in collection (afrisenti, sib200, masakhaner) or "
                                        "a file format (tsv, csv, jsonl, conll). Default: what the bundle "
                                        "was fine-tuned on.")
@click.option("--lang", "language", cls=AliasedOption, aliases=["--language"],
              help="Language folder of a built-in collection, e.g. hau.")
@click.option("--dev", "dev_file", type=click.Path(exists=True, dir_okay=False),
              help="Dev file (for a file format, or to override a built-in split).")
@click.option("--train", "train_file", type=click.Path(exists=True, dir_okay=False),
              help="Calibration text file (default: the task's train split, else dev).")
@click.option("--text-column", default="text", show_default=True)
@click.option("--label-column", default="label", show_default=True)
@click.option("--dev-limit", type=click.IntRange(min=1),
              help="Score on this many dev examples (shuffled, seed 0).")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the gate report (every scheme tried) as JSON here.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the INT8 bundle's manifest (without hashes, the gate's report inside) as JSON.")
def quantize(bundle: Path, out: Path, kind, preset, per_channel, keep_fp32, no_escalate, max_drop,
             strict_gate, dataset, language, dev_file, train_file, text_column, label_column, dev_limit,
             report, overwrite, as_json) -> None:
    """Quantize an FP32 BUNDLE to INT8 behind the accuracy gate.

    The FP32 and INT8 models are scored on dev data with the task metric (macro-F1 for sentence
    classification; agreement with FP32 for tagging and embeddings). If INT8 loses more than
    --max-drop points the next scheme is tried; if none passes, nothing is written and the command
    exits 1 with what was tried. Variants (ORT format, string input) are rebuilt from the INT8 model.

    \b
    Example:
      edgedistill quantize bundles/hau-fp32 --out bundles/hau-int8 --preset avx512_vnni
    """
    from edgedistill.export.gate import AccuracyGateFailed
    from edgedistill.export.pipeline import dev_data, manifest_summary, quantize_bundle
    from edgedistill.output_guard import refuse_output_over_inputs
    from edgedistill.runtime.bundle import load_manifest

    for output, option in ((out, "--out"), (report, "--report")):
        refuse_output_over_inputs(output, [bundle, dev_file, train_file], option=option)
    _refuse_existing(out, overwrite)
    with _bundle_errors_as_click():
        manifest = load_manifest(bundle)
    require_modules(_quantize_modules(kind, manifest), "edgedistill quantize")
    spec = _data_spec(manifest, dataset, language, dev_file, train_file, text_column, label_column)
    options = QuantizeOptions(scheme=kind, preset=preset, per_channel=per_channel, keep_fp32=list(keep_fp32),
                              max_drop=max_drop, dev_limit=dev_limit)
    data = dev_data(spec, manifest.task, manifest.labels or None, limit=options.dev_limit)
    ladder = options.ladder(escalate=not no_escalate)
    _echo_err(f"dev data {data.name}: {len(data.texts)} examples; metric {data.metric}")
    try:
        with _bundle_errors_as_click():
            written, gate = quantize_bundle(bundle, out, ladder, data, max_drop=options.max_drop,
                                            overwrite=overwrite, log=_echo_err, strict=strict_gate)
    except AccuracyGateFailed as exc:
        _write_report(report, exc.report)
        _echo_err(exc.report.summary())
        raise
    _write_report(report, gate)
    if as_json:
        click.echo(json.dumps(manifest_summary(written), indent=2, ensure_ascii=False))
        return
    click.echo(gate.summary())
    click.echo(f"wrote {out}")


def _refuse_existing(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise click.ClickException(f"--out {out} already exists; pass --overwrite to replace it")


def _quantize_modules(kind: str, manifest) -> list[str]:
    """What quantizing this bundle imports beyond the device install, checked before any work."""
    modules = ["onnx"]
    if any(key.startswith("string_input") for key in manifest.variants):
        modules.append("onnxruntime_extensions")  # the string-input variants are rebuilt
    if kind == "neural-compressor":
        modules += ["neural_compressor", "torch"]
    return modules


def _data_spec(manifest, dataset, language, dev_file, train_file, text_column, label_column) -> dict:
    from edgedistill.errors import EdgedistillError

    recorded = dict((manifest.source.get("task") or {}).get("data") or {})
    if dataset:
        spec = {"dataset": dataset, "language": language, "text_column": text_column,
                "label_column": label_column}
    elif recorded:
        spec = recorded
    else:
        raise EdgedistillError("the bundle records no dev data; pass --data and --language "
                               "(e.g. --data afrisenti --language hau) or --data tsv --dev FILE")
    if dev_file:
        spec["dev"] = dev_file
    if train_file:
        spec["train"] = train_file
    if spec.get("dataset") in ("tsv", "csv", "jsonl") and manifest.task != "sequence-classification":
        spec.setdefault("kind", manifest.task)
    return spec


def _write_report(path: Path | None, gate_report) -> None:
    if path is not None:
        from edgedistill.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(gate_report.as_dict(), indent=2) + "\n")


COMMANDS = [export, quantize]
