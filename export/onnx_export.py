"""ONNX export of sequence-classification, token-classification and embedding models.

Optimum style: one small config per architecture in a registry says which inputs the encoder takes
and which ONNX Runtime fusion applies to it. Architectures that optimum-onnx knows go through its
exporter; anything else goes through ``torch.onnx`` directly. Both give dynamic batch and sequence
axes, write weights to one external-data file when the model is over 2 GB, and are validated
against the PyTorch model on real sentences before ``export_onnx`` returns.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgedistill.export.encoding import hf_encoder
from edgedistill.export.errors import ExportError
from edgedistill.export.torch_model import (
    TASK_OUTPUT,
    TaskModule,
    check_task,
    encoder_for_task,
    infer_task,
    parameter_bytes,
    torch_reference,
)
from edgedistill.export.validate import (
    DEFAULT_TOLERANCE,
    ValidationReport,
    default_validation_texts,
    encode_batches,
    validate_onnx_file,
)

DEFAULT_OPSET = 17
PROTOBUF_LIMIT = 2_000_000_000  # one .onnx protobuf cannot hold more; weights go to a side file
FUSED_TOLERANCE = 1e-3  # fused attention / GELU kernels round differently from PyTorch
OPTIMUM_TASK = {"sequence-classification": "text-classification",
                "token-classification": "token-classification", "embedding": "feature-extraction"}
BACKENDS = ("auto", "optimum", "torch")
CANONICAL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class ArchitectureConfig:
    """How to export one Hugging Face ``model_type``."""

    model_type: str
    inputs: tuple[str, ...] = CANONICAL_INPUTS  # what the encoder's forward accepts, in ONNX order
    fusion_type: str = "bert"  # onnxruntime.transformers optimizer model_type
    optimum: bool = True  # optimum-onnx has an exporter config for it


ARCHITECTURES: dict[str, ArchitectureConfig] = {}


def register_architecture(config: ArchitectureConfig) -> ArchitectureConfig:
    ARCHITECTURES[config.model_type] = config
    return config


for _config in (
    ArchitectureConfig("bert"),
    ArchitectureConfig("xlm-roberta", ("input_ids", "attention_mask")),
    ArchitectureConfig("roberta", ("input_ids", "attention_mask")),
    ArchitectureConfig("camembert", ("input_ids", "attention_mask")),
    ArchitectureConfig("distilbert", ("input_ids", "attention_mask")),
    ArchitectureConfig("electra"),
    ArchitectureConfig("deberta-v2", fusion_type="bert"),
):
    register_architecture(_config)


def architecture_config(model_type: str) -> ArchitectureConfig:
    """The registered config, or a generic one exported through torch.onnx."""
    return ARCHITECTURES.get(model_type) or ArchitectureConfig(model_type, optimum=False)


@dataclass
class OnnxExport:
    """What ``export_onnx`` wrote and how it was checked."""

    path: Path
    files: list[str]  # file names beside ``path`` that belong to the model (external data included)
    task: str
    inputs: list[str]
    outputs: list[str]
    backend: str
    opset: int
    external_data: bool
    optimized: bool
    validation: ValidationReport
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def model_input_names(model, tokenizer, task: str) -> list[str]:
    """Inputs the encoder takes AND the tokenizer produces (an XLM-R tokenizer gives no token types)."""
    arch = architecture_config(encoder_for_task(model, task).config.model_type)
    produced = set(getattr(tokenizer, "model_input_names", ["input_ids", "attention_mask"]))
    names = [name for name in arch.inputs if name in produced]
    if "input_ids" not in names:
        raise ExportError(f"the tokenizer produces {sorted(produced)}, which does not include input_ids")
    return names


def export_onnx(model, tokenizer, out_path: str | Path, *, task: str | None = None,
                max_length: int = 128, opset: int = DEFAULT_OPSET, backend: str = "auto",
                external_data: bool | None = None, optimize: bool = False,
                validation_texts: list[str] | None = None, input_prefix: str = "",
                tolerance: float = DEFAULT_TOLERANCE) -> OnnxExport:
    """Export ``model`` to ``out_path`` and check it against PyTorch on real sentences.

    ``backend`` is "auto" (optimum-onnx where it supports the architecture, else torch.onnx),
    "optimum" or "torch". ``external_data`` None decides by size (over 2 GB). ``optimize`` applies
    ONNX Runtime's transformer fusions offline and validates the fused graph too. Raises
    ``OutputMismatch``/``ShapeMismatch``/``MissingOutput`` if the export does not reproduce the model.
    """
    task = task or infer_task(model)
    check_task(task)
    if backend not in BACKENDS:
        raise ExportError(f"unknown export backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    model.eval()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    inputs = model_input_names(model, tokenizer, task)
    texts = validation_texts or default_validation_texts()
    batches = encode_batches(hf_encoder(tokenizer, inputs, max_length=max_length, prefix=input_prefix), texts)
    if external_data is None:
        external_data = parameter_bytes(model) > PROTOBUF_LIMIT * 0.9
    arch = architecture_config(encoder_for_task(model, task).config.model_type)
    chosen, notes = _export_graph(model, task, inputs, out_path, opset, backend, arch, batches[0])
    files = consolidate_external_data(out_path, external_data)
    reference = torch_reference(model, task)
    report = validate_onnx_file(reference, out_path, batches, tolerances={TASK_OUTPUT[task]: tolerance})
    if optimize:
        files = optimize_transformer(out_path, arch, encoder_for_task(model, task).config,
                                     external_data=external_data)
        report = validate_onnx_file(reference, out_path, batches,
                                    tolerances={TASK_OUTPUT[task]: max(tolerance, FUSED_TOLERANCE)})
    return OnnxExport(out_path, files, task, inputs, [TASK_OUTPUT[task]], chosen, opset, external_data,
                      optimize, report, notes)


def _export_graph(model, task, inputs, out_path, opset, backend, arch, example) -> tuple[str, list[str]]:
    import torch

    # Tracing warns about every Python branch on a tensor value ("Converting a tensor to a Python
    # boolean..."); the exported graph is checked against PyTorch on real sentences afterwards anyway.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        return _traced_graph(model, task, inputs, out_path, opset, backend, arch, example)


def _traced_graph(model, task, inputs, out_path, opset, backend, arch, example) -> tuple[str, list[str]]:
    notes = []
    if backend == "optimum" and not arch.optimum:
        raise ExportError(f"optimum-onnx has no exporter for model type {arch.model_type!r}; "
                          f"use backend 'torch' or 'auto'")
    if backend in ("auto", "optimum") and arch.optimum:
        try:
            _export_with_optimum(model, task, inputs, out_path, opset)
            return "optimum", notes
        except (ValueError, KeyError, NotImplementedError) as exc:
            if backend == "optimum":
                raise ExportError(f"optimum-onnx could not export this {arch.model_type} model: "
                                  f"{_first_line(exc)}") from None
            notes.append(f"optimum-onnx failed ({_first_line(exc)}); exported with torch.onnx")
    _export_with_torch(model, task, inputs, out_path, opset, example)
    return "torch.onnx", notes


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _export_with_optimum(model, task: str, inputs: list[str], out_path: Path, opset: int) -> None:
    from optimum.exporters.onnx.convert import export_pytorch
    from optimum.exporters.tasks import TasksManager

    encoder = encoder_for_task(model, task)
    constructor = TasksManager.get_exporter_config_constructor(
        exporter="onnx", model=encoder, task=OPTIMUM_TASK[task], library_name="transformers")
    config_class = constructor.func if isinstance(constructor, functools.partial) else constructor
    keywords = constructor.keywords if isinstance(constructor, functools.partial) else {}
    keep = set(inputs)

    class _OnlyTokenizerInputs(config_class):  # e.g. no token_type_ids for an XLM-R tokenizer
        @property
        def inputs(self):
            return {k: v for k, v in super().inputs.items() if k in keep}

    onnx_config = _OnlyTokenizerInputs(encoder.config, **keywords)
    export_pytorch(encoder, onnx_config, opset, out_path)


def _export_with_torch(model, task: str, inputs: list[str], out_path: Path, opset: int, example) -> None:
    import torch

    module = TaskModule.wrap(model, task, inputs)
    args = tuple(torch.from_numpy(example[name]) for name in inputs)
    output = TASK_OUTPUT[task]
    axes = {name: {0: "batch_size", 1: "sequence_length"} for name in inputs}
    axes[output] = {0: "batch_size"} if task == "sequence-classification" else \
        {0: "batch_size", 1: "sequence_length"}
    with torch.no_grad():
        torch.onnx.export(module, args, str(out_path), input_names=inputs, output_names=[output],
                          dynamic_axes=axes, opset_version=opset, do_constant_folding=True, dynamo=False)


def consolidate_external_data(path: Path, external_data: bool) -> list[str]:
    """Rewrite ``path`` as one self-contained file, or as ``path`` + ``path.data``; return the names."""
    import onnx

    before = set(os.listdir(path.parent))
    model = onnx.load(str(path), load_external_data=True)
    data_name = path.name + ".data"
    stale = [name for name in _external_locations(path) if name != data_name]
    if external_data:
        onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                  location=data_name, size_threshold=1024)
    else:
        onnx.save(model, str(path))
    for name in stale:
        if name in before and (path.parent / name).is_file():
            (path.parent / name).unlink()
    return [path.name, data_name] if external_data else [path.name]


def _external_locations(path: Path) -> set[str]:
    import onnx
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    model = onnx.load(str(path), load_external_data=False)
    locations = set()
    for tensor in _get_all_tensors(model):
        if uses_external_data(tensor):
            locations.update(e.value for e in tensor.external_data if e.key == "location")
    return locations


def uses_external_data(path: str | Path) -> bool:
    return bool(_external_locations(Path(path)))


def optimize_transformer(path: Path, arch: ArchitectureConfig, config, *, external_data: bool) -> list[str]:
    """Apply ONNX Runtime's transformer fusions (attention, skip-LayerNorm, GELU) in place.

    Only the portable Python fusions run (opt_level 0), so the file still runs on any CPU,
    including ARM phones.
    """
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(str(path), model_type=arch.fusion_type,
                               num_heads=getattr(config, "num_attention_heads", 0),
                               hidden_size=getattr(config, "hidden_size", 0), opt_level=0)
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        tmp = Path(scratch) / path.name
        optimized.save_model_to_file(str(tmp), use_external_data_format=external_data,
                                     all_tensors_to_one_file=True)
        for leftover in (path, path.parent / (path.name + ".data")):
            if leftover.exists():
                leftover.unlink()
        for produced in Path(scratch).iterdir():
            shutil.move(str(produced), path.parent / produced.name)
    return consolidate_external_data(path, external_data)


def fused_operators(path: str | Path) -> dict[str, int]:
    """Counts of the com.microsoft fused operators in a graph (what optimisation achieved)."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        if node.domain == "com.microsoft":
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts
