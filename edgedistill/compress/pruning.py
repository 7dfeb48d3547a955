"""Structured pruning: remove whole attention heads and FFN neurons, physically.

The pruned rows and columns are gone from the weight matrices (not masked), so the model is smaller
and faster and saves as a normal Hugging Face directory: removed heads are recorded in
``config.pruned_heads``, which ``from_pretrained`` applies before loading the weights, and the FFN
keeps the same number of neurons in every layer because a Hugging Face config has a single
``intermediate_size``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistill.compress.report import CompressionReport
from edgedistill.config import Config, ConfigError
from edgedistill.errors import EdgedistillError

OBJECTIVES = ("auto", "mlm", "task", "output")


class PruneError(EdgedistillError):
    """The model cannot be pruned as asked."""


@dataclass
class PruneConfig(Config):
    """What to keep, and the batches that decide it.

    heads_per_layer: attention heads to keep in each layer: one number for all layers, or one per
        layer; None keeps every head.
    ffn_size: FFN neurons to keep in every layer (e.g. 3072 -> 2048); None keeps them all.
    objective: the loss whose gradients score the units: "mlm", "task" (batches with labels),
        "output" (label-free, any model: sensitivity of the final hidden states) or "auto" (mlm for a
        masked-LM model, task when the batches carry labels, else output).
    batches, batch_size, max_length: how much text the scores are computed on.
    mask_probability: share of tokens masked for the mlm objective.
    seed: for shuffling the text and choosing masked tokens.
    """

    heads_per_layer: int | tuple[int, ...] | None = None
    ffn_size: int | None = None
    objective: str = "auto"
    batches: int = 32
    batch_size: int = 8
    max_length: int = 128
    mask_probability: float = 0.15
    seed: int = 0

    def validate(self) -> None:
        if self.heads_per_layer is None and self.ffn_size is None:
            raise ConfigError("give heads_per_layer, ffn_size or both: there is nothing to prune")
        heads = self.heads_per_layer
        counts = heads if isinstance(heads, tuple) else () if heads is None else (heads,)
        if any(not isinstance(n, int) or n < 1 for n in counts):
            raise ConfigError(f"heads_per_layer must be positive whole numbers (at least one head per "
                              f"layer), not {heads}")
        if self.ffn_size is not None and self.ffn_size < 1:
            raise ConfigError(f"ffn_size must be positive, not {self.ffn_size}")
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"objective must be one of {', '.join(OBJECTIVES)}, not {self.objective!r}")
        for name in ("batches", "batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive, not {getattr(self, name)}")
        if not 0 < self.mask_probability < 1:
            raise ConfigError(f"mask_probability must be in (0, 1), not {self.mask_probability}")


@dataclass
class PruneResult:
    model: Any
    report: CompressionReport


class StructuredPruner:
    """Score heads and FFN neurons by first-order importance and remove the least important.

    >>> pruner = StructuredPruner(PruneConfig(ffn_size=2048))
    >>> result = pruner.prune(model, tokenizer, texts=hausa_sentences)   # or batches=[...]
    """

    def __init__(self, config: PruneConfig) -> None:
        self.config = config

    def prune(self, model, tokenizer, *, texts: list[str] | None = None,
              batches: list[dict[str, Any]] | None = None, scores=None) -> PruneResult:
        """Prune ``model`` in place; importance comes from ``batches`` or from batches of ``texts``.

        ``scores`` (from ``compute_importance`` on this same model) skips the scoring, so that one
        scoring pass can make several pruned variants.
        """
        from edgedistill.accounting import count_parameters
        from edgedistill.compress.importance import compute_importance, text_batches
        from edgedistill.compress.models import check_supported

        check_supported(model)
        cfg = self.config
        heads_target, ffn_target = self.targets(model)
        if batches is None and scores is None:
            if not texts:
                raise PruneError("pruning needs text (or batches) to score heads and neurons on")
            batches = text_batches(tokenizer, texts, batches=cfg.batches, batch_size=cfg.batch_size,
                                   max_length=cfg.max_length, seed=cfg.seed)
        before = count_parameters(model).as_dict()
        shape_before = model_shape(model)
        started = time.perf_counter()
        if scores is None:
            scores = compute_importance(model, tokenizer, batches, cfg.objective,
                                        mask_probability=cfg.mask_probability, seed=cfg.seed)
        if [len(s) for s in scores.heads] != shape_before["heads"]:
            raise PruneError("the importance scores were computed on a model of another shape")
        removed_heads = prune_heads(model, scores.heads, heads_target) if heads_target else {}
        if ffn_target is not None:
            prune_ffn(model, scores.ffn, ffn_target)
        shape_after = model_shape(model)
        report = CompressionReport(
            operation="prune", headline=_headline(shape_before, shape_after), config=cfg.to_dict(),
            parameters_before=before, parameters_after=count_parameters(model).as_dict(),
            details={"objective": scores.objective, "scored_batches": scores.batches,
                     "scored_tokens": scores.tokens, "seconds": round(time.perf_counter() - started, 1),
                     "shape_before": shape_before, "shape_after": shape_after,
                     "removed_heads": {str(k): v for k, v in removed_heads.items()}})
        return PruneResult(model, report)

    def targets(self, model) -> tuple[list[int] | None, int | None]:
        """Per-layer head counts and the FFN size, checked against the model."""
        shape = model_shape(model)
        heads = self.config.heads_per_layer
        if isinstance(heads, int):
            heads = [heads] * len(shape["heads"])
        if heads is not None:
            heads = list(heads)
            if len(heads) != len(shape["heads"]):
                raise PruneError(f"heads_per_layer has {len(heads)} entries but the model has "
                                 f"{len(shape['heads'])} layers")
            too_many = [(i, n, have) for i, (n, have) in enumerate(zip(heads, shape["heads"], strict=True))
                        if n > have]
            if too_many:
                layer, n, have = too_many[0]
                raise PruneError(f"heads_per_layer asks for {n} heads in layer {layer}, which has {have}")
        ffn = self.config.ffn_size
        if ffn is not None and ffn > min(shape["ffn"]):
            raise PruneError(f"ffn_size {ffn} is larger than the model's FFN size {min(shape['ffn'])}")
        return heads, ffn

    def compress_directory(self, source: str | Path, out_dir: str | Path, texts: list[str], *,
                           held_out: list[str] | None = None, head: str = "auto",
                           overwrite: bool = False) -> CompressionReport:
        """Load a model directory (or built-in teacher), prune it (importance measured on ``texts``),
        write ``out_dir``; return the report. ``held_out`` is unused: the compressors share one signature."""
        from edgedistill.compress.models import error_if_exists, load_model, save_model

        error_if_exists(out_dir, overwrite)
        loaded = load_model(source, head=head)
        self.targets(loaded.model)  # fail on a bad target before spending time on gradients
        result = self.prune(loaded.model, loaded.tokenizer, texts=texts)
        save_model(result.model, loaded.tokenizer, out_dir, result.report, source=loaded, overwrite=overwrite)
        return result.report


def model_shape(model) -> dict[str, list[int]]:
    from edgedistill.compress.models import encoder_layers

    layers = encoder_layers(model)
    return {"heads": [layer.attention.self.num_attention_heads for layer in layers],
            "ffn": [layer.intermediate.dense.out_features for layer in layers]}


def prune_heads(model, scores: list, keep: list[int]) -> dict[int, list[int]]:
    """Remove all but the ``keep[i]`` highest-scoring heads of layer i; return the removed heads.

    Head numbers are those of the unpruned model, as ``config.pruned_heads`` records them.
    """
    from edgedistill.compress.models import encoder_layers

    to_remove: dict[int, list[int]] = {}
    for index, (layer, layer_scores, n) in enumerate(zip(encoder_layers(model), scores, keep, strict=True)):
        remaining = sorted(set(range(model.config.num_attention_heads)) - layer.attention.pruned_heads)
        ranked = layer_scores.argsort(descending=True).tolist()
        dropped = sorted(remaining[position] for position in ranked[n:])
        if dropped:
            to_remove[index] = dropped
    model.prune_heads(to_remove)
    return to_remove


def prune_ffn(model, scores: list, keep: int) -> None:
    """Keep the ``keep`` highest-scoring FFN neurons of every layer, in their original order."""
    from transformers.pytorch_utils import prune_linear_layer

    from edgedistill.compress.models import encoder_layers

    for layer, layer_scores in zip(encoder_layers(model), scores, strict=True):
        index = layer_scores.argsort(descending=True)[:keep].sort().values
        layer.intermediate.dense = prune_linear_layer(layer.intermediate.dense, index, dim=0)
        layer.output.dense = prune_linear_layer(layer.output.dense, index, dim=1)
    model.config.intermediate_size = keep


def _headline(before: dict[str, list[int]], after: dict[str, list[int]]) -> str:
    def span(values: list[int]) -> str:
        return str(values[0]) if min(values) == max(values) else f"{min(values)}-{max(values)}"

    return (f"pruned to {span(after['heads'])} heads/layer (from {span(before['heads'])}) and FFN "
            f"{span(after['ffn'])} (from {span(before['ffn'])})")
