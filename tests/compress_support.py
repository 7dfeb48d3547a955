"""Shared pieces of the compression tests: tiny tokenizers trained once, and real sentences."""

from __future__ import annotations

import functools

from edgedistill.fixtures import fixture_texts, tiny_tokenizer
from edgedistill.shared_data import raw_sentences

SLOW_FILES = {"xlmr": ("sentencepiece.bpe.model",), "bert": ("vocab.txt",),
              "bpe": ("vocab.json", "merges.txt")}


@functools.cache
def tokenizer_for(family: str):
    return tiny_tokenizer(family, fixture_texts())


@functools.cache
def hausa(split: str, limit: int) -> tuple[str, ...]:
    return tuple(raw_sentences("hau", limit=limit, split=split))


def real_sentences() -> list[str]:
    """Held-out Hausa plus Yoruba and Swahili test sentences: diacritics, punctuation, unseen words."""
    return [*hausa("test", 60), *raw_sentences("yor", limit=40, split="test"),
            *raw_sentences("swa", limit=40, split="test")]
