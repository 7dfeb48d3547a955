"""INT8 quantization of an exported ONNX model with ONNX Runtime: dynamic, or static QDQ.

Schemes are dataclass configs that round-trip through JSON (``scheme.to_dict()``,
``scheme_from_dict``), so the Python API, the CLI and the bundle manifest say the same thing.
A scheme can keep parts of the model in FP32: the embedding tables, the classifier head, and the
MatMuls that an analysis on calibration text finds most sensitive to 8-bit rounding.

Presets follow the CPU's INT8 kernels: ``avx512_vnni`` and ``arm64`` use full-range int8 weights;
``avx2`` and ``avx512`` (no VNNI) use 7-bit weights (``reduce_range``) against the u8s8 overflow of
``vpmaddubsw``; static schemes for ``arm64`` use symmetric int8 activations.
"""

from __future__ import annotations

import json
import platform
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import ClassVar

import numpy as np

from edgedistill.export.errors import ExportError

Feeds = dict[str, np.ndarray]
PRESETS = ("arm64", "avx2", "avx512", "avx512_vnni")
_REDUCE_RANGE = {"arm64": False, "avx2": True, "avx512": True, "avx512_vnni": False}
KEEP_GROUPS = ("embeddings", "classifier")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
DYNAMIC_OPS = ["MatMul", "Attention", "Gather", "EmbedLayerNormalization"]
STATIC_OPS = ["MatMul", "Gather"]


class SchemeError(ExportError):
    """A quantization scheme is malformed or cannot be applied."""


@dataclass
class _Scheme:
    kind: ClassVar[str] = ""
    preset: str = "avx512_vnni"
    per_channel: bool = False
    keep_fp32: list[str] = field(default_factory=list)  # groups: "embeddings", "classifier"
    keep_sensitive_matmuls: int = 0  # this many MatMuls, most sensitive on calibration text, stay FP32
    exclude_nodes: list[str] = field(default_factory=list)  # explicit ONNX node names kept in FP32

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise SchemeError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        unknown = sorted(set(self.keep_fp32) - set(KEEP_GROUPS))
        if unknown:
            raise SchemeError(f"cannot keep {unknown} in FP32; the groups are {', '.join(KEEP_GROUPS)}")
        self.keep_fp32 = list(self.keep_fp32)
        self.exclude_nodes = list(self.exclude_nodes)

    @property
    def reduce_range(self) -> bool:
        return _REDUCE_RANGE[self.preset]

    def to_dict(self) -> dict:
        return {"kind": self.kind, **asdict(self), "reduce_range": self.reduce_range}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def describe(self) -> str:
        parts = [self.kind, self.preset, "per-channel" if self.per_channel else "per-tensor"]
        if self.keep_fp32:
            parts.append("FP32 " + "+".join(self.keep_fp32))
        if self.keep_sensitive_matmuls:
            parts.append(f"FP32 {self.keep_sensitive_matmuls} sensitive MatMuls")
        if self.exclude_nodes:
            parts.append(f"FP32 {len(self.exclude_nodes)} named nodes")
        return ", ".join(parts)


@dataclass
class DynamicScheme(_Scheme):
    """Weights int8 offline, activations quantized per batch at run time; needs no calibration."""

    kind: ClassVar[str] = "dynamic"


@dataclass
class StaticScheme(_Scheme):
    """QDQ with activation ranges calibrated on task text (``calibration_size`` sentences)."""

    kind: ClassVar[str] = "static"
    per_channel: bool = True
    calibration_method: str = "minmax"
    calibration_size: int = 128

    def __post_init__(self):
        super().__post_init__()
        if self.calibration_method not in CALIBRATION_METHODS:
            raise SchemeError(f"unknown calibration method {self.calibration_method!r}; choose one of "
                              f"{', '.join(CALIBRATION_METHODS)}")

    @property
    def symmetric_activations(self) -> bool:
        return self.preset == "arm64"


@dataclass
class NeuralCompressorScheme(_Scheme):
    """pt2e static INT8 of every Linear (uint8 asymmetric activations, int8 symmetric weights), by
    Intel Neural Compressor on the PyTorch model (``edgedistill.export.neural_compressor``)."""

    kind: ClassVar[str] = "neural-compressor"
    per_channel: bool = True
    calibration_size: int = 128

    def __post_init__(self):
        super().__post_init__()
        if self.keep_fp32 or self.keep_sensitive_matmuls or self.exclude_nodes:
            raise SchemeError("the neural-compressor scheme quantizes every Linear; it cannot keep parts in "
                              "FP32 (use a dynamic or static ONNX Runtime scheme for that)")


