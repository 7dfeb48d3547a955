"""Tiny bundles for tests and device checks: a tiny encoder of ``edgedistill.fixtures`` exported
with torch.onnx directly and sealed with the runtime's ``seal_bundle``.

Deliberately independent of the export pipeline, so the runtime, the Android golden files and the
arm64 check are held against the bundle contract (runtime/bundle.py) and not against one writer's habits.
It lives in the export stage because the core may not import the runtime.
"""

from __future__ import annotations

from pathlib import Path

from edgedistill.fixtures import tiny_model
from edgedistill.runtime.bundle import Manifest, seal_bundle

BUNDLE_TASKS = {"sequence-classification": "sequence-classification",
                "token-classification": "token-classification", "base": "embedding"}


def write_tiny_bundle(out_dir: Path, head: str, texts: list[str], *, family: str = "xlmr",
                      max_length: int = 32, tokenizer=None, **manifest_overrides):
    """Export a tiny model (``head``: sequence-classification, token-classification or base, an
    embedding model) to ``out_dir`` as a bundle; returns (model, tokenizer)."""
    import torch

    tiny = tiny_model(family, head, texts=texts, tokenizer=tokenizer, seed=1)
    out_dir.mkdir(parents=True)
    batch = tiny.tokenizer(texts[:2], padding=True, return_tensors="pt")
    output_name = "last_hidden_state" if head == "base" else "logits"
    dynamic = {"batch": 0, "sequence": 1}
    model = tiny.model

    class Logits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask)[0]

    # A fresh wrapper is in training mode, and the exporter restores that mode afterwards,
    # recursively: without eval() the tiny model would come back with dropout switched on.
    wrapper = Logits().eval()
    torch.onnx.export(
        wrapper, (batch["input_ids"], batch["attention_mask"]),
        str(out_dir / "model.onnx"), input_names=["input_ids", "attention_mask"],
        output_names=[output_name], dynamo=False,
        dynamic_axes={"input_ids": {v: k for k, v in dynamic.items()},
                      "attention_mask": {v: k for k, v in dynamic.items()},
                      output_name: {0: "batch", 1: "sequence"} if head != "sequence-classification"
                      else {0: "batch"}})
    tiny.tokenizer.backend_tokenizer.save(str(out_dir / "tokenizer.json"))
    config = model.config
    labels = [config.id2label[i] for i in range(config.num_labels)] if head != "base" else []
    manifest = Manifest(task=BUNDLE_TASKS[head], labels=labels, max_length=max_length,
                        vocab_size=config.vocab_size, inputs=["input_ids", "attention_mask"],
                        outputs=[output_name], pad_token_id=tiny.tokenizer.pad_token_id,
                        pooling="mean" if head == "base" else None,
                        normalize_embeddings=head == "base")
    for key, value in manifest_overrides.items():
        setattr(manifest, key, value)
    seal_bundle(out_dir, manifest)
    return model, tiny.tokenizer
