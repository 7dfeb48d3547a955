"""The two stage operations behind the CLI: a model directory to an FP32 bundle, and an FP32 bundle
to an INT8 bundle that passed the accuracy gate.

``export_bundle`` exports and validates ONNX (and any variants: ORT format, the string-input model,
TorchScript) straight into a temporary bundle directory; ``quantize_bundle`` measures FP32 on dev
data, runs the gate, and rebuilds the variants from the INT8 model. Both write the manifest last and
run the finished bundle through the runtime before it is renamed into place.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from edgedistill.atomic import read_json
from edgedistill.export.bundle_writer import (
    VARIANT_FILES,
    bundle_directory,
    copy_hf_files,
    finish_bundle,
    write_hf_files,
)
from edgedistill.export.errors import ExportError
from edgedistill.runtime.bundle import Manifest, load_manifest

TARGETS = {"cpu": [], "android": ["string_input_ort"]}
VARIANTS = tuple(VARIANT_FILES)
Log = Callable[[str], None]


@dataclass
class ExportOptions:
    """How to export; every field has a CLI option of the same name."""

    task: str | None = None  # None: from the model's class (or its edgedistill-task.json)
    max_length: int | None = None  # None: the fine-tuning max length, else 128
    target: str = "cpu"  # "android" adds the ORT-format string-input variant
    variants: list[str] = field(default_factory=list)
    optimize: bool = False
    opset: int = 17
    backend: str = "auto"
    external_data: bool | None = None  # None: weights in model.onnx.data only beyond 2 GB
    input_prefix: str | None = None  # None: the fine-tuning prefix, else the model's query prefix
    pooling: str | None = None  # embedding models: "mean" or "cls"
    normalize_embeddings: bool | None = None  # None: yes for mean-pooled e5-style models
    min_id_agreement: float = 0.99
    validation_texts: list[str] | None = None

    def all_variants(self) -> list[str]:
        if self.target not in TARGETS:
            raise ExportError(f"unknown target {self.target!r}; choose one of {', '.join(TARGETS)}")
        unknown = sorted(set(self.variants) - set(VARIANTS))
        if unknown:
            raise ExportError(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
        return list(dict.fromkeys([*TARGETS[self.target], *self.variants]))


@dataclass
class SourceModel:
    """A loaded model with what its directory says about how it was trained."""

    model: object
    tokenizer: object
    location: str
    display_name: str
    task: str
    task_info: dict
    provenance: dict


def load_source_model(name_or_path: str, task: str | None = None) -> SourceModel:
    """Load a built-in teacher, a model directory (fine-tuned or distilled), or a hub id."""
    from edgedistill.export.torch_model import check_task
    from edgedistill.teachers import load_teacher, resolve_teacher

    location = resolve_teacher(name_or_path)
    info = read_json(Path(location) / "edgedistill-task.json") if isinstance(location, Path) else {}
    task = task or _task_from_directory(location, info)
    check_task(task)
    head = "base" if task == "embedding" else task
    loaded = load_teacher(name_or_path, head=head)
    return SourceModel(loaded.model, loaded.tokenizer, str(loaded.path), loaded.display_name, task, info,
                       loaded.provenance)


def _task_from_directory(location, info: dict) -> str:
    if info.get("kind") in ("sequence-classification", "token-classification"):
        return info["kind"]
    config = read_json(Path(location) / "config.json") if isinstance(location, Path) else {}
    for architecture in config.get("architectures") or []:
        for suffix, task in (("ForSequenceClassification", "sequence-classification"),
                             ("ForTokenClassification", "token-classification")):
            if architecture.endswith(suffix):
                return task
    return "embedding"


def default_prefix(source: SourceModel) -> str:
    if "text_prefix" in source.task_info:
        return source.task_info["text_prefix"]
    if source.task == "token-classification":
        return ""
    return source.provenance.get("input_prefixes", {}).get("query", "")


# ------------------------------------------------------------------ export


def export_bundle(name_or_path: str, out: str | Path, options: ExportOptions | None = None, *,
                  overwrite: bool = False, log: Log | None = None) -> Manifest:
    """Export a model to an FP32 bundle at ``out`` (written atomically, checked with the runtime)."""
    from edgedistill.export.torch_model import encoder_for_task

    options = options or ExportOptions()
    say = log or (lambda _: None)
    variants = options.all_variants()
    source = load_source_model(name_or_path, options.task)
    prefix = default_prefix(source) if options.input_prefix is None else options.input_prefix
    max_length = options.max_length or source.task_info.get("max_length") or 128
    with bundle_directory(out, overwrite=overwrite) as tmp:
        say(f"exporting {source.display_name} ({source.task}) to ONNX")
        exported = _export_model(source, tmp, options, prefix, max_length)
        source.tokenizer.backend_tokenizer.save(str(tmp / "tokenizer.json"))
        write_hf_files(tmp, encoder_for_task(source.model, source.task), source.tokenizer,
                       max_length=max_length)
        manifest = _manifest(source, exported, options, prefix, max_length)
        metrics = manifest.metrics
        if "torchscript" in variants:
            say("tracing TorchScript")
            metrics["torchscript_validation"] = _torchscript(source, tmp, options, prefix, max_length)
        manifest.variants, checks = build_variants(tmp, variants, task=source.task, max_length=max_length,
                                                   prefix=prefix, min_id_agreement=options.min_id_agreement,
                                                   log=say)
        metrics.update(checks)
        finish_bundle(tmp, manifest)
    say(f"wrote {out}")
    return manifest


def _export_model(source: SourceModel, tmp: Path, options: ExportOptions, prefix: str, max_length: int):
    from edgedistill.export.onnx_export import export_onnx

    return export_onnx(source.model, source.tokenizer, tmp / "model.onnx", task=source.task,
                       max_length=max_length, opset=options.opset, backend=options.backend,
                       external_data=options.external_data, optimize=options.optimize,
                       validation_texts=options.validation_texts, input_prefix=prefix)


def _torchscript(source: SourceModel, tmp: Path, options: ExportOptions, prefix: str,
                 max_length: int) -> dict:
    from edgedistill.export.torchscript import export_torchscript

    _, _, report = export_torchscript(source.model, source.tokenizer, tmp / VARIANT_FILES["torchscript"],
                                      task=source.task, max_length=max_length,
                                      validation_texts=options.validation_texts, input_prefix=prefix)
    return report.as_dict()


def _manifest(source: SourceModel, exported, options: ExportOptions, prefix: str,
              max_length: int) -> Manifest:
    from edgedistill.accounting import count_parameters, encoder_shape
    from edgedistill.export.torch_model import encoder_for_task, labels_of

    config = encoder_for_task(source.model, source.task).config
    pooling = None
    if source.task == "embedding":
        pooling = options.pooling or source.provenance.get("pooling", "cls")
    return Manifest(
        task=source.task, labels=labels_of(source.model, source.task), max_length=int(max_length),
        vocab_size=int(source.model.get_input_embeddings().num_embeddings), inputs=exported.inputs,
        outputs=exported.outputs, pad_token_id=source.tokenizer.pad_token_id, pooling=pooling,
        normalize_embeddings=source.task == "embedding" and (
            options.normalize_embeddings if options.normalize_embeddings is not None
            else source.provenance.get("pooling") == "mean"),
        input_prefix=prefix,
        architecture=encoder_shape(config),
        parameters=count_parameters(source.model).as_dict(),
        source={"model": source.location, "display_name": source.display_name,
                "export": {"backend": exported.backend, "opset": exported.opset,
                           "optimized": exported.optimized, "external_data": exported.external_data},
                "task": source.task_info},
        metrics={"onnx_validation": exported.validation.as_dict()})


def build_variants(directory: Path, variants: list[str], *, task: str, max_length: int, prefix: str,
                   min_id_agreement: float = 0.99, log: Log | None = None) -> tuple[dict[str, str], dict]:
    """Write the ORT-format and string-input variants of ``directory/model.onnx``.

    A token classifier's string-input model also outputs ``token_offsets`` (SentencePiece
    tokenizers), so an app can place entities in the text. Returns the manifest's ``variants``
    (key -> file name) and the checks made on them.
    """
    from edgedistill.export.ort_format import convert_to_ort, validate_ort

    say = log or (lambda _: None)
    names, checks = {}, {}
    if "ort" in variants:
        say("converting to ORT format")
        names["ort"] = convert_to_ort(directory / "model.onnx", directory / VARIANT_FILES["ort"]).name
        checks["ort_validation"] = validate_ort(directory / "model.onnx", directory / names["ort"],
                                                _token_batches(directory, max_length, prefix)).as_dict()
    wanted = [key for key in ("string_input", "string_input_ort") if key in variants]
    if wanted:
        say("building the string-input model (tokenizer in the graph)")
        check, ort_check = _string_variants(directory, wanted, max_length, prefix, min_id_agreement,
                                            token_offsets=task == "token-classification")
        checks["tokenizer_graph"] = check.as_dict()
        if ort_check is not None:
            checks["string_input_ort_validation"] = ort_check.as_dict()
        names.update({key: VARIANT_FILES[key] for key in wanted})
    if "torchscript" in variants and (directory / VARIANT_FILES["torchscript"]).is_file():
        names["torchscript"] = VARIANT_FILES["torchscript"]
    return names, checks


def _token_batches(directory: Path, max_length: int, prefix: str) -> list[dict]:
    """Real sentences encoded with the bundle's tokenizer.json: a padded batch and one sentence."""
    from edgedistill.export.encoding import file_encoder
    from edgedistill.export.validate import default_validation_texts, encode_batches, onnx_session

    inputs = [i.name for i in onnx_session(directory / "model.onnx").get_inputs()]
    encode = file_encoder(directory / "tokenizer.json", inputs, max_length=max_length, prefix=prefix)
    return encode_batches(encode, default_validation_texts())


