"""Text to model inputs, the same way everywhere in the export stage.

An ``Encoder`` maps a list of texts to one padded batch of NumPy inputs named as in the ONNX graph.
It can come from a Hugging Face tokenizer (at export time) or from a bundle's ``tokenizer.json``
(when quantizing a bundle, where no Hugging Face directory may be at hand); both truncate to
``max_length`` with the special tokens kept, as the runtime does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

Feeds = dict[str, np.ndarray]
Encoder = Callable[[Sequence[str]], Feeds]
PAD_TOKENS = ("<pad>", "[PAD]")


def hf_encoder(tokenizer, input_names: Sequence[str], *, max_length: int, prefix: str = "") -> Encoder:
    names = list(input_names)

    def encode(texts: Sequence[str]) -> Feeds:
        encoded = tokenizer([prefix + text for text in texts], padding=True, truncation=True,
                            max_length=max_length, return_tensors="np")
        return {name: _input(encoded, name) for name in names}

    return encode


def _input(encoded, name: str) -> np.ndarray:
    if name == "token_type_ids" and name not in encoded:
        return np.zeros_like(np.asarray(encoded["input_ids"]), dtype=np.int64)
    return np.asarray(encoded[name], dtype=np.int64)


def file_encoder(tokenizer_json: str | Path, input_names: Sequence[str], *, max_length: int,
                 prefix: str = "", pad_id: int | None = None) -> Encoder:
    """An encoder over a ``tokenizer.json`` (the tokenizers library only, no transformers)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    if pad_id is None:
        pad_id = next((tokenizer.token_to_id(t) for t in PAD_TOKENS if tokenizer.token_to_id(t) is not None),
                      0)
    tokenizer.enable_truncation(max_length)
    tokenizer.enable_padding(pad_id=pad_id, pad_token=tokenizer.id_to_token(pad_id) or "<pad>")
    names = list(input_names)

    def encode(texts: Sequence[str]) -> Feeds:
        encodings = tokenizer.encode_batch([prefix + text for text in texts])
        columns = {"input_ids": [e.ids for e in encodings],
                   "attention_mask": [e.attention_mask for e in encodings],
                   "token_type_ids": [e.type_ids for e in encodings]}
        return {name: np.asarray(columns[name], dtype=np.int64) for name in names}

    return encode


def batches_of(encode: Encoder, texts: Sequence[str], batch_size: int = 16, *,
               sort_by_length: bool = False) -> list[Feeds]:
    """Encode ``texts`` in batches (optionally grouped by length so padding stays short)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i])) if sort_by_length \
        else list(range(len(texts)))
    return [encode([texts[i] for i in order[start : start + batch_size]])
            for start in range(0, len(order), batch_size)]
