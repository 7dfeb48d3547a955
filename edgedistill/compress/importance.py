"""How much each attention head and FFN neuron matters, from gradients over a few batches.

* FFN neuron j of a layer: the first-order estimate of the loss change when its weights are removed,
  |sum over batches and over the neuron's weights (intermediate row, bias, output column) of
  grad * weight| (Gurgurov et al. use it over MLM batches).
* Attention head h: |dL/dm_h| summed over batches, where m_h = 1 multiplies the head's output
  (Michel et al. 2019, "Are Sixteen Heads Really Better than One?").

The loss ("objective") is the MLM loss for a masked-LM model, or the task loss for batches that
carry labels. A headless encoder such as multilingual-e5 has neither, so its objective is
label-free: "output" scores how strongly the final hidden states react to each unit, with the
gradient of <h, r> for random Gaussian r (two draws per batch), the sum over batches taken of
absolute values because the sign of a random projection means nothing. Of the label-free criteria
we tried once on e5-small (12 -> 6 heads and FFN 1536 -> 768, 4 batches of Hausa), it kept the mean-
pooled embeddings of held-out Hausa closest to the full model's (cosine 0.854), ahead of activation
norms (0.830), units chosen at random (0.804) and masked-token reconstruction of the hidden states
(0.738); benchmarks/results/prune_speed.md compares it with random choice on every run.
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from edgedistill.compress.models import encoder_layers, head_of
from edgedistill.errors import EdgedistillError

OUTPUT_PROJECTIONS = 2  # random projections per batch for the label-free "output" objective


class ImportanceError(EdgedistillError):
    """Importance cannot be computed as asked (objective does not fit the model or the batches)."""


@dataclass
class ImportanceScores:
    """One score tensor per layer: heads (current heads of that layer) and FFN neurons."""

    heads: list[torch.Tensor]
    ffn: list[torch.Tensor]
    objective: str
    batches: int
    tokens: int


def text_batches(tokenizer, texts: list[str], *, batches: int, batch_size: int, max_length: int,
                 seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """Up to ``batches`` padded batches of ``texts``, shuffled with ``seed``."""
    texts = list(texts)
    random.Random(seed).shuffle(texts)
    chosen = texts[: batches * batch_size]
    return [dict(tokenizer(chosen[i:i + batch_size], padding=True, truncation=True,
                           max_length=max_length, return_tensors="pt"))
            for i in range(0, len(chosen), batch_size)]


def resolve_objective(model, objective: str, batches: list[dict[str, Any]]) -> str:
    has_labels = all("labels" in batch for batch in batches)
    head = head_of(model)
    if objective == "auto":
        if has_labels and head != "base":
            return "task"
        return "mlm" if head == "mlm" else "output"
    if objective == "mlm" and head != "mlm":
        raise ImportanceError(f"objective 'mlm' needs a masked-LM head and this model has the {head!r} "
                              f"head; use 'output' (label-free) or 'task'")
    if objective == "task" and (head in ("base", "mlm") or not has_labels):
        raise ImportanceError("objective 'task' needs a classification head and batches with 'labels'")
    return objective


def compute_importance(model, tokenizer, batches: list[dict[str, Any]], objective: str = "auto", *,
                       mask_probability: float = 0.15, seed: int = 0) -> ImportanceScores:
    """Score every head and FFN neuron of ``model`` on ``batches`` (the model is left unchanged)."""
    if not batches:
        raise ImportanceError("no batches to compute importance on; give some text")
    objective = resolve_objective(model, objective, batches)
    layers = encoder_layers(model)
    generator = torch.Generator().manual_seed(seed)
    head_scores = [torch.zeros(layer.attention.self.num_attention_heads) for layer in layers]
    ffn_scores = [torch.zeros(layer.intermediate.dense.out_features) for layer in layers]
    was_training = model.training
    model.eval()  # no dropout: the scores should not depend on its noise
    tokens = 0
    with torch.enable_grad(), _only_ffn_weights_trainable(model, layers), _head_masks(layers) as masks:
        for batch in batches:
            for loss in _losses(model, tokenizer, batch, objective, mask_probability, generator):
                loss.backward(retain_graph=True)
                for scores, mask in zip(head_scores, masks, strict=True):
                    scores += mask.grad.detach().abs()
                    mask.grad = None
                for scores, layer in zip(ffn_scores, layers, strict=True):
                    terms = _ffn_taylor_terms(layer)
                    scores += terms.abs() if objective == "output" else terms
            tokens += int(batch["attention_mask"].sum())
    model.train(was_training)
    return ImportanceScores(head_scores, [s.abs() for s in ffn_scores], objective, len(batches), tokens)


def _ffn_taylor_terms(layer) -> torch.Tensor:
    """Per neuron, the sum of grad * weight over its weights; the gradients are cleared."""
    inner, outer = layer.intermediate.dense, layer.output.dense
    terms = (inner.weight.grad * inner.weight).sum(dim=1) + (outer.weight.grad * outer.weight).sum(dim=0)
    if inner.bias is not None:
        terms = terms + inner.bias.grad * inner.bias
    for param in (*inner.parameters(), *outer.parameters()):
        param.grad = None
    return terms.detach()


@contextmanager
def _only_ffn_weights_trainable(model, layers):
    """Gradients for the FFN weights only (not the 100M-row embedding table); restored after."""
    previous = {name: p.requires_grad for name, p in model.named_parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
    ffn_params = [p for layer in layers
                  for p in (*layer.intermediate.dense.parameters(), *layer.output.dense.parameters())]
    for p in ffn_params:
        p.requires_grad_(True)
        p.grad = None
    try:
        yield
    finally:
        for p in ffn_params:
            p.grad = None
        for name, p in model.named_parameters():
            p.requires_grad_(previous[name])


@contextmanager
def _head_masks(layers):
    """One mask of ones per layer, multiplied into each head's output by a forward hook."""
    masks = [torch.ones(layer.attention.self.num_attention_heads, requires_grad=True) for layer in layers]
    handles = [layer.attention.self.register_forward_hook(_mask_heads_hook(mask))
               for layer, mask in zip(layers, masks, strict=True)]
    try:
        yield masks
    finally:
        for handle in handles:
            handle.remove()


