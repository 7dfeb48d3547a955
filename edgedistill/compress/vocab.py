"""Vocabulary trimming: keep the tokens a target language uses, drop the rest of the embedding table.

A multilingual encoder's embedding table is most of its parameters (82% of multilingual-e5-small,
93% of a Comet-shaped student), and one language uses a small part of it. ``VocabularyTrimmer``
counts token frequencies on target-language text, chooses a vocabulary (a target size such as 40k,
or a coverage share of the text's tokens), rewrites the tokenizer's files, gathers the matching rows
of the input embeddings and of any MLM decoder (tied or not, with its bias), and updates the config.

Kept tokens keep their relative order, so specials at the front keep their ids (XLM-R pad = 1,
which RoBERTa-style position ids depend on). On text whose tokens were all kept, the trimmed
tokenizer produces the same tokens (Unigram's best segmentation uses only kept pieces; WordPiece's
longest match is still the longest; BPE keeps every merge that builds a kept token) and the model
the same outputs.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistill.compress.report import CompressionReport
from edgedistill.compress.tokenizer_files import TokenizerModel, read_tokenizer_model, write_trimmed_tokenizer
from edgedistill.config import Config, ConfigError
from edgedistill.errors import EdgedistillError

CONFIG_TOKEN_ID_FIELDS = ("pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "cls_token_id",
                          "mask_token_id", "unk_token_id")


class VocabTrimError(EdgedistillError):
    """The vocabulary cannot be trimmed as asked."""


@dataclass
class VocabTrimConfig(Config):
    """How to choose the kept vocabulary.

    target_size: the vocabulary size after trimming, special tokens included (40k is about lossless
        in Gurgurov et al.; 10-15k costs 1-2 points). Set it or ``coverage``, not both.
    coverage: the smallest vocabulary whose tokens cover this share of the text's token occurrences.
    keep_characters: also keep the single-character token of every character in the text, so that a
        word unseen in it falls back to shorter pieces rather than to <unk>.
    fill: when the text has fewer distinct tokens than ``target_size``, fill up with the tokenizer's
        own most likely tokens (Unigram score, BPE/WordPiece rank) instead of stopping short; tokens
        spelt only with characters of the text come first (Latin pieces for Hausa, not CJK ones).
    keep_tokens: tokens kept whatever their frequency.
    """

    target_size: int | None = 40_000
    coverage: float | None = None
    keep_characters: bool = True
    fill: bool = True
    keep_tokens: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, values: Any, *, where: str = "the config") -> VocabTrimConfig:
        # A coverage without a size means "no size", not the default 40k (TOML cannot write None).
        if isinstance(values, dict) and values.get("coverage") is not None and "target_size" not in values:
            values = {**values, "target_size": None}
        return super().from_dict(values, where=where)

    def validate(self) -> None:
        if (self.target_size is None) == (self.coverage is None):
            raise ConfigError("give exactly one of target_size and coverage")
        if self.target_size is not None and self.target_size < 1:
            raise ConfigError(f"target_size must be positive, not {self.target_size}")
        if self.coverage is not None and not 0 < self.coverage <= 1:
            raise ConfigError(f"coverage must be in (0, 1], not {self.coverage}")


@dataclass
class KeptVocabulary:
    """The chosen old ids (sorted) and why each group was kept."""

    ids: list[int]
    counts: Counter
    reasons: dict[str, int]

    def token_coverage(self) -> float:
        """Share of the counted token occurrences whose token was kept."""
        total = sum(self.counts.values())
        kept = set(self.ids)
        return sum(n for i, n in self.counts.items() if i in kept) / total if total else 1.0


@dataclass
class TrimResult:
    model: Any
    tokenizer: Any
    kept: KeptVocabulary
    report: CompressionReport


class VocabularyTrimmer:
    """Trim a model's vocabulary to the tokens a target language uses.

    >>> result = VocabularyTrimmer(VocabTrimConfig(target_size=40_000)).trim(model, tokenizer, texts)
    >>> result.model, result.tokenizer, result.report
    """

    def __init__(self, config: VocabTrimConfig | None = None) -> None:
        self.config = config or VocabTrimConfig()

    def choose(self, tokenizer, texts: list[str], parsed: TokenizerModel | None = None) -> KeptVocabulary:
        """Which old token ids to keep, from token frequencies on ``texts``."""
        return choose_vocabulary(tokenizer, texts, self.config, parsed)

    def trim(self, model, tokenizer, texts: list[str], *, eval_texts: list[str] | None = None,
             workdir: str | Path | None = None) -> TrimResult:
        """Trim ``model`` in place and return it with a new tokenizer and a report.

        ``eval_texts`` (held-out target-language text) add a fallback measurement to the report. The
        new tokenizer's files live in ``workdir`` (default: a directory kept until the process ends).
        """
        from edgedistill.accounting import count_parameters
        from edgedistill.compress.models import check_supported

        check_supported(model)
        check_tokenizer_fits(model, tokenizer)
        before = count_parameters(model).as_dict()
        parsed = read_tokenizer_model(tokenizer)
        kept = self.choose(tokenizer, texts, parsed)
        new_tokenizer = write_trimmed_tokenizer(tokenizer, kept.ids, _tokenizer_dir(workdir), parsed)
        check_same_tokens(tokenizer, new_tokenizer, kept.ids)
        gather_vocabulary_rows(model, kept.ids)
        remap_config_token_ids(model.config, kept.ids)
        report = CompressionReport(
            operation="trim-vocab",
            headline=f"vocabulary trimmed {len(tokenizer):,} -> {len(new_tokenizer):,} tokens",
            config=self.config.to_dict(), parameters_before=before,
            parameters_after=count_parameters(model).as_dict(),
            details=_details(parsed.family, tokenizer, new_tokenizer, kept, texts, eval_texts))
        return TrimResult(model, new_tokenizer, kept, report)

    def compress_directory(self, source: str | Path, out_dir: str | Path, texts: list[str], *,
                           held_out: list[str] | None = None, head: str = "auto",
                           overwrite: bool = False) -> CompressionReport:
        """Load a model directory (or built-in teacher), trim it on ``texts``, write ``out_dir``; return
        the report (which measures the trimmed tokenizer on ``held_out`` texts, when given)."""
        from edgedistill.compress.models import error_if_exists, load_model, save_model

        error_if_exists(out_dir, overwrite)
        loaded = load_model(source, head=head)
        with tempfile.TemporaryDirectory(prefix="edgedistill-trim-") as workdir:
            result = self.trim(loaded.model, loaded.tokenizer, texts, eval_texts=held_out,
                               workdir=Path(workdir) / "tokenizer")
            save_model(result.model, result.tokenizer, out_dir, result.report, source=loaded,
                       overwrite=overwrite)
        return result.report


def check_tokenizer_fits(model, tokenizer) -> None:
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        raise VocabTrimError(f"the tokenizer has {len(tokenizer):,} tokens but the model's embedding "
                             f"table only {rows:,} rows, so they do not belong together")


def encode_whole(tokenizer, texts: list[str]) -> list:
    """Encodings of whole ``texts``, without special tokens, padding or truncation."""
    backend = tokenizer.backend_tokenizer
    # A Hugging Face tokenizer leaves the truncation and padding of its last call set on the backend.
    truncation, padding = backend.truncation, backend.padding
    backend.no_truncation()
    backend.no_padding()
    try:
        return backend.encode_batch(texts, add_special_tokens=False)
    finally:
        if truncation:
            backend.enable_truncation(**truncation)
        if padding:
            backend.enable_padding(**padding)


def count_token_ids(tokenizer, texts: list[str]) -> Counter:
    """How often each token id occurs when ``texts`` are tokenized (special tokens not added)."""
    counts: Counter = Counter()
    for encoding in encode_whole(tokenizer, texts):
        counts.update(encoding.ids)
    return counts


def choose_vocabulary(tokenizer, texts: list[str], config: VocabTrimConfig,
                      parsed: TokenizerModel | None = None) -> KeptVocabulary:
    parsed = parsed or read_tokenizer_model(tokenizer)
    vocab = tokenizer.get_vocab()
    counts = count_token_ids(tokenizer, texts)
    characters = text_characters(tokenizer, texts)
    required = _required_ids(tokenizer, parsed, vocab, characters, config)
    if config.target_size is not None and config.target_size > len(tokenizer):
        raise VocabTrimError(f"target size {config.target_size:,} is larger than the vocabulary "
                             f"({len(tokenizer):,} tokens)")
    if config.target_size is not None and len(required) > config.target_size:
        raise VocabTrimError(f"target size {config.target_size:,} is smaller than the "
                             f"{len(required):,} tokens that must be kept (special tokens, characters)")
    builder = _VocabularyBuilder(parsed, vocab, config.target_size)
    builder.add_all(sorted(required))
    reasons = {"required": len(builder.kept)}
    by_frequency = sorted(counts, key=lambda i: (-counts[i], i))
    added = builder.add_ranked(by_frequency, counts, config.coverage)
    reasons["from_text"] = added
    if config.fill and config.target_size is not None:
        reasons["fill"] = builder.add_ranked(_fill_ranking(parsed, tokenizer, characters), None, None)
    return KeptVocabulary(sorted(builder.kept), counts, reasons)


class _VocabularyBuilder:
    """Adds tokens (with the BPE merge inputs that build them) up to a size limit."""

    def __init__(self, parsed: TokenizerModel, vocab: dict[str, int], limit: int | None) -> None:
        self.kept: set[int] = set()
        self.limit, self.vocab = limit, vocab
        self.token_of = {i: t for t, i in vocab.items()}
        self.parts: dict[str, tuple[str, str]] = {}
        if parsed.family == "bpe":
            self.parts = {parsed.merge_result(a, b): (a, b) for a, b in reversed(parsed.merges())}

    def closure(self, token_id: int) -> set[int]:
        """The token plus every merge input needed to build it that is not kept yet."""
        needed, stack = set(), [token_id]
        while stack:
            current = stack.pop()
            if current in self.kept or current in needed:
                continue
            needed.add(current)
            stack.extend(self.vocab[p] for p in self.parts.get(self.token_of[current], ()))
        return needed

    def add_all(self, ids: list[int]) -> None:
        for token_id in ids:
            self.kept |= self.closure(token_id)

    def add_ranked(self, ranked: list[int], counts: Counter | None, coverage: float | None) -> int:
        """Add tokens in rank order while they fit; stop early once ``coverage`` is reached."""
        start = len(self.kept)
        total = sum(counts.values()) if counts else 0
        covered = sum(counts[i] for i in self.kept) if counts else 0
        for token_id in ranked:
            if coverage is not None and covered >= coverage * total:
                break
            if self.limit is not None and len(self.kept) >= self.limit:
                break
            needed = self.closure(token_id)
            if self.limit is not None and len(self.kept) + len(needed) > self.limit:
                continue
            self.kept |= needed
            covered += sum(counts[i] for i in needed) if counts else 0
        return len(self.kept) - start


def _required_ids(tokenizer, parsed: TokenizerModel, vocab: dict[str, int], characters: set[str],
                  config: VocabTrimConfig) -> set[int]:
    required = set(tokenizer.all_special_ids) | set(tokenizer.added_tokens_decoder)
    missing = [t for t in config.keep_tokens if t not in vocab]
    if missing:
        raise VocabTrimError(f"keep_tokens names token(s) not in the vocabulary: {', '.join(missing[:5])}")
    required |= {vocab[t] for t in config.keep_tokens}
    if parsed.family == "unigram":
        # Unigram scores an unknown character at (lowest piece score - 10); keeping the lowest-scoring
        # piece keeps that penalty, and with it the segmentation of text with unknown characters.
        scores = parsed.unigram_scores()
        normal = [i for i in range(len(scores)) if i not in required]
        required.add(min(normal, key=lambda i: scores[i]))
    if parsed.family == "bpe" and parsed.byte_level:
        from tokenizers.pre_tokenizers import ByteLevel

        required |= {vocab[c] for c in ByteLevel.alphabet() if c in vocab}
    if config.keep_characters:
        required |= _character_ids(parsed, vocab, characters)
    return required


def text_characters(tokenizer, texts: list[str]) -> set[str]:
    """The characters of ``texts`` as the tokenizer's model sees them: normalised and pre-tokenised
    (so with SentencePiece's word-boundary mark, or in the byte-level alphabet)."""
    backend = tokenizer.backend_tokenizer
    characters: set[str] = set()
    for text in texts:
        if backend.normalizer is not None:
            text = backend.normalizer.normalize_str(text)
        pieces = backend.pre_tokenizer.pre_tokenize_str(text) if backend.pre_tokenizer else [(text, None)]
        for piece, _ in pieces:
            characters.update(piece)
    return characters


def _character_ids(parsed: TokenizerModel, vocab: dict[str, int], characters: set[str]) -> set[int]:
    """Single-character tokens (with their subword decorations) of the text's characters."""
    variants = {"", parsed.subword_prefix, "##" if parsed.family == "wordpiece" else ""}
    ids = set()
    for character in characters:
        for prefix in variants:
            for token in (prefix + character, prefix + character + parsed.word_suffix):
                if token in vocab:
                    ids.add(vocab[token])
    return ids


def _fill_ranking(parsed: TokenizerModel, tokenizer, characters: set[str]) -> list[int]:
    """The tokenizer's own notion of likely tokens (Unigram score, else id, which is BPE merge order),
    those spelt with the text's characters first."""
    if parsed.family == "unigram":
        scores = parsed.unigram_scores()
        prior = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    else:
        prior = list(range(len(tokenizer)))
    tokens = tokenizer.convert_ids_to_tokens(prior)
    in_script = [set(_undecorated(parsed, t)) <= characters for t in tokens]
    return [i for i, ok in zip(prior, in_script, strict=True) if ok] + \
        [i for i, ok in zip(prior, in_script, strict=True) if not ok]


def _undecorated(parsed: TokenizerModel, token: str) -> str:
    if parsed.family == "wordpiece" and token.startswith("##"):
        token = token[2:]
    if parsed.subword_prefix and token.startswith(parsed.subword_prefix):
        token = token[len(parsed.subword_prefix):]
    if parsed.word_suffix and token.endswith(parsed.word_suffix):
        token = token[: -len(parsed.word_suffix)]
    return token


def check_same_tokens(old_tokenizer, new_tokenizer, kept_ids: list[int]) -> None:
    """Every new id must name the token its old id named, and nothing else may exist."""
    if len(new_tokenizer) != len(kept_ids):
        raise VocabTrimError(f"the trimmed tokenizer has {len(new_tokenizer):,} tokens, expected "
                             f"{len(kept_ids):,}; the tokenizer files are inconsistent")
    old_tokens = old_tokenizer.convert_ids_to_tokens(kept_ids)
    new_tokens = new_tokenizer.convert_ids_to_tokens(list(range(len(kept_ids))))
    wrong = [(i, o, n) for i, (o, n) in enumerate(zip(old_tokens, new_tokens, strict=True)) if o != n]
    if wrong:
        raise VocabTrimError(f"{len(wrong)} trimmed token ids name other tokens, e.g. new id "
                             f"{wrong[0][0]} is {wrong[0][2]!r}, expected {wrong[0][1]!r}")


def gather_vocabulary_rows(model, kept_ids: list[int]) -> None:
    """Keep only ``kept_ids`` rows of the input embeddings and of any MLM decoder and its bias."""
    import torch
    from torch import nn

    index = torch.tensor(kept_ids, dtype=torch.long)
    embeddings = model.get_input_embeddings()
    decoder = model.get_output_embeddings()
    old_pad = embeddings.padding_idx
    new_pad = kept_ids.index(old_pad) if old_pad is not None and old_pad in kept_ids else None
    if model.config.model_type in ("roberta", "xlm-roberta") and new_pad != old_pad:
        # RoBERTa-style position ids count up from the pad id: moving it would shift every position.
        raise VocabTrimError(f"the pad token would move from id {old_pad} to {new_pad}, which changes "
                             f"{model.config.model_type} position ids; keep every token below it")
    new_embeddings = nn.Embedding.from_pretrained(embeddings.weight.detach()[index].clone(), freeze=False,
                                                  padding_idx=new_pad)
    model.set_input_embeddings(new_embeddings)
    if decoder is not None:
        tied = decoder.weight is embeddings.weight
        old_bias = decoder.bias
        new_decoder = nn.Linear(decoder.in_features, len(kept_ids), bias=old_bias is not None)
        new_decoder.weight = (new_embeddings.weight if tied
                              else nn.Parameter(decoder.weight.detach()[index].clone()))
        if old_bias is not None:
            new_decoder.bias = nn.Parameter(old_bias.detach()[index].clone())
        model.set_output_embeddings(new_decoder)
        _relink_bias(model, old_bias, new_decoder.bias)
    model.config.vocab_size = len(kept_ids)


def _relink_bias(model, old_bias, new_bias) -> None:
    # MLM heads keep the decoder bias a second time as `<head>.bias` (tied to decoder.bias).
    if old_bias is None:
        return
    for module in model.modules():
        if getattr(module, "bias", None) is old_bias:
            module.bias = new_bias


def remap_config_token_ids(config, kept_ids: list[int]) -> None:
    position = {old: new for new, old in enumerate(kept_ids)}
    for name in CONFIG_TOKEN_ID_FIELDS:
        old = getattr(config, name, None)
        if isinstance(old, int):
            if old not in position:
                raise VocabTrimError(f"config.{name} = {old} is not a kept token; keep it with keep_tokens")
            setattr(config, name, position[old])


def tokenization_fallback(old_tokenizer, new_tokenizer, texts: list[str]) -> dict[str, Any]:
    """How much of ``texts`` the trimmed tokenizer splits differently: into <unk> or shorter pieces."""
    def encode(tokenizer) -> list[list[str]]:
        return [encoding.tokens for encoding in encode_whole(tokenizer, texts)]

    if not texts:
        return {"texts": 0}
    old, new = encode(old_tokenizer), encode(new_tokenizer)
    unk = new_tokenizer.unk_token
    tokens_before, tokens_after = sum(map(len, old)), sum(map(len, new))
    return {
        "texts": len(texts),
        "texts_unchanged": round(sum(o == n for o, n in zip(old, new, strict=True)) / len(texts), 4),
        "texts_with_unk": round(sum(unk in tokens for tokens in new) / len(texts), 4),
        "unk_rate": round(sum(tokens.count(unk) for tokens in new) / max(tokens_after, 1), 6),
        "tokens_before": tokens_before,
        "tokens_after": tokens_after,
        "length_ratio": round(tokens_after / max(tokens_before, 1), 4),
    }


def _details(family: str, tokenizer, new_tokenizer, kept: KeptVocabulary, texts: list[str],
             eval_texts: list[str] | None) -> dict[str, Any]:
    details = {
        "tokenizer_family": family,
        "vocabulary_before": len(tokenizer),
        "vocabulary_after": len(new_tokenizer),
        "kept_by_reason": kept.reasons,
        "counted_texts": len(texts),
        "counted_tokens": sum(kept.counts.values()),
        "distinct_tokens_in_text": len(kept.counts),
        "kept_token_coverage": round(kept.token_coverage(), 6),
        "special_token_ids": {token: new_tokenizer.convert_tokens_to_ids(token)
                              for token in new_tokenizer.all_special_tokens},
        "fallback_on_counted_text": tokenization_fallback(tokenizer, new_tokenizer, texts),
    }
    if eval_texts:
        details["fallback_on_held_out_text"] = tokenization_fallback(tokenizer, new_tokenizer, eval_texts)
    return details


_SCRATCH: list[tempfile.TemporaryDirectory] = []


def _tokenizer_dir(workdir: str | Path | None) -> Path:
    if workdir is not None:
        return Path(workdir)
    # A fast tokenizer re-saves its slow files (sentencepiece.bpe.model) from where it was loaded,
    # so the files must outlive this call; the directory goes when the process ends.
    scratch = tempfile.TemporaryDirectory(prefix="edgedistill-trimmed-tokenizer-")
    _SCRATCH.append(scratch)
    return Path(scratch.name) / "tokenizer"