SCHEMES: dict[str, type[_Scheme]] = {scheme.kind: scheme
                                     for scheme in (DynamicScheme, StaticScheme, NeuralCompressorScheme)}


def scheme_from_dict(data: dict) -> _Scheme:
    """The scheme a ``to_dict()`` produced (derived keys such as ``reduce_range`` are ignored)."""
    data = dict(data)
    kind = data.pop("kind", None)
    if kind not in SCHEMES:
        raise SchemeError(f"unknown quantization kind {kind!r}; choose one of {', '.join(SCHEMES)}")
    scheme_class = SCHEMES[kind]
    known = {f.name for f in fields(scheme_class)}
    data.pop("reduce_range", None)
    unknown = sorted(set(data) - known)
    if unknown:
        raise SchemeError(f"a {kind} scheme has no settings {unknown}")
    return scheme_class(**data)


def scheme_from_json(text: str) -> _Scheme:
    return scheme_from_dict(json.loads(text))


def auto_preset(flags: list[str] | None = None, machine: str | None = None) -> str:
    """The preset matching this CPU's INT8 instructions."""
    from edgedistill.env import cpu_flags

    flags = set(cpu_flags() if flags is None else flags)
    machine = (machine or platform.machine()).lower()
    if machine in ("aarch64", "arm64") or "asimd" in flags:
        return "arm64"
    if flags & {"avx512_vnni", "avx_vnni", "amx_int8"}:
        return "avx512_vnni"
    if "avx512bw" in flags or "avx512f" in flags:
        return "avx512"
    return "avx2"


# ------------------------------------------------------------------ graph analysis


def prepared_model(src: str | Path):
    """The FP32 graph ready for quantization: stale shape info dropped, every node named.

    Exporters leave ``value_info`` that ONNX Runtime's shape inference can contradict ("Inferred
    shape and existing shape differ"); node names are what exclusions refer to.
    """
    import onnx

    model = onnx.load(str(src), load_external_data=True)
    del model.graph.value_info[:]
    taken = {node.name for node in model.graph.node if node.name}
    for index, node in enumerate(model.graph.node):
        if not node.name:
            candidate = f"{node.op_type}_{index}"
            while candidate in taken:
                candidate += "_"
            node.name = candidate
            taken.add(candidate)
    return model


def _initializers(model) -> dict:
    return {init.name: init for init in model.graph.initializer}


def embedding_nodes(model) -> list[str]:
    """Gathers that read a weight table (word, position, token-type embeddings) and fused embeddings."""
    weights = _initializers(model)
    return [node.name for node in model.graph.node
            if (node.op_type == "Gather" and node.input[0] in weights
                and len(weights[node.input[0]].dims) == 2)
            or node.op_type == "EmbedLayerNormalization"]


_HEAD_BOUNDARY = {"LayerNormalization", "SkipLayerNormalization", "Attention", "ReduceMean"}


def classifier_nodes(model) -> list[str]:
    """MatMul/Gemm nodes between the last normalisation and the outputs: the task head."""
    weights = _initializers(model)
    producer = {out: node for node in model.graph.node for out in node.output}
    found, stack, seen = [], [out.name for out in model.graph.output], set()
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.name in seen or node.op_type in _HEAD_BOUNDARY:
            continue
        seen.add(node.name)
        if node.op_type in ("MatMul", "Gemm") and len(node.input) > 1 and node.input[1] in weights:
            found.append(node.name)
        stack.extend(node.input)
    return found


def quantizable_matmuls(model) -> list[tuple[str, str, str]]:
    """(node name, activation input, weight initializer) of each MatMul with a 2-D constant weight."""
    weights = _initializers(model)
    return [(node.name, node.input[0], node.input[1]) for node in model.graph.node
            if node.op_type == "MatMul" and node.input[1] in weights
            and len(weights[node.input[1]].dims) == 2]


def _fake_quantize_weight(weight: np.ndarray, per_channel: bool, reduce_range: bool) -> np.ndarray:
    qmax = 63.0 if reduce_range else 127.0
    absmax = np.abs(weight).max(axis=0, keepdims=True) if per_channel else np.abs(weight).max()
    scale = np.maximum(absmax, 1e-12) / qmax
    return np.clip(np.round(weight / scale), -qmax, qmax) * scale


