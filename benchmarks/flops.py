"""Honest FLOP accounting for a BERT-style encoder forward pass (nanoGPT style).

Counts the matrix multiplications, which dominate: per layer, per token, the Q/K/V/output
projections (4·H² multiply-adds), the two FFN matrices (2·H·F) and attention itself (2·S·H: scores
and the weighted sum over S positions). A multiply-add is two FLOPs. The embedding lookup is a
gather and costs no FLOPs, which is why vocabulary size changes size and memory but not speed.
"""

from __future__ import annotations


def encoder_flops_per_token(layers: int, hidden_size: int, intermediate_size: int,
                            seq_len: int) -> int:
    per_layer = 4 * hidden_size**2 + 2 * hidden_size * intermediate_size + 2 * seq_len * hidden_size
    return 2 * layers * per_layer


def forward_flops(architecture: dict, seq_len: int, batch_size: int) -> int | None:
    """FLOPs of one forward pass over a [batch, seq] input, or None if the shape is unknown."""
    try:
        per_token = encoder_flops_per_token(architecture["layers"], architecture["hidden_size"],
                                            architecture["intermediate_size"], seq_len)
    except (KeyError, TypeError):
        return None
    return per_token * seq_len * batch_size


def architecture_from_config(config) -> dict:
    """The encoder shape from a Hugging Face config (BERT, XLM-R, RoBERTa, e5)."""
    return {"layers": config.num_hidden_layers, "hidden_size": config.hidden_size,
            "heads": config.num_attention_heads, "intermediate_size": config.intermediate_size,
            "vocab_size": config.vocab_size}
