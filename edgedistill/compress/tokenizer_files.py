"""Rewrite a tokenizer's files so that it keeps only some of its tokens.

Kept tokens keep their relative order, so new id = rank of the old id among the kept ids. With the
special tokens at the front, as in XLM-R (<s>=0, <pad>=1, </s>=2, <unk>=3) and BERT, they keep their
ids; XLM-R's <mask>, last in the old vocabulary, is last in the new one, which is where the slow
SentencePiece tokenizer computes it to be.

``tokenizer.json`` is edited for the three model types of the ``tokenizers`` library used by
encoders (Unigram, WordPiece, BPE), and the slow-tokenizer files are written where the original had
them: ``sentencepiece.bpe.model`` (edited piece by piece, so that its normaliser and the fairseq
offset stay as they were), ``vocab.txt``, ``vocab.json`` + ``merges.txt``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistill.errors import EdgedistillError

FAMILY_OF_MODEL_TYPE = {"Unigram": "unigram", "WordPiece": "wordpiece", "BPE": "bpe"}
SENTENCEPIECE_SUFFIX = ".model"


class TokenizerFilesError(EdgedistillError):
    """A tokenizer cannot be trimmed (unknown kind, missing tokenizer.json, inconsistent files)."""


@dataclass(frozen=True)
class TokenizerModel:
    """What the trimming needs to know about a fast tokenizer's model, read from tokenizer.json."""

    family: str  # unigram, wordpiece or bpe
    data: dict[str, Any]  # the whole tokenizer.json

    @property
    def model(self) -> dict[str, Any]:
        return self.data["model"]

    @property
    def byte_level(self) -> bool:
        return "ByteLevel" in json.dumps(self.data.get("pre_tokenizer"))

    @property
    def subword_prefix(self) -> str:
        return self.model.get("continuing_subword_prefix") or ""

    @property
    def word_suffix(self) -> str:
        return self.model.get("end_of_word_suffix") or ""

    def unigram_scores(self) -> list[float]:
        return [score for _, score in self.model["vocab"]]

    def merges(self) -> list[tuple[str, str]]:
        """BPE merges as pairs, whichever of the two tokenizer.json spellings the file uses."""
        return [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in self.model["merges"]]

    def merge_result(self, left: str, right: str) -> str:
        if self.subword_prefix and right.startswith(self.subword_prefix):
            right = right[len(self.subword_prefix):]
        return left + right


