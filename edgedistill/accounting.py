"""Honest parameter accounting, nanoGPT style: say how much of a model is embedding table.

For a multilingual encoder most parameters are vocabulary rows that one language never uses
(82% of e5-small), so total parameters alone say little about compute.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ParamCount:
    total: int
    word_embeddings: int
    other_embeddings: int  # positions, token types, embedding LayerNorm

    @property
    def embeddings(self) -> int:
        return self.word_embeddings + self.other_embeddings

    @property
    def non_embedding(self) -> int:
        return self.total - self.embeddings

    @property
    def embedding_share(self) -> float:
        return self.embeddings / self.total if self.total else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "embeddings": self.embeddings,
                "non_embedding": self.non_embedding,
                "embedding_share": round(self.embedding_share, 4)}


def count_parameters(model) -> ParamCount:
    """Count a Hugging Face encoder's parameters, split into embeddings and the rest.

    Tied weights (an MLM decoder sharing the word embeddings) are counted once.
    """
    word = model.get_input_embeddings().weight
    seen: set[int] = set()
    total = other_embeddings = 0
    for name, param in model.named_parameters(remove_duplicate=True):
        if id(param) in seen:
            continue
        seen.add(id(param))
        total += param.numel()
        if param is not word and ".embeddings." in f".{name}":
            other_embeddings += param.numel()
    return ParamCount(total=total, word_embeddings=word.numel(), other_embeddings=other_embeddings)


def encoder_shape(config) -> dict:
    """The encoder shape from a Hugging Face config (BERT, XLM-R, RoBERTa, e5), as bundles record it.

    A head-pruned model keeps its original ``num_attention_heads`` in the config and lists the removed
    heads in ``pruned_heads``; ``heads_per_layer`` then says what each layer really computes.
    """
    shape = {"layers": config.num_hidden_layers, "hidden_size": config.hidden_size,
             "heads": config.num_attention_heads, "intermediate_size": config.intermediate_size,
             "vocab_size": config.vocab_size, "model_type": config.model_type}
    pruned_heads = getattr(config, "pruned_heads", None) or {}
    pruned = {int(layer): len(set(heads)) for layer, heads in pruned_heads.items()}
    if any(pruned.values()):
        shape["heads_per_layer"] = [config.num_attention_heads - pruned.get(layer, 0)
                                    for layer in range(config.num_hidden_layers)]
    return shape
