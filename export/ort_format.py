"""ORT format (``.ort``) for ONNX Runtime Mobile, converted and checked against its ONNX source.

Graph optimisations are applied at the "extended" level before saving: the portable fusions
(GELU, LayerNorm, attention) without the x86-specific layout changes of "all", so a file converted
on a laptop runs on an ARM phone. Models with onnxruntime-extensions operators (the string-input
variant) are converted with that library registered, as the app must register it at run time.
"""

from __future__ import annotations

from pathlib import Path

from edgedistill.export.errors import ExportError

LEVELS = ("basic", "extended")


def convert_to_ort(onnx_path: str | Path, ort_path: str | Path, *, level: str = "extended",
                   custom_ops: bool = False) -> Path:
    """Write ``ort_path`` in ORT format from ``onnx_path``."""
    import onnxruntime as ort

    if level not in LEVELS:
        raise ExportError(f"unknown ORT-format optimisation level {level!r}; "
                          f"choose one of {', '.join(LEVELS)}")
    options = ort.SessionOptions()
    options.graph_optimization_level = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED}[level]
    options.optimized_model_filepath = str(ort_path)
    options.add_session_config_entry("session.save_model_format", "ORT")
    options.log_severity_level = 3
    if custom_ops:
        from onnxruntime_extensions import get_library_path

        options.register_custom_ops_library(get_library_path())
    Path(ort_path).parent.mkdir(parents=True, exist_ok=True)
    try:
        ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ExportError(f"ONNX Runtime could not convert {Path(onnx_path).name} to ORT format: "
                          f"{str(exc).strip().splitlines()[0][:300]}") from None
    return Path(ort_path)


ORT_TOLERANCE = 1e-3  # fused kernels chosen at conversion round differently from the unfused graph


def validate_ort(onnx_path: str | Path, ort_path: str | Path, batches: list[dict], *,
                 custom_ops: bool = False, tolerance: float = ORT_TOLERANCE):
    """Run the ORT-format file and its ONNX source on the same batches; every output must match."""
    from edgedistill.export.validate import onnx_session, run_session, validate_outputs

    source = onnx_session(onnx_path, custom_ops=custom_ops)
    converted = onnx_session(ort_path, custom_ops=custom_ops)
    names = [o.name for o in source.get_outputs()]
    return validate_outputs(lambda feeds: run_session(source, feeds),
                            lambda feeds: run_session(converted, feeds), batches,
                            tolerances=dict.fromkeys(names, tolerance), artifact=Path(ort_path).name)