def _mask_heads_hook(mask: torch.Tensor):
    def hook(module, inputs, output):
        context = output[0]
        heads = module.num_attention_heads
        shape = context.shape
        masked = (context.view(*shape[:-1], heads, shape[-1] // heads) * mask[:, None]).view(shape)
        return (masked, *output[1:])
    return hook


def _losses(model, tokenizer, batch: dict[str, Any], objective: str, mask_probability: float,
            generator: torch.Generator):
    """The losses whose gradients are read for one batch: one, or one per random projection."""
    if objective == "task":
        yield model(**batch).loss
        return
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    if objective == "mlm":
        masked_ids, chosen = mask_tokens(tokenizer, batch["input_ids"], mask_probability, generator)
        labels = batch["input_ids"].masked_fill(~chosen, -100)
        yield model(**{**inputs, "input_ids": masked_ids}, labels=labels).loss
        return
    hidden = model.base_model(**inputs).last_hidden_state * batch["attention_mask"].unsqueeze(-1)
    for _ in range(OUTPUT_PROJECTIONS):
        yield (hidden * torch.randn(hidden.shape, generator=generator)).sum()


def mask_tokens(tokenizer, input_ids: torch.Tensor, probability: float,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace a random ``probability`` share of the ordinary tokens with the mask token."""
    if tokenizer.mask_token_id is None:
        raise ImportanceError("the tokenizer has no mask token, which the objective needs")
    special = torch.isin(input_ids, torch.tensor(tokenizer.all_special_ids))
    chosen = (torch.rand(input_ids.shape, generator=generator) < probability) & ~special
    # Every row gets at least one masked token, so the loss is never empty.
    for row in range(input_ids.shape[0]):
        if not chosen[row].any():
            candidates = (~special[row]).nonzero().flatten()
            if len(candidates):
                pick = candidates[torch.randint(len(candidates), (1,), generator=generator)]
                chosen[row, pick] = True
    return input_ids.masked_fill(chosen, tokenizer.mask_token_id), chosen