def read_tokenizer_model(tokenizer) -> TokenizerModel:
    """Parse a Hugging Face fast tokenizer's ``tokenizer.json``."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise TokenizerFilesError(f"{type(tokenizer).__name__} is a slow tokenizer; vocabulary trimming "
                                  f"needs a fast tokenizer with a tokenizer.json")
    data = json.loads(backend.to_str())
    model_type = data["model"]["type"]
    if model_type not in FAMILY_OF_MODEL_TYPE:
        raise TokenizerFilesError(f"tokenizer model type {model_type!r} is not supported; supported: "
                                  f"{', '.join(FAMILY_OF_MODEL_TYPE)}")
    return TokenizerModel(FAMILY_OF_MODEL_TYPE[model_type], data)


def write_trimmed_tokenizer(tokenizer, kept_ids: list[int], out_dir: Path,
                            parsed: TokenizerModel | None = None):
    """Save ``tokenizer`` restricted to ``kept_ids`` (sorted old ids) in ``out_dir`` and load it back."""
    id_map = {old: new for new, old in enumerate(kept_ids)}
    source = out_dir.parent / f".{out_dir.name}-original"
    tokenizer.save_pretrained(source)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        parsed = parsed or read_tokenizer_model(tokenizer)
        trimmed = trim_tokenizer_json(parsed, id_map)
        (out_dir / "tokenizer.json").write_text(json.dumps(trimmed, ensure_ascii=False), encoding="utf-8")
        _write_tokenizer_config(source, out_dir, id_map)
        _copy_if_present(source / "special_tokens_map.json", out_dir)
        _write_slow_files(source, out_dir, TokenizerModel(parsed.family, trimmed),
                          set(tokenizer.convert_ids_to_tokens(kept_ids)))
    finally:
        shutil.rmtree(source, ignore_errors=True)
    return type(tokenizer).from_pretrained(out_dir)


def trim_tokenizer_json(parsed: TokenizerModel, id_map: dict[int, int]) -> dict[str, Any]:
    data = {**parsed.data}  # the model and post-processor are replaced below, not edited
    data["model"] = {"unigram": _trim_unigram, "wordpiece": _trim_wordpiece,
                     "bpe": _trim_bpe}[parsed.family](parsed, id_map)
    data["added_tokens"] = [{**token, "id": _remap(id_map, token["id"], f"added token {token['content']!r}")}
                            for token in data.get("added_tokens") or []]
    if data.get("post_processor"):
        data["post_processor"] = _remap_post_processor(data["post_processor"], id_map)
    return data


def _trim_unigram(parsed: TokenizerModel, id_map: dict[int, int]) -> dict[str, Any]:
    model = dict(parsed.model)
    model["vocab"] = [entry for old, entry in enumerate(parsed.model["vocab"]) if old in id_map]
    if model.get("unk_id") is not None:
        model["unk_id"] = _remap(id_map, model["unk_id"], "the Unigram unk_id")
    return model


def _trim_wordpiece(parsed: TokenizerModel, id_map: dict[int, int]) -> dict[str, Any]:
    model = dict(parsed.model)
    model["vocab"] = {token: id_map[old] for token, old in parsed.model["vocab"].items() if old in id_map}
    return model


def _trim_bpe(parsed: TokenizerModel, id_map: dict[int, int]) -> dict[str, Any]:
    model = dict(parsed.model)
    vocab = {token: id_map[old] for token, old in parsed.model["vocab"].items() if old in id_map}
    # A merge survives only if both inputs and its result survive; the vocabulary choice keeps
    # every kept token's merge inputs (see vocab.py), so kept text tokenizes as before.
    kept_merges = [pair for pair in parsed.merges()
                   if pair[0] in vocab and pair[1] in vocab and parsed.merge_result(*pair) in vocab]
    model["vocab"] = vocab
    model["merges"] = [list(pair) for pair in kept_merges]
    return model


def _remap(id_map: dict[int, int], old: int, what: str) -> int:
    if old not in id_map:
        raise TokenizerFilesError(f"{what} (id {old}) is not among the kept tokens")
    return id_map[old]


def _remap_post_processor(processor: dict[str, Any], id_map: dict[int, int]) -> dict[str, Any]:
    processor = dict(processor)
    kind = processor.get("type")
    if kind == "Sequence":
        processor["processors"] = [_remap_post_processor(p, id_map) for p in processor["processors"]]
    elif kind == "TemplateProcessing":
        processor["special_tokens"] = {
            name: {**spec, "ids": [_remap(id_map, i, f"post-processor token {name!r}") for i in spec["ids"]]}
            for name, spec in processor["special_tokens"].items()}
    elif kind in ("RobertaProcessing", "BertProcessing"):
        for key in ("sep", "cls"):
            token, old = processor[key]
            processor[key] = [token, _remap(id_map, old, f"post-processor token {token!r}")]
    return processor


def _write_tokenizer_config(source: Path, out_dir: Path, id_map: dict[int, int]) -> None:
    path = source / "tokenizer_config.json"
    if not path.is_file():
        return
    config = json.loads(path.read_text(encoding="utf-8"))
    decoder = config.get("added_tokens_decoder") or {}
    config["added_tokens_decoder"] = {
        str(_remap(id_map, int(old), f"added token {spec.get('content')!r}")): spec
        for old, spec in decoder.items()}
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False),
                                                    encoding="utf-8")


def _copy_if_present(path: Path, out_dir: Path) -> None:
    if path.is_file():
        shutil.copy2(path, out_dir / path.name)


def _write_slow_files(source: Path, out_dir: Path, trimmed: TokenizerModel, kept_tokens: set[str]) -> None:
    sentencepiece_files = sorted(source.glob(f"*{SENTENCEPIECE_SUFFIX}"))
    for path in sentencepiece_files:
        _write_trimmed_sentencepiece(path, out_dir / path.name, kept_tokens)
    if (source / "vocab.txt").is_file():
        by_id = sorted(trimmed.model["vocab"].items(), key=lambda item: item[1])
        (out_dir / "vocab.txt").write_text("".join(f"{token}\n" for token, _ in by_id), encoding="utf-8")
    if (source / "vocab.json").is_file():
        (out_dir / "vocab.json").write_text(json.dumps(trimmed.model["vocab"], ensure_ascii=False),
                                            encoding="utf-8")
    if (source / "merges.txt").is_file():
        lines = ["#version: 0.2"] + [f"{left} {right}" for left, right in trimmed.merges()]
        (out_dir / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_trimmed_sentencepiece(source: Path, dest: Path, kept_tokens: set[str]) -> None:
    """Drop the normal pieces that were not kept; control and unknown pieces always stay.

    The slow XLM-R tokenizer maps a piece to ``piece id + fairseq offset`` and puts <mask> after the
    last piece, so keeping the pieces' order keeps slow and fast ids in step.
    """
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(source.read_bytes())
    normal = sentencepiece_model_pb2.ModelProto.SentencePiece.NORMAL
    kept = [p for p in proto.pieces if p.type != normal or p.piece in kept_tokens]
    del proto.pieces[:]
    proto.pieces.extend(kept)
    proto.trainer_spec.vocab_size = len(kept)
    dest.write_bytes(proto.SerializeToString())