def _string_variants(directory: Path, wanted: list[str], max_length: int, prefix: str,
                     min_id_agreement: float, *, token_offsets: bool):
    from edgedistill.export.ort_format import convert_to_ort, validate_ort
    from edgedistill.export.tokenizer_graph import (
        TEXT_INPUT,
        check_tokenizer_graph,
        string_input_model,
        tokenizer_kind,
    )
    from edgedistill.export.validate import default_validation_texts, onnx_session

    model, tokenizer = directory / "model.onnx", directory / "tokenizer.json"
    token_offsets = token_offsets and tokenizer_kind(tokenizer) == "Unigram"
    with tempfile.TemporaryDirectory(dir=directory.parent) as scratch:
        strings = string_input_model(model, tokenizer, Path(scratch) / VARIANT_FILES["string_input"],
                                     max_length=max_length, prefix=prefix, token_offsets=token_offsets)
        check = check_tokenizer_graph(strings, model, tokenizer, default_validation_texts(200),
                                      max_length=max_length, prefix=prefix, min_agreement=min_id_agreement)
        if "string_input" in wanted:
            shutil.copy(strings, directory / VARIANT_FILES["string_input"])
        ort_check = None
        if "string_input_ort" in wanted:
            converted = convert_to_ort(strings, directory / VARIANT_FILES["string_input_ort"],
                                       custom_ops=True)
            texts = default_validation_texts()
            single = onnx_session(strings, custom_ops=True).get_inputs()[0].shape[0] == 1
            groups = [[t] for t in texts[:4]] if single else [texts, texts[:1]]
            batches = [{TEXT_INPUT: np.array(group, dtype=object)} for group in groups]
            ort_check = validate_ort(strings, converted, batches, custom_ops=True)
    return check, ort_check


