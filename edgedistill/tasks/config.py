"""Dataclass configs that round-trip through JSON and TOML, so the Python API and the CLI agree.

``DataSpec`` says where a task's data is and how to read it; ``FinetuneConfig`` is everything a
fine-tuning run needs. ``edgedistill finetune --config run.toml`` and
``finetune(FinetuneConfig.load("run.toml"))`` are the same run.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from edgedistill.errors import EdgedistillError
from edgedistill.toml_writer import to_toml


class ConfigError(EdgedistillError):
    """A config file or option that cannot be used."""


@dataclass
class DataSpec:
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
class FinetuneConfig:
    """One fine-tuning run: model, data, optimisation, and where the model goes."""

    data: DataSpec
    output_dir: str
    model: str = "e5-small"
    epochs: float = 3.0
    learning_rate: float = 5e-5
    head_learning_rate: float | None = None  # the new classification head (and BERT's pooler); None: the same
    batch_size: int = 32
    eval_batch_size: int = 64
    max_length: int = 128
    max_train_examples: int | None = None
    max_dev_examples: int | None = None  # dev examples used to pick the best epoch (shuffled, seeded)
    max_test_examples: int | None = None  # None: the whole test split
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    seed: int = 42
    freeze_word_embeddings: bool = False
    class_weights: str | None = None  # "balanced": weight each class by n / (classes * n_class) in training
    text_prefix: str | None = None  # None: the model's own "query: " prefix for sentence tasks, if any
    select_best_on_dev: bool = True
    checkpoint_dir: str | None = None  # None: <output_dir>.checkpoints
    keep_checkpoints: bool = False
    threads: int | None = None
    precision: str = "fp32"  # "bf16": bfloat16 autocast (about 2x faster on CPUs with AVX-512 BF16)

    def __post_init__(self) -> None:
        check_finetune_values(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, where: str = "the config") -> FinetuneConfig:
        values = dict(values)
        if "data" not in values or not isinstance(values["data"], dict):
            raise ConfigError("a fine-tuning config needs a [data] table with at least 'dataset'")
        values["data"] = _build(DataSpec, values["data"], f"[data] of {where}")
        return _build(cls, values, where)

    def save(self, path: str | Path) -> Path:
        from edgedistill.atomic import atomic_write_text

        path = Path(path)
        text = to_toml(self.to_dict()) if path.suffix == ".toml" else json.dumps(self.to_dict(), indent=2)
        atomic_write_text(path, text)
        return path

    @classmethod
    def load(cls, path: str | Path) -> FinetuneConfig:
        return cls.from_dict(read_config_file(path), where=str(path))


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


def _build(cls, values: dict, where: str):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} in {where}; known keys are {', '.join(sorted(known))}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"incomplete {where}: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"{exc} (in {where})") from None


def read_config_file(path: str | Path) -> dict:
    """A JSON or TOML file as a dict, with one-sentence errors."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text ({exc.reason} at "
                          f"offset {exc.start})") from None
    try:
        if path.suffix == ".toml":
            import tomllib

            return tomllib.loads(text)
        return json.loads(text)
    except ImportError:
        raise ConfigError("reading TOML configs needs Python 3.11 or newer; use a .json config") from None
    except ValueError as exc:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise ConfigError(f"config file {path} is not valid {path.suffix[1:].upper()}: {exc}") from None
