"""Tiny encoders for fast tests and quick experiments, built in-process in about a second.

Three tokenizer families, trained on a few hundred lines of real Hausa, Swahili and Yoruba text:

* ``xlmr``: SentencePiece Unigram with XLM-R's fairseq id layout (<s>=0, <pad>=1, </s>=2, <unk>=3,
  <mask> last), saved with both ``sentencepiece.bpe.model`` and ``tokenizer.json``;
* ``bert``: WordPiece, cased like mBERT, ``vocab.txt`` and ``tokenizer.json``;
* ``bpe``: byte-level BPE as in RoBERTa, ``vocab.json`` + ``merges.txt`` and ``tokenizer.json``.

Each comes with a randomly initialised 2-layer encoder of the matching architecture (XLM-R, BERT,
RoBERTa) and any of the heads ``base``, ``mlm``, ``sequence-classification``,
``token-classification``. Nothing is downloaded.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgedistill.shared_data import raw_sentences

FAMILIES = ("xlmr", "bert", "bpe")
HEADS = ("base", "mlm", "sequence-classification", "token-classification")
SEQUENCE_LABELS = ("negative", "neutral", "positive")
TOKEN_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-DATE", "I-DATE")
MAX_LENGTH = 128


@dataclass
class TinyModel:
    family: str
    head: str
    model: object
    tokenizer: object

    def save(self, out_dir: str | Path) -> Path:
        """Write a normal Hugging Face directory that loads with ``from_pretrained``."""
        out_dir = Path(out_dir)
        self.model.save_pretrained(out_dir, safe_serialization=True)
        self.tokenizer.save_pretrained(out_dir)
        return out_dir


def fixture_texts(per_language: int = 100, languages: tuple[str, ...] = ("hau", "swa", "yor")
                  ) -> list[str]:
    """A few hundred real sentences from ../shared/data/raw/mafand."""
    texts: list[str] = []
    for lang in languages:
        texts.extend(raw_sentences(lang, limit=per_language))
    return texts


def _train_xlmr_tokenizer(texts: list[str], vocab_size: int, workdir: Path):
    import sentencepiece as spm
    from transformers import XLMRobertaTokenizerFast

    model_file = workdir / "sentencepiece.bpe.model"
    # XLM-R's SentencePiece model has <unk>=0, <s>=1, </s>=2 and no pad; the tokenizer adds
    # the fairseq offset (<s>=0, <pad>=1, </s>=2, <unk>=3, pieces from 4, <mask> last).
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_prefix=str(model_file.with_suffix("")),
        vocab_size=vocab_size, model_type="unigram", character_coverage=1.0,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, hard_vocab_limit=False,
        num_threads=1, minloglevel=2, seed_sentencepiece_size=100_000,
    )
    model_file.with_suffix(".model").rename(model_file)
    return XLMRobertaTokenizerFast(vocab_file=str(model_file), model_max_length=MAX_LENGTH)


def _train_bert_tokenizer(texts: list[str], vocab_size: int, workdir: Path):
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertTokenizerFast

    trainer = BertWordPieceTokenizer(lowercase=False, strip_accents=False)
    trainer.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=1,
                                special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    trainer.save_model(str(workdir))
    return BertTokenizerFast(vocab_file=str(workdir / "vocab.txt"), do_lower_case=False,
                             strip_accents=False, model_max_length=MAX_LENGTH)


def _train_bpe_tokenizer(texts: list[str], vocab_size: int, workdir: Path):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizerFast

    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=1,
                                special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    trainer.save_model(str(workdir))
    return RobertaTokenizerFast(vocab_file=str(workdir / "vocab.json"),
                                merges_file=str(workdir / "merges.txt"),
                                model_max_length=MAX_LENGTH)


_TRAINERS = {"xlmr": _train_xlmr_tokenizer, "bert": _train_bert_tokenizer,
             "bpe": _train_bpe_tokenizer}


def tiny_tokenizer(family: str, texts: list[str] | None = None, vocab_size: int = 800):
    """Train a fast tokenizer of ``family`` on ``texts`` (default: ``fixture_texts()``)."""
    if family not in _TRAINERS:
        raise ValueError(f"unknown tokenizer family {family!r}; choose one of {FAMILIES}")
    texts = texts if texts is not None else fixture_texts()
    workdir = Path(tempfile.mkdtemp(prefix=f"{family}-", dir=_scratch_dir()))
    tokenizer = _TRAINERS[family](texts, vocab_size, workdir)
    # Round-trip through save/load so the files a user gets are the ones tested. The files stay
    # on disk for the life of the process: a fast tokenizer re-saves its slow-tokenizer files
    # (sentencepiece.bpe.model, vocab.txt) from where it was loaded.
    tokenizer.save_pretrained(workdir / "saved")
    return type(tokenizer).from_pretrained(workdir / "saved")


_SCRATCH: list[Path] = []


def _scratch_dir() -> Path:
    if not _SCRATCH:
        path = Path(tempfile.mkdtemp(prefix="edgedistill-fixtures-"))
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        _SCRATCH.append(path)
    return _SCRATCH[0]


def _config(family: str, tokenizer, hidden_size: int, num_layers: int, num_heads: int,
            intermediate_size: int, labels: tuple[str, ...] | None):
    from transformers import BertConfig, RobertaConfig, XLMRobertaConfig

    common = dict(vocab_size=len(tokenizer), hidden_size=hidden_size,
                  num_hidden_layers=num_layers, num_attention_heads=num_heads,
                  intermediate_size=intermediate_size, pad_token_id=tokenizer.pad_token_id)
    if labels:
        common.update(id2label=dict(enumerate(labels)),
                      label2id={label: i for i, label in enumerate(labels)})
    if family == "bert":
        return BertConfig(max_position_embeddings=MAX_LENGTH, type_vocab_size=2, **common)
    # RoBERTa-style position ids start after the pad id, hence the +2.
    config_class = XLMRobertaConfig if family == "xlmr" else RobertaConfig
    return config_class(max_position_embeddings=MAX_LENGTH + 2, type_vocab_size=1,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                        **common)


def tiny_model(family: str = "xlmr", head: str = "mlm", *, texts: list[str] | None = None,
               tokenizer=None, vocab_size: int = 800, hidden_size: int = 32,
               num_layers: int = 2, num_heads: int = 4, intermediate_size: int = 64,
               labels: tuple[str, ...] | None = None, seed: int = 0) -> TinyModel:
    """A randomly initialised tiny encoder with its trained tokenizer, deterministic in ``seed``."""
    import torch
    from transformers import (
        AutoModel,
        AutoModelForMaskedLM,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
    )

    classes = {"base": AutoModel, "mlm": AutoModelForMaskedLM,
               "sequence-classification": AutoModelForSequenceClassification,
               "token-classification": AutoModelForTokenClassification}
    if head not in classes:
        raise ValueError(f"unknown head {head!r}; choose one of {HEADS}")
    if labels is None and head == "sequence-classification":
        labels = SEQUENCE_LABELS
    if labels is None and head == "token-classification":
        labels = TOKEN_LABELS
    tokenizer = tokenizer or tiny_tokenizer(family, texts, vocab_size)
    config = _config(family, tokenizer, hidden_size, num_layers, num_heads, intermediate_size,
                     labels)
    torch.manual_seed(seed)
    model = classes[head].from_config(config)
    model.eval()
    return TinyModel(family, head, model, tokenizer)

