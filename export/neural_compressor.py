"""The PyTorch INT8 path: Intel Neural Compressor 3.x (pt2e static quantization), with its own export.

Neural Compressor 3.x quantizes PyTorch models only (its ONNX backend is gone): the model is captured
with ``torch.export`` (dynamic batch and sequence), observers are calibrated on task text, and the
converted graph holds quantize/dequantize pairs around every Linear. That graph is exported with the
dynamo ONNX exporter to a QDQ model, and the weight quantization is folded into int8 initializers so
the file is small. The ONNX file is validated against the quantized PyTorch model it came from.

Where it serves: when ONNX Runtime's own quantizer is not wanted (e.g. to reuse a PyTorch INT8 model,
or Neural Compressor's tuning); it only quantizes Linear layers, so the embedding tables stay FP32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgedistill.export.errors import ExportError
from edgedistill.export.quantize import NeuralCompressorScheme, QuantizedModel, SchemeError

# ONNX Runtime's integer kernels vs PyTorch's fake-quant arithmetic, on logits: a float rounding that
# flips one activation's 8-bit code early in the network propagates (0.11 measured on e5-small's 12
# layers). A broken export (a mis-folded weight) is off by far more, and the accuracy gate judges the
# ONNX file itself on dev data.
INC_TOLERANCE = 0.25


def quantize_with_neural_compressor(model, task: str, input_names: list[str], calibration: list[dict],
                                    dest: str | Path, scheme: NeuralCompressorScheme,
                                    validation: list[dict] | None = None) -> QuantizedModel:
    """Quantize ``model`` with Neural Compressor and write the QDQ ONNX file ``dest``."""
    if not calibration:
        raise SchemeError("the neural-compressor scheme needs calibration text from the task")
    quantized = _pt2e_static(model, task, input_names, calibration, scheme)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _export_qdq(quantized, input_names, calibration[0], dest, task)
    fold_weight_quantization(dest)
    _validate(quantized, dest, input_names, validation or calibration[:2], task)
    return QuantizedModel(dest, [dest.name], scheme.to_dict(), [], dest.stat().st_size)


def _pt2e_static(model, task: str, input_names: list[str], calibration: list[dict],
                 scheme: NeuralCompressorScheme):
    import torch
    from neural_compressor.torch.quantization import StaticQuantConfig, convert, prepare

    from edgedistill.export.torch_model import TaskModule

    wrapped = TaskModule.wrap(model, task, input_names)
    example = tuple(torch.from_numpy(calibration[0][n]) for n in input_names)
    captured = _capture(wrapped, example, _dynamic_shapes(input_names, model))
    config = StaticQuantConfig(w_granularity="per_channel" if scheme.per_channel else "per_tensor")
    prepared = prepare(captured, config)
    seen = 0
    with torch.no_grad():
        for feeds in calibration:
            prepared(*(torch.from_numpy(feeds[n]) for n in input_names))
            seen += next(iter(feeds.values())).shape[0]
            if seen >= scheme.calibration_size:
                break
    return convert(prepared)


def _capture(module, example: tuple, dynamic_shapes):
    """What ``neural_compressor.torch.export.export`` does, minus its first, strict attempt (which fails
    on Hugging Face encoders and doubles the time): a non-strict ``torch.export`` graph module."""
    import torch

    try:
        program = torch.export.export(module, example, dynamic_shapes=dynamic_shapes, strict=False)
    except Exception as exc:  # torch.export raises many kinds of errors
        raise ExportError(f"torch.export could not capture this model for Neural Compressor: "
                          f"{str(exc).strip().splitlines()[0][:200]}") from None
    captured = program.module()
    captured._exported, captured.dynamic_shapes = True, dynamic_shapes
    return captured


def _dynamic_shapes(input_names: list[str], model) -> tuple:
    from torch.export import Dim

    limit = int(getattr(model.config, "max_position_embeddings", 512))
    batch, sequence = Dim("batch", min=1, max=1024), Dim("sequence", min=2, max=limit - 2)
    return (({0: batch, 1: sequence},) * len(input_names),)  # one entry: the *tensors of TaskModule


def _export_qdq(quantized, input_names: list[str], example: dict, dest: Path, task: str) -> None:
    import torch

    from edgedistill.export.torch_model import TASK_OUTPUT

    args = tuple(torch.from_numpy(example[n]) for n in input_names)
    axes = {name: {0: "batch_size", 1: "sequence_length"} for name in input_names}
    with torch.no_grad():
        program = torch.onnx.export(quantized, args, input_names=input_names,
                                    output_names=[TASK_OUTPUT[task]], dynamic_axes=axes, dynamo=True,
                                    external_data=False, verbose=False)
    program.save(str(dest))


def fold_weight_quantization(path: Path) -> int:
    """Replace QuantizeLinear(->Clip) of constant weights by int8 initializers; return how many."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    init = {i.name: i for i in model.graph.initializer}
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    removed, added, folded = set(), [], 0
    for node in model.graph.node:
        if node.op_type != "QuantizeLinear" or not all(name in init for name in node.input):
            continue
        values = _quantize(*(numpy_helper.to_array(init[name]) for name in node.input), _axis(node))
        last, output = node, node.output[0]
        following = consumers.get(output, [])
        clip = following[0] if len(following) == 1 and following[0].op_type == "Clip" else None
        if clip is not None and all(name in init for name in clip.input[1:]):
            low, high = (numpy_helper.to_array(init[name]) for name in clip.input[1:])
            values, last, output = np.clip(values, low, high).astype(values.dtype), clip, clip.output[0]
        removed.update({id(node), id(last)})
        added.append(numpy_helper.from_array(values, output))
        folded += 1
    kept = [node for node in model.graph.node if id(node) not in removed]
    for node in kept:  # the dynamo exporter's per-node provenance (module paths, FX nodes) is not needed
        del node.metadata_props[:]
        node.doc_string = ""
    del model.graph.node[:]
    model.graph.node.extend(kept)
    model.graph.initializer.extend(added)
    used = {name for node in model.graph.node for name in node.input} | {o.name for o in model.graph.output}
    unused = [i for i in model.graph.initializer if i.name not in used]
    for initializer in unused:
        model.graph.initializer.remove(initializer)
    onnx.save(model, str(path))
    return folded


def _axis(node) -> int:
    return next((a.i for a in node.attribute if a.name == "axis"), 1)


def _quantize(weight: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, axis: int) -> np.ndarray:
    if scale.ndim == 1 and scale.size > 1:
        shape = [1] * weight.ndim
        shape[axis] = scale.size
        scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
    info = np.iinfo(zero_point.dtype)
    rounded = np.rint(weight / scale) + zero_point.astype(np.int64)
    return np.clip(rounded, info.min, info.max).astype(zero_point.dtype)


def _validate(quantized, path: Path, input_names: list[str], batches: list[dict], task: str) -> float:
    import torch

    from edgedistill.export.torch_model import TASK_OUTPUT
    from edgedistill.export.validate import validate_onnx_file

    output = TASK_OUTPUT[task]

    def reference(feeds):
        with torch.no_grad():
            return {output: quantized(*(torch.from_numpy(feeds[n]) for n in input_names)).numpy()}

    return validate_onnx_file(reference, path, batches, tolerances={output: INC_TOLERANCE})

