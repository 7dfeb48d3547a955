"""Tiny bundles for runtime tests, written with torch.onnx directly.

Deliberately independent of edgedistill.export, so the runtime is tested against the bundle
contract (runtime/bundle.py) and not against one writer's habits.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from edgedistill.fixtures import tiny_model
from edgedistill.runtime.bundle import MANIFEST_NAME, Manifest, hash_bundle_files

TASK_OF_HEAD = {"sequence-classification": "sequence-classification",
                "token-classification": "token-classification", "base": "embedding"}


class _Logits(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask)[0]


def write_tiny_bundle(out_dir: Path, head: str, texts: list[str], *, family: str = "xlmr",
                      max_length: int = 32, tokenizer=None, **manifest_overrides):
    """Export a tiny model to ``out_dir`` as a bundle; returns (model, tokenizer)."""
    tiny = tiny_model(family, head, texts=texts, tokenizer=tokenizer, seed=1)
    out_dir.mkdir(parents=True)
    batch = tiny.tokenizer(texts[:2], padding=True, return_tensors="pt")
    output_name = "last_hidden_state" if head == "base" else "logits"
    dynamic = {"batch": 0, "sequence": 1}
    # A fresh wrapper is in training mode, and the exporter restores that mode afterwards,
    # recursively: without eval() the tiny model would come back with dropout switched on.
    wrapper = _Logits(tiny.model).eval()
    torch.onnx.export(
        wrapper, (batch["input_ids"], batch["attention_mask"]),
        str(out_dir / "model.onnx"), input_names=["input_ids", "attention_mask"],
        output_names=[output_name], dynamo=False,
        dynamic_axes={"input_ids": {v: k for k, v in dynamic.items()},
                      "attention_mask": {v: k for k, v in dynamic.items()},
                      output_name: {0: "batch", 1: "sequence"} if head != "sequence-classification"
                      else {0: "batch"}})
    tiny.tokenizer.backend_tokenizer.save(str(out_dir / "tokenizer.json"))
    config = tiny.model.config
    labels = [config.id2label[i] for i in range(config.num_labels)] if head != "base" else []
    manifest = Manifest(task=TASK_OF_HEAD[head], labels=labels, max_length=max_length,
                        vocab_size=config.vocab_size, inputs=["input_ids", "attention_mask"],
                        outputs=[output_name], pad_token_id=tiny.tokenizer.pad_token_id,
                        pooling="mean" if head == "base" else None,
                        normalize_embeddings=head == "base")
    for key, value in manifest_overrides.items():
        setattr(manifest, key, value)
    manifest.files = hash_bundle_files(out_dir, ["model.onnx", "tokenizer.json"])
    (out_dir / MANIFEST_NAME).write_text(manifest.to_json())
    return tiny.model, tiny.tokenizer


def rewrite_manifest(bundle: Path, **changes) -> None:
    data = json.loads((bundle / MANIFEST_NAME).read_text())
    data.update(changes)
    (bundle / MANIFEST_NAME).write_text(json.dumps(data))
