"""An ONNX bundle behind the interface of a PyTorch classifier, so that the bundles are scored by the
very code that scored the teacher and the student (``edgedistill.tasks.scoring.score_split``)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch


class BundleModel(torch.nn.Module):
    """``model(**batch).logits`` computed by ONNX Runtime from the bundle's model file."""

    def __init__(self, bundle: Path, manifest) -> None:
        from edgedistill.export.validate import onnx_session

        super().__init__()
        self.session = onnx_session(bundle / manifest.model_file)
        self.inputs = set(manifest.inputs)
        # The scorer asks a parameter which device the batches go to.
        self.anchor = torch.nn.Parameter(torch.zeros(()), requires_grad=False)

    def forward(self, **batch: torch.Tensor) -> SimpleNamespace:
        feeds = {name: tensor.numpy() for name, tensor in batch.items() if name in self.inputs}
        return SimpleNamespace(logits=torch.from_numpy(self.session.run(None, feeds)[0]))
