"""What a student learns from: encoded training examples, and the collator that batches them.

Two sources: a labelled task (edgedistill.tasks readers; task-specific distillation) or raw
target-language text (task-agnostic distillation). Raw text for a masked-LM teacher or student is
masked once per example with a fixed seed (static masking, as in the original BERT), so the teacher's
outputs for an example never change and can be cached on disk across epochs and students.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import torch

from edgedistill.config import ConfigError
from edgedistill.distill.config import DataConfig, RawTextConfig
from edgedistill.distill.losses import IGNORE_INDEX
from edgedistill.tasks.task import SEQUENCE, SIMILARITY, Task, load_task, subsample

INPUT_KEYS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass
class DistillData:
    """Encoded training features and, for a task, its evaluation examples.

    ``row_mode`` says which logit rows the logit losses compare: one per example (``sequence``),
    every real token (``token``), the masked positions (``masked``), or none (a headless model).
    """

    features: list[dict]
    row_mode: str | None
    prefix: str
    task: Task | None = None
    evaluation: dict[str, list] = field(default_factory=dict)
    source: str = ""

    def fingerprint(self) -> str:
        """A hash of every training input (and masked-LM label), keying the teacher cache."""
        digest = hashlib.sha256()
        for feature in self.features:
            record = {k: list(feature[k]) for k in (*INPUT_KEYS, "labels") if k in feature
                      and not isinstance(feature[k], int)}
            digest.update(json.dumps(record, separators=(",", ":")).encode())
        digest.update(json.dumps({"row_mode": self.row_mode, "n": len(self.features)}).encode())
        return digest.hexdigest()[:20]


def build_data(config: DataConfig, tokenizer, *, head: str, max_length: int, seed: int,
               provenance: dict) -> DistillData:
    """Encode the configured data for a student with ``head`` (the teacher's head class)."""
    if config.task is not None:
        return _task_data(config, tokenizer, head, max_length, seed, provenance)
    return _raw_data(config, tokenizer, head, max_length, seed, provenance)


def _text_prefix(configured: str | None, kind: str, provenance: dict) -> str:
    from edgedistill.tasks.finetune import text_prefix_for

    return text_prefix_for(configured, kind, provenance)


def _task_data(config: DataConfig, tokenizer, head: str, max_length: int, seed: int,
               provenance: dict) -> DistillData:
    from edgedistill.tasks.encoding import encode_text_examples, encode_token_examples

    task = load_task(config.task)
    if task.kind == SIMILARITY:
        raise ConfigError("data.task is an embedding-similarity task; distillation from a task "
                                 "needs sequence or token classification")
    if head != task.kind:
        raise ConfigError(f"the teacher's head is {head!r} but data.task {task.name} is {task.kind}; "
                                 f"use a teacher fine-tuned on the task (edgedistill finetune)")
    prefix = _text_prefix(config.text_prefix, task.kind, provenance)
    train = subsample(task.split("train").examples, config.max_train_examples, seed)
    if task.kind == SEQUENCE:
        encoded = encode_text_examples(train, tokenizer, task.label2id, max_length, prefix)
    else:
        encoded = encode_token_examples(train, tokenizer, task.label2id, max_length, prefix)
    features, source = encoded.features, task.split("train").source
    if config.unlabelled is not None:
        texts, raw_source = _raw_texts(config.unlabelled)
        features += _unlabelled_features(_unseen(texts, task), task, tokenizer, max_length, prefix)
        source = f"{source} + {raw_source}"
    evaluation = evaluation_examples(task, config.max_eval_examples, seed)
    row_mode = "sequence" if task.kind == SEQUENCE else "token"
    return DistillData(_indexed(features), row_mode, prefix, task, evaluation, source=source)


def _unseen(texts: list[str], task: Task) -> list[str]:
    """``texts`` without those equal (up to spacing) to a dev or test text of ``task``."""
    def norm(text: str) -> str:
        return " ".join(text.split())

    held_out = {norm(e.text if task.kind == SEQUENCE else " ".join(e.tokens))
                for split in ("dev", "test") if split in task.splits for e in task.splits[split].examples}
    return [t for t in texts if norm(t) not in held_out]


def _unlabelled_features(texts: list[str], task: Task, tokenizer, max_length: int, prefix: str) -> list[dict]:
    """Raw sentences encoded exactly as the task's training examples, with every gold label ignored."""
    from edgedistill.tasks.encoding import encode_text_examples, encode_token_examples
    from edgedistill.tasks.readers import TextExample, TokenExample

    if task.kind == SEQUENCE:
        examples = [TextExample(text, task.labels[0], line) for line, text in enumerate(texts, 1)]
        features = encode_text_examples(examples, tokenizer, task.label2id, max_length, prefix).features
        return [{**f, "labels": IGNORE_INDEX} for f in features]
    words = [text.split() for text in texts]
    examples = [TokenExample(tuple(w), (task.labels[0],) * len(w), (line,) * len(w))
                for line, w in enumerate(words, 1)]
    features = encode_token_examples(examples, tokenizer, task.label2id, max_length, prefix).features
    return [{**f, "labels": [IGNORE_INDEX] * len(f["labels"])} for f in features]


def evaluation_examples(task: Task, limit: int | None, seed: int) -> dict[str, list]:
    """The dev and test examples a student (and its teacher) is scored on."""
    return {split: subsample(task.splits[split].examples, limit, seed)
            for split in ("dev", "test") if split in task.splits}


def _raw_data(config: DataConfig, tokenizer, head: str, max_length: int, seed: int,
              provenance: dict) -> DistillData:
    texts, source = _raw_texts(config.raw)
    texts = subsample(texts, config.max_train_examples, seed)
    prefix = _text_prefix(config.text_prefix, SEQUENCE, provenance)
    batch = tokenizer([prefix + t for t in texts], truncation=True, max_length=max_length)
    keys = [k for k in INPUT_KEYS if k in batch]
    features = [{k: list(batch[k][i]) for k in keys} for i in range(len(texts))]
    if head == "mlm":
        rng = np.random.default_rng(seed)
        replacements = np.setdiff1d(np.arange(len(tokenizer)), tokenizer.all_special_ids)
        for feature in features:
            mask_tokens(feature, tokenizer, config.mlm_probability, rng, replacements)
        return DistillData(_indexed(features), "masked", prefix, source=source)
    if head != "base":
        raise ConfigError(f"raw-text distillation needs a teacher with an MLM head or none; this "
                                 f"teacher is a {head} model: give data.task instead")
    return DistillData(_indexed(features), None, prefix, source=source)


def _raw_texts(raw: RawTextConfig) -> tuple[list[str], str]:
    from edgedistill.shared_data import DataNotFound, raw_sentences

    if raw.file:
        from pathlib import Path

        path = Path(raw.file)
        if not path.is_file():
            raise ConfigError(f"data.raw.file {path} does not exist")
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return lines[: raw.max_sentences], str(path)
    if not raw.splits:
        return raw_sentences(raw.language, limit=raw.max_sentences), f"raw/mafand/{raw.language}"
    texts, found = [], []
    for split in raw.splits:  # the splits a language has: Kinyarwanda's raw text has no train split
        try:
            texts += raw_sentences(raw.language, split=split)
            found.append(split)
        except DataNotFound:
            continue
    if not texts:
        raise ConfigError(f"no raw text for {raw.language!r} in the splits {', '.join(raw.splits)}")
    return texts[: raw.max_sentences], f"raw/mafand/{raw.language} ({'+'.join(found)})"


def mask_tokens(feature: dict, tokenizer, probability: float, rng: np.random.Generator,
                replacements: np.ndarray) -> None:
    """BERT masking in place: of the chosen non-special tokens, 80% <mask>, 10% a random token from
    ``replacements``, 10% kept.

    Every sequence with a maskable token gets at least one masked position.
    """
    ids = np.array(feature["input_ids"])
    special = np.array(tokenizer.get_special_tokens_mask(feature["input_ids"],
                                                         already_has_special_tokens=True), dtype=bool)
    candidates = np.flatnonzero(~special)
    labels = np.full(len(ids), IGNORE_INDEX)
    if len(candidates):
        chosen = candidates[rng.random(len(candidates)) < probability]
        if not len(chosen):
            chosen = rng.choice(candidates, size=1)
        labels[chosen] = ids[chosen]
        roll = rng.random(len(chosen))
        ids[chosen[roll < 0.8]] = tokenizer.mask_token_id
        random_positions = chosen[(roll >= 0.8) & (roll < 0.9)]
        ids[random_positions] = rng.choice(replacements, size=len(random_positions))
    feature["input_ids"] = ids.tolist()
    feature["labels"] = labels.tolist()


def _indexed(features: list[dict]) -> list[dict]:
    return [{**feature, "example_index": index} for index, feature in enumerate(features)]


class DistillCollator:
    """Pads a list of features into a batch; adds the cached teacher outputs when there is a cache."""

    def __init__(self, pad_token_id: int, cache=None) -> None:
        self.pad_token_id = pad_token_id
        self.cache = cache

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        length = max(len(f["input_ids"]) for f in features)
        batch = {"input_ids": _pad([f["input_ids"] for f in features], length, self.pad_token_id),
                 "attention_mask": _pad([f["attention_mask"] for f in features], length, 0)}
        if "token_type_ids" in features[0]:
            batch["token_type_ids"] = _pad([f["token_type_ids"] for f in features], length, 0)
        if "labels" in features[0]:
            labels = [f["labels"] for f in features]
            batch["labels"] = (torch.tensor(labels) if isinstance(labels[0], int)
                               else _pad(labels, length, IGNORE_INDEX))
        indices = [f["example_index"] for f in features]
        if self.cache is not None:
            batch.update(self.cache.batch(indices, length))
        return batch


def _pad(rows: list[list[int]], length: int, value: int) -> torch.Tensor:
    out = torch.full((len(rows), length), value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out

