"""Honest FLOP accounting for a BERT-style encoder forward pass (nanoGPT style).

Counts the matrix multiplications, which dominate: per layer, per token, the Q/K/V/output
projections (4·H² multiply-adds), the two FFN matrices (2·H·F) and attention itself (2·S·H: scores
and the weighted sum over S positions). A multiply-add is two FLOPs. The embedding lookup is a
gather and costs no FLOPs, which is why vocabulary size changes size and memory but not speed.
"""

from __future__ import annotations


def encoder_flops_per_token(layers: int, hidden_size: int, intermediate_size: int, seq_len: int,
                            heads: int | None = None, heads_per_layer: list[int] | None = None) -> int:
    """FLOPs per token. With ``heads_per_layer`` (a head-pruned model) each layer's Q/K/V/output
    projections and attention use only the width of the heads it kept (head size hidden/heads)."""
    if heads_per_layer is None:
        widths = [hidden_size] * layers
    else:
        head_size = hidden_size // heads
        widths = [kept * head_size for kept in heads_per_layer]
    ffn = 2 * hidden_size * intermediate_size
    return 2 * sum(4 * hidden_size * width + ffn + 2 * seq_len * width for width in widths)


def forward_flops(architecture: dict, seq_len: int, batch_size: int) -> int | None:
    """FLOPs of one forward pass over a [batch, seq] input, or None if the shape is unknown."""
    try:
        per_token = encoder_flops_per_token(architecture["layers"], architecture["hidden_size"],
                                            architecture["intermediate_size"], seq_len,
                                            architecture.get("heads"), architecture.get("heads_per_layer"))
    except (KeyError, TypeError):
        return None
    return per_token * seq_len * batch_size
