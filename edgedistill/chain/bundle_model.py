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


def score_bundle(bundle: Path, tokenizer_dir: Path, spec: dict | None = None, *, split: str = "test",
                 limit: int | None = None, seed: int = 0) -> tuple[float | None, dict]:
    """The task metric of a classifier or tagger bundle on ``split`` (``limit`` examples, seeded).

    ``spec`` is a DataSpec as a dict (default: the data the bundle's task was trained on);
    ``tokenizer_dir`` is the Hugging Face model the bundle was exported from, whose fast tokenizer gives
    the word alignment that token tasks are scored with. Returns (score, facts) or (None, why not).
    """
    from edgedistill.runtime.bundle import load_manifest
    from edgedistill.tasks import DataSpec, load_task
    from edgedistill.tasks.scoring import score_split
    from edgedistill.tasks.task import subsample
    from edgedistill.teachers.tokenizer import load_tokenizer

    manifest = load_manifest(bundle)
    spec = spec or dict((manifest.source.get("task") or {}).get("data") or {})
    if manifest.task not in ("sequence-classification", "token-classification") or not spec:
        return None, {"skipped": f"{manifest.task} bundles have no task metric to score"}
    task = load_task(DataSpec(**spec), splits=(split,), labels=tuple(manifest.labels),
                     label_source="the bundle's labels")
    examples = subsample(task.split(split).examples, limit, seed)
    # one text at a time on a dynamic INT8 bundle, as the Predictor runs it: per-batch activation
    # scales would make a text's score depend on its neighbours
    batch_size = 1 if manifest.quantizes_per_batch else 64
    metrics = score_split(BundleModel(bundle, manifest), load_tokenizer(tokenizer_dir), task, split,
                          max_length=manifest.max_length, prefix=manifest.input_prefix, examples=examples,
                          batch_size=batch_size, progress=False)
    return metrics[task.primary_metric], {"metric": task.primary_metric, "split": split,
                                          "examples": len(examples), "seed": seed}
