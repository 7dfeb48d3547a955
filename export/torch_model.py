"""The PyTorch side of every export: which output a task has, and a plain-tensor wrapper around a model.

Exporters (torch.onnx, TorchScript, neural-compressor's pt2e) want a module that takes tensors in a
fixed order and returns a tuple; Hugging Face models take keywords and return ModelOutput objects.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgedistill.export.errors import ExportError

TASKS = ("sequence-classification", "token-classification", "embedding")
TASK_OUTPUT = {"sequence-classification": "logits", "token-classification": "logits",
               "embedding": "last_hidden_state"}
_ARCHITECTURE_SUFFIX_TASK = {"ForSequenceClassification": "sequence-classification",
                             "ForTokenClassification": "token-classification"}


def infer_task(model) -> str:
    """The task a model's class is built for (a bare encoder is an embedding model)."""
    name = type(model).__name__
    for suffix, task in _ARCHITECTURE_SUFFIX_TASK.items():
        if name.endswith(suffix):
            return task
    if name.endswith("Model"):
        return "embedding"
    raise ExportError(f"cannot tell the task of a {name}; pass the task explicitly "
                      f"(one of {', '.join(TASKS)})")


def check_task(task: str) -> None:
    if task not in TASKS:
        raise ExportError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")


def encoder_for_task(model, task: str):
    """The module that produces the task's output: the bare encoder for embeddings."""
    check_task(task)
    if task == "embedding" and not type(model).__name__.endswith("Model"):
        return model.base_model
    return model


def labels_of(model, task: str) -> list[str]:
    if task == "embedding":
        return []
    id2label = getattr(model.config, "id2label", None) or {}
    return [str(id2label[i]) for i in sorted(id2label, key=int)]


class TaskModule:
    """Factory for a ``torch.nn.Module`` taking ``input_names`` positionally, returning one tensor."""

    @staticmethod
    def wrap(model, task: str, input_names: Sequence[str]):
        import torch

        encoder = encoder_for_task(model, task)
        output_name = TASK_OUTPUT[task]
        names = tuple(input_names)

        class _Wrapped(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = encoder

            def forward(self, *tensors):
                outputs = self.model(**dict(zip(names, tensors, strict=True)), return_dict=True)
                return outputs[output_name]

        return _Wrapped().eval()


def torch_reference(model, task: str):
    """A function from NumPy feeds to NumPy outputs, named as in the ONNX graph."""
    import torch

    encoder = encoder_for_task(model, task).eval()
    output_name = TASK_OUTPUT[task]

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.no_grad():
            outputs = encoder(**{k: torch.from_numpy(v) for k, v in feeds.items()}, return_dict=True)
        return {output_name: outputs[output_name].float().numpy()}

    return run


def parameter_bytes(model) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())