def _fake_quantize_activation(x: np.ndarray) -> np.ndarray:
    low, high = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    scale = max(high - low, 1e-12) / 255.0
    zero = np.round(-low / scale)
    return (np.clip(np.round(x / scale) + zero, 0, 255) - zero) * scale


def rank_sensitive_matmuls(model, calibration: list[Feeds], *, per_channel: bool, reduce_range: bool,
                           max_rows: int = 4096) -> list[tuple[str, float]]:
    """MatMuls ordered by the relative output error 8-bit rounding causes on calibration text.

    Each MatMul's real input activations are captured from the FP32 model; the error is
    ||XW - Q(X)Q(W)|| / ||XW|| with per-batch activation and per-tensor/per-channel weight rounding,
    as dynamic quantization does it.
    """
    import onnx
    from onnx import numpy_helper

    matmuls = quantizable_matmuls(model)
    if not matmuls or not calibration:
        return []
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    existing = {out.name for out in probe.graph.output}
    for _, activation, _ in matmuls:
        if activation not in existing:
            probe.graph.output.append(onnx.helper.make_tensor_value_info(activation, onnx.TensorProto.FLOAT,
                                                                         None))
            existing.add(activation)
    captured = _run_probe(probe, calibration, [activation for _, activation, _ in matmuls])
    weights = _initializers(model)
    scores = []
    for name, activation, weight_name in matmuls:
        x = captured[activation][:max_rows].astype(np.float32)
        w = numpy_helper.to_array(weights[weight_name]).astype(np.float32)
        exact = x @ w
        approx = _fake_quantize_activation(x) @ _fake_quantize_weight(w, per_channel, reduce_range)
        scores.append((name, float(np.linalg.norm(exact - approx) / max(np.linalg.norm(exact), 1e-12))))
    return sorted(scores, key=lambda item: item[1], reverse=True)


def _run_probe(probe, calibration: list[Feeds], names: list[str]) -> dict[str, np.ndarray]:
    import onnx

    from edgedistill.export.validate import onnx_session

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "probe.onnx"
        onnx.save(probe, str(path), save_as_external_data=probe.ByteSize() > 1_800_000_000,
                  location="probe.onnx.data")
        session = onnx_session(path, threads=0)
        inputs = {i.name for i in session.get_inputs()}
        rows: dict[str, list[np.ndarray]] = {name: [] for name in dict.fromkeys(names)}
        unique = list(rows)
        for feeds in calibration:
            values = session.run(unique, {k: v for k, v in feeds.items() if k in inputs})
            mask = feeds.get("attention_mask")
            for name, value in zip(unique, values, strict=True):
                rows[name].append(_real_token_rows(value, mask))
    return {name: np.concatenate(parts) for name, parts in rows.items()}


