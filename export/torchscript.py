"""TorchScript export for users who serve with libtorch (not the mobile path: see
docs/export-and-quantization.md, "Facts the export code relies on").

The model is traced with real sentences and saved; the saved file is loaded back and must reproduce
the PyTorch model on batches of other shapes than the trace's (batch 1, mixed lengths), or a typed
error says which output differs and by how much.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgedistill.export.encoding import hf_encoder
from edgedistill.export.onnx_export import model_input_names
from edgedistill.export.torch_model import TASK_OUTPUT, TaskModule, check_task, infer_task, torch_reference
from edgedistill.export.validate import (
    DEFAULT_TOLERANCE,
    ValidationReport,
    default_validation_texts,
    encode_batches,
    validate_outputs,
)


def export_torchscript(model, tokenizer, out_path: str | Path, *, task: str | None = None,
                       max_length: int = 128, validation_texts: list[str] | None = None,
                       input_prefix: str = "", tolerance: float = DEFAULT_TOLERANCE
                       ) -> tuple[Path, list[str], ValidationReport]:
    """Trace ``model`` (inputs in ONNX order, one output tensor), save it, and check the saved file."""
    import torch

    task = task or infer_task(model)
    check_task(task)
    inputs = model_input_names(model, tokenizer, task)
    texts = validation_texts or default_validation_texts()
    encode = hf_encoder(tokenizer, inputs, max_length=max_length, prefix=input_prefix)
    trace_feeds = encode(texts[1:3] if len(texts) > 2 else texts)
    module = TaskModule.wrap(model, task, inputs)
    with torch.no_grad():
        traced = torch.jit.trace(module, tuple(torch.from_numpy(trace_feeds[n]) for n in inputs),
                                 check_trace=False, strict=False)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    traced.save(str(out_path))
    loaded = torch.jit.load(str(out_path), map_location="cpu").eval()
    output = TASK_OUTPUT[task]

    def run_saved(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.no_grad():
            value = loaded(*(torch.from_numpy(feeds[n]) for n in inputs))
        return {output: value.float().numpy()}

    report = validate_outputs(torch_reference(model, task), run_saved, encode_batches(encode, texts),
                              tolerances={output: tolerance}, artifact=out_path.name)
    return out_path, inputs, report