# ------------------------------------------------------------------ quantize


@dataclass
class DevData:
    """Dev texts (with labels for sequence classification) and calibration texts from train."""

    name: str
    texts: list[str]
    labels: list[str] | None
    calibration: list[str]
    metric: str


def dev_data(spec: dict, task: str, labels: list[str] | None = None, *, limit: int | None = None,
             calibration_size: int = 128) -> DevData:
    """Read a task's dev split (and train, for calibration) through ``edgedistill.tasks``."""
    from edgedistill.tasks import DataSpec, load_task
    from edgedistill.tasks.task import subsample

    data_spec = DataSpec(**spec)
    loaded = load_task(data_spec, splits=("train", "dev"), labels=tuple(labels) if labels else None,
                       label_source="the bundle's labels" if labels else None)
    dev = subsample(loaded.split("dev").examples, limit, seed=0)
    train = loaded.splits.get("train")
    calibration = subsample(train.examples if train else dev, calibration_size, seed=1)
    if task == "token-classification":
        return DevData(data_spec.name, [" ".join(e.tokens) for e in dev], None,
                       [" ".join(e.tokens) for e in calibration], "agreement_with_fp32")
    return DevData(data_spec.name, [e.text for e in dev], [e.label for e in dev],
                   [e.text for e in calibration], loaded.primary_metric)


