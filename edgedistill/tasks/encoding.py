"""Examples to model inputs, with sub-word label alignment done right.

Token classification labels the first sub-word of each word and gives every other position
(later sub-words, special tokens, padding) the label -100, which the loss and the metrics ignore.
Each encoded sentence remembers which words kept a labelled position, so that predictions map back
to words exactly and words cut off by ``max_length`` count as predicted "O", not as absent.
Only a tokenizer object is needed here: no torch import.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgedistill.errors import EdgedistillError
from edgedistill.tasks.readers import PairExample, TextExample, TokenExample

IGNORE_INDEX = -100


@dataclass
class Encoded:
    """Model inputs, one dict per example, and for token tasks the word behind each label."""

    features: list[dict]
    kept_words: list[list[int]] | None = None
    truncated_words: int = 0


def align_labels_to_subwords(word_ids: list[int | None], word_labels: list[int]) -> list[int]:
    """The first sub-word of each word gets the word's label; every other position -100."""
    labels, previous = [], None
    for word in word_ids:
        labels.append(IGNORE_INDEX if word is None or word == previous else word_labels[word])
        previous = word
    return labels


def encode_text_examples(examples: list[TextExample], tokenizer, label2id: dict[str, int] | None,
                         max_length: int, prefix: str = "") -> Encoded:
    texts = [prefix + e.text for e in examples]
    pairs = [prefix + e.text_pair for e in examples] if examples and examples[0].text_pair else None
    batch = tokenizer(texts, pairs, truncation=True, max_length=max_length)
    features = _split_batch(batch, len(examples))
    if label2id is not None:
        for feature, example in zip(features, examples, strict=True):
            feature["labels"] = label2id[example.label]
    return Encoded(features)


def encode_pair_texts(examples: list[PairExample], tokenizer, max_length: int, prefix: str = ""
                      ) -> tuple[Encoded, Encoded]:
    """The two sides of similarity pairs, encoded separately for embedding each."""
    first = tokenizer([prefix + e.text for e in examples], truncation=True, max_length=max_length)
    second = tokenizer([prefix + e.text_pair for e in examples], truncation=True, max_length=max_length)
    return Encoded(_split_batch(first, len(examples))), Encoded(_split_batch(second, len(examples)))


def encode_token_examples(examples: list[TokenExample], tokenizer, label2id: dict[str, int],
                          max_length: int, prefix: str = "") -> Encoded:
    """Words to sub-words; an optional prefix becomes one extra unlabelled word in front."""
    if not getattr(tokenizer, "is_fast", False):
        raise EdgedistillError("token classification needs a fast tokenizer (a tokenizer.json) to map "
                               "sub-words back to words")
    lead = [prefix.strip()] if prefix.strip() else []
    words = [lead + list(e.tokens) for e in examples]
    batch = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
    features = _split_batch(batch, len(examples))
    kept_words, truncated = [], 0
    for index, (feature, example) in enumerate(zip(features, examples, strict=True)):
        word_labels = [IGNORE_INDEX] * len(lead) + [label2id[tag] for tag in example.tags]
        feature["labels"] = align_labels_to_subwords(batch.word_ids(index), word_labels)
        kept = _labelled_words(batch.word_ids(index), len(lead))
        kept_words.append(kept)
        truncated += len(example.tokens) - len(kept)
    return Encoded(features, kept_words, truncated)


def _labelled_words(word_ids: list[int | None], offset: int) -> list[int]:
    kept, previous = [], None
    for word in word_ids:
        if word is not None and word != previous and word >= offset:
            kept.append(word - offset)
        previous = word
    return kept


def _split_batch(batch, count: int) -> list[dict]:
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch]
    return [{key: batch[key][i] for key in keys} for i in range(count)]


def words_from_predictions(label_rows: list[list[int]], predicted_rows, kept_words: list[list[int]],
                           word_counts: list[int], id2label: dict[int, str], fill: str = "O"
                           ) -> list[list[str]]:
    """Per-word predicted tags from per-position predictions.

    ``label_rows`` are the encoded labels (-100 where ignored); the labelled positions are, in order,
    the words in ``kept_words``. Words without a position (cut off by max_length) get ``fill``.
    """
    sentences = []
    for labels, predicted, kept, count in zip(label_rows, predicted_rows, kept_words, word_counts,
                                              strict=True):
        tags = [fill] * count
        positions = [p for p, label in enumerate(labels) if label != IGNORE_INDEX]
        for position, word in zip(positions, kept, strict=True):
            tags[word] = id2label[int(predicted[position])]
        sentences.append(tags)
    return sentences