def _real_token_rows(value: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """[tokens, features] rows of an activation, padding positions dropped where the shape allows."""
    if mask is not None and value.ndim == 3 and value.shape[:2] == mask.shape:
        return value[mask.astype(bool)]
    return value.reshape(-1, value.shape[-1])


# ------------------------------------------------------------------ quantization


@dataclass
class QuantizedModel:
    """An INT8 model file and what was kept in FP32."""

    path: Path
    files: list[str]
    scheme: dict
    fp32_nodes: list[str]
    size_bytes: int
    sensitivity: list[tuple[str, float]] = field(default_factory=list)


def fp32_nodes_for(model, scheme: _Scheme, calibration: list[Feeds] | None
                   ) -> tuple[list[str], list[tuple[str, float]]]:
    """Node names the scheme keeps in FP32, and the sensitivity ranking used to pick some of them."""
    keep = list(scheme.exclude_nodes)
    if "embeddings" in scheme.keep_fp32:
        keep += embedding_nodes(model)
    if "classifier" in scheme.keep_fp32:
        keep += classifier_nodes(model)
    ranking: list[tuple[str, float]] = []
    if scheme.keep_sensitive_matmuls:
        if not calibration:
            raise SchemeError("keeping sensitive MatMuls in FP32 needs calibration text to rank them")
        ranking = rank_sensitive_matmuls(model, calibration, per_channel=scheme.per_channel,
                                         reduce_range=scheme.reduce_range)
        keep += [name for name, _ in ranking if name not in keep][: scheme.keep_sensitive_matmuls]
    # ONNX Runtime's dynamic quantizer rewrites Gemm as MatMul + Add (named "<gemm>_MatMul") before it
    # applies exclusions, so a kept Gemm is named both ways.
    gemms = {node.name for node in model.graph.node if node.op_type == "Gemm"}
    keep += [f"{name}_MatMul" for name in keep if name in gemms]
    return list(dict.fromkeys(keep)), ranking


def quantize_onnx(src: str | Path, dest: str | Path, scheme: _Scheme, *,
                  calibration: list[Feeds] | None = None) -> QuantizedModel:
    """Quantize the FP32 ONNX file ``src`` to ``dest`` with ``scheme``.

    ``calibration`` is a list of input batches of real task text: required by static schemes and
    by ``keep_sensitive_matmuls``.
    """
    import onnx

    from edgedistill.export.onnx_export import consolidate_external_data, uses_external_data

    if scheme.kind not in ("dynamic", "static"):
        raise SchemeError(f"a {scheme.kind} scheme does not quantize an ONNX file; see its own module")
    src, dest = Path(src), Path(dest)
    if isinstance(scheme, StaticScheme) and not calibration:
        raise SchemeError("static quantization needs calibration text from the task")
    external = uses_external_data(src)
    model = prepared_model(src)
    keep, ranking = fp32_nodes_for(model, scheme, calibration)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        onnx.save(model, str(prepared), save_as_external_data=external, location="prepared.onnx.data")
        del model
        _run_ort_quantizer(prepared, dest, scheme, keep, calibration, external)
    files = consolidate_external_data(dest, external)
    size = sum((dest.parent / name).stat().st_size for name in files)
    return QuantizedModel(dest, files, scheme.to_dict(), keep, size, ranking)


def _run_ort_quantizer(prepared: Path, dest: Path, scheme: _Scheme, keep: list[str],
                       calibration: list[Feeds] | None, external: bool) -> None:
    import logging

    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # ORT warns via root
    if isinstance(scheme, DynamicScheme):
        quantize_dynamic(prepared, dest, op_types_to_quantize=DYNAMIC_OPS, per_channel=scheme.per_channel,
                         reduce_range=scheme.reduce_range, weight_type=QuantType.QInt8,
                         nodes_to_exclude=keep, use_external_data_format=external,
                         extra_options={"MatMulConstBOnly": True, "DefaultTensorType": 1})
        return
    from onnxruntime.quantization import CalibrationMethod

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    activation = QuantType.QInt8 if scheme.symmetric_activations else QuantType.QUInt8
    # Histogram calibrators stack every batch's activations into one array: batches must share a length.
    batches = calibration if scheme.calibration_method == "minmax" else same_length(calibration)
    quantize_static(prepared, dest, BatchReader(batches, scheme.calibration_size),
                    quant_format=QuantFormat.QDQ, op_types_to_quantize=STATIC_OPS,
                    per_channel=scheme.per_channel, reduce_range=scheme.reduce_range,
                    activation_type=activation, weight_type=QuantType.QInt8, nodes_to_exclude=keep,
                    use_external_data_format=external,
                    calibrate_method=methods[scheme.calibration_method],
                    extra_options={"MatMulConstBOnly": True, "DefaultTensorType": 1,  # 1 = FLOAT
                                   "ActivationSymmetric": scheme.symmetric_activations})


def same_length(batches: list[Feeds]) -> list[Feeds]:
    """``batches`` padded to the longest one's sequence length (input ids with the batches' own pad id)."""
    length = max(batch["input_ids"].shape[1] for batch in batches)
    pads = [b["input_ids"][b["attention_mask"] == 0] for b in batches if "attention_mask" in b]
    pad_id = int(next((p[0] for p in pads if p.size), 0))
    padded = []
    for batch in batches:
        extra = length - batch["input_ids"].shape[1]
        padded.append({name: np.pad(values, ((0, 0), (0, extra)),
                                    constant_values=pad_id if name == "input_ids" else 0)
                       for name, values in batch.items()})
    return padded


class BatchReader:
    """ONNX Runtime calibration reader over prepared batches, stopping after ``limit`` sentences."""

    def __init__(self, batches: list[Feeds], limit: int):
        self._batches, self._limit = list(batches), limit
        self._rewind()

    def _rewind(self):
        self._iterator, self._seen = iter(self._batches), 0

    def get_next(self) -> Feeds | None:
        if self._seen >= self._limit:
            return None
        batch = next(self._iterator, None)
        if batch is not None:
            self._seen += next(iter(batch.values())).shape[0]
        return batch

    def rewind(self) -> None:
        self._rewind()

    def set_range(self, start_index: int, end_index: int) -> None:  # ORT API; batches are small
        pass
