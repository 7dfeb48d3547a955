"""The task configs: ``DataSpec`` says where a task's data is and how to read it; ``FinetuneConfig`` is
everything a fine-tuning run needs. ``edgedistill finetune --config run.toml`` and
``finetune(FinetuneConfig.load("run.toml"))`` are the same run (files are read by ``edgedistill.config``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from edgedistill.config import Config, ConfigError


@dataclass
class DataSpec(Config):
    """Where a task's data is and how to read it.

    ``dataset`` is a built-in collection under the data folder (``afrisenti``, ``masakhaner``,
    ``sib200``, ``ud-pos``; give ``language``) or a format for your own files (``csv``, ``tsv``,
    ``jsonl``, ``conll``, ``conllu``; give ``train``/``dev``/``test`` paths) or ``hf`` for a Hugging
    Face dataset (``source`` is a ``save_to_disk`` folder or a hub id; ``train``/``dev``/``test``
    are split names). Built-in paths may be overridden file by file.
    """

    dataset: str
    language: str | None = None
    kind: str | None = None  # sequence-classification / token-classification / embedding-similarity
    train: str | None = None
    dev: str | None = None
    test: str | None = None
    source: str | None = None  # hf only
    hf_config: str | None = None
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    tokens_column: str = "tokens"
    tags_column: str = "tags"
    tag_column: str = "upos"  # conllu only
    labels_file: str | None = None

    @property
    def name(self) -> str:
        return f"{self.dataset}-{self.language}" if self.language else self.dataset


@dataclass
class FinetuneConfig(Config):
    """One fine-tuning run: model, data, optimisation, and where the model goes."""

    data: DataSpec
    output_dir: str
    model: str = "e5-small"
    # int | float: a number stays as written, since to_dict() is compared as text with the config
    # saved beside the checkpoints of an interrupted run.
    epochs: int | float = 3.0
    learning_rate: int | float = 5e-5
    # the new classification head (and BERT's pooler); None: the same as learning_rate
    head_learning_rate: int | float | None = None
    batch_size: int = 32
    eval_batch_size: int = 64
    max_length: int = 128
    max_train_examples: int | None = None
    max_dev_examples: int | None = None  # dev examples used to pick the best epoch (shuffled, seeded)
    max_test_examples: int | None = None  # None: the whole test split
    warmup_ratio: int | float = 0.1
    weight_decay: int | float = 0.01
    seed: int = 42
    freeze_word_embeddings: bool = False
    class_weights: str | None = None  # "balanced": weight each class by n / (classes * n_class) in training
    text_prefix: str | None = None  # None: the model's own "query: " prefix for sentence tasks, if any
    select_best_on_dev: bool = True
    checkpoint_dir: str | None = None  # None: <output_dir>.checkpoints
    keep_checkpoints: bool = False
    threads: int | None = None
    precision: str = "fp32"  # "bf16": bfloat16 autocast (about 2x faster on CPUs with AVX-512 BF16)

    def validate(self) -> None:
        check_finetune_values(self)


PRECISIONS = ("fp32", "bf16")
_POSITIVE_INTS = ("batch_size", "eval_batch_size", "max_length")
_OPTIONAL_POSITIVE_INTS = ("max_train_examples", "max_dev_examples", "max_test_examples", "threads")
_POSITIVE_NUMBERS = ("learning_rate", "epochs")


def check_finetune_values(config: FinetuneConfig) -> None:
    """Raise ConfigError naming the first value of ``config`` with a wrong type or range."""
    def number(key: str) -> bool:
        value = getattr(config, key)
        return isinstance(value, int | float) and not isinstance(value, bool)

    for key in _POSITIVE_INTS + _OPTIONAL_POSITIVE_INTS:
        value = getattr(config, key)
        if value is None and key in _OPTIONAL_POSITIVE_INTS:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{key} must be a whole number of at least 1, not {value!r}")
    for key in _POSITIVE_NUMBERS:
        if not number(key) or not getattr(config, key) > 0:
            raise ConfigError(f"{key} must be a number above 0, not {getattr(config, key)!r}")
    if config.head_learning_rate is not None and (not number("head_learning_rate")
                                                  or not config.head_learning_rate > 0):
        raise ConfigError(f"head_learning_rate must be a number above 0, not {config.head_learning_rate!r}")
    for key in ("warmup_ratio", "weight_decay"):
        if not number(key) or not 0 <= getattr(config, key) <= 1:
            raise ConfigError(f"{key} must be a number from 0 to 1, not {getattr(config, key)!r}")
    if not isinstance(config.seed, int) or isinstance(config.seed, bool):
        raise ConfigError(f"seed must be a whole number, not {config.seed!r}")
    if config.class_weights not in (None, "balanced"):
        raise ConfigError(f"class_weights must be 'balanced' or absent, not {config.class_weights!r}")
    if config.precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, not {config.precision!r}")


# Fine-tuning keys the chain sets itself (the data comes from the task, the model from the stage before).
CHAIN_OWNED_KEYS = ("data", "output_dir", "model", "checkpoint_dir")


def check_finetune_options(options: dict[str, Any], where: str, *,
                           allowed_extra: tuple[str, ...] = ()) -> None:
    """Fine-tuning options the chain completes (FinetuneConfig keys but CHAIN_OWNED_KEYS, and
    ``allowed_extra``), checked now as FinetuneConfig checks them."""
    fields = {f.name for f in dataclasses.fields(FinetuneConfig)}
    allowed = fields - set(CHAIN_OWNED_KEYS) | set(allowed_extra)
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ConfigError(f"unknown key {where}.{unknown[0]}; it takes {', '.join(sorted(allowed))}")
    values = {k: v for k, v in options.items() if k not in CHAIN_OWNED_KEYS}
    FinetuneConfig.from_dict({**values, "data": {"dataset": "csv"}, "output_dir": ""}, where=where)