def quantize_bundle(bundle: str | Path, out: str | Path, ladder: list, data: DevData, *,
                    max_drop: float = 1.0, overwrite: bool = False, log: Log | None = None,
                    strict: bool = False) -> tuple[Manifest, object]:
    """INT8 bundle from an FP32 bundle: the first scheme of ``ladder`` that passes the gate (``strict``:
    whose dev drop is at most ``max_drop``, however small the dev set; see edgedistill.export.gate)."""
    from edgedistill.export.encoding import batches_of, file_encoder
    from edgedistill.export.gate import run_accuracy_gate

    bundle = Path(bundle)
    source = load_manifest(bundle)
    if source.quantization:
        raise ExportError(f"bundle {bundle} is already quantized ({source.quantization.get('scheme', {})})")
    encode = file_encoder(bundle / source.tokenizer_file, source.inputs, max_length=source.max_length,
                          prefix=source.input_prefix, pad_id=source.pad_token_id)
    fp32 = bundle / source.model_file
    evaluate = _metric_for(source, data, encode, fp32)
    calibration = batches_of(encode, data.calibration, 8)
    with tempfile.TemporaryDirectory(prefix="edgedistill-gate-") as workdir:
        model, report = run_accuracy_gate(fp32, ladder, evaluate, workdir,
                                          quantize=_quantizer(source, fp32, calibration), max_drop=max_drop,
                                          metric_name=data.metric, log=log, strict=strict)
        manifest = _write_quantized(bundle, source, Path(out), model, report, data, overwrite, log)
    return manifest, report


def _quantizer(source: Manifest, fp32: Path, calibration: list):
    """ONNX Runtime for dynamic/static schemes; Neural Compressor on the source PyTorch model for its own."""
    from edgedistill.export.gate import onnx_quantizer

    by_onnx_runtime, loaded = onnx_quantizer(fp32, calibration), {}

    def quantize(scheme, dest):
        if scheme.kind != "neural-compressor":
            return by_onnx_runtime(scheme, dest)
        from edgedistill.export.neural_compressor import quantize_with_neural_compressor

        if "model" not in loaded:
            loaded["model"] = _source_pytorch_model(source)
        return quantize_with_neural_compressor(loaded["model"], source.task, source.inputs, calibration, dest,
                                               scheme)

    return quantize


def _source_pytorch_model(source: Manifest):
    location = source.source.get("model")
    if not location or not Path(location).is_dir():
        raise ExportError(f"the neural-compressor scheme quantizes the PyTorch model, and the bundle's "
                          f"source model {location!r} is not a directory here")
    return load_source_model(location, source.task).model


def _metric_for(source: Manifest, data: DevData, encode, fp32: Path):
    from edgedistill.export.evaluate import agreement_metric, classification_metric

    if source.task == "sequence-classification" and data.labels is not None:
        metric = data.metric if data.metric in ("macro_f1", "accuracy", "weighted_f1") else "macro_f1"
        return classification_metric(encode, data.texts, data.labels, source.labels, metric=metric)
    return agreement_metric(fp32, encode, data.texts, source.task)


def _write_quantized(bundle: Path, source: Manifest, out: Path, model, report, data: DevData,
                     overwrite: bool, log: Log | None) -> Manifest:
    chosen = report.attempts[report.chosen]
    with bundle_directory(out, overwrite=overwrite) as tmp:
        for name in model.files:
            shutil.copy(model.path.parent / name, tmp / name.replace(model.path.name, "model.onnx", 1))
        shutil.copy(bundle / source.tokenizer_file, tmp / "tokenizer.json")
        copy_hf_files(bundle, tmp)
        rebuilt = [key for key in source.variants if key != "torchscript"]
        variants, checks = build_variants(tmp, rebuilt, task=source.task, max_length=source.max_length,
                                          prefix=source.input_prefix, log=log)
        metrics = {**{k: v for k, v in source.metrics.items() if k != "torchscript_validation"}, **checks,
                   "dev": {"data": data.name, "sentences": len(data.texts), "metric": report.metric_name,
                           "fp32": round(report.fp32_metric, 4), "int8": round(chosen.metric, 4),
                           "drop": round(chosen.drop, 4), "drop_interval": chosen.drop_interval,
                           "within_noise": chosen.within_noise},
                   "size_bytes": {"fp32": report.fp32_size_bytes, "int8": chosen.size_bytes},
                   "gate": report.as_dict()}
        manifest = replace(source, model_file="model.onnx", tokenizer_file="tokenizer.json",
                           variants=variants, metrics=metrics, files={}, packages={},
                           quantization={**chosen.scheme, "fp32_nodes": list(model.fp32_nodes),
                                         "max_drop": report.max_drop},
                           source={**source.source, "fp32_bundle": str(bundle)})
        finish_bundle(tmp, manifest)
    return manifest


def manifest_summary(manifest: Manifest) -> dict:
    return {k: v for k, v in asdict(manifest).items() if k not in ("files", "packages", "parameters")}
