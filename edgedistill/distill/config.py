"""A distillation run as dataclasses that round-trip through TOML, so the Python API and the CLI agree.

A recipe file states the whole run: the teacher, the data, the student's shape and initialisation,
the loss terms with their weights, the schedule, and what comes after (pruning, hidden-size
reduction, a second round, vocabulary trimming). ``DistillConfig.load("comet.toml")`` and
``edgedistill distill comet`` read the same file; ``DistillConfig.to_toml()`` writes it back.

Layer numbers in a config count from 1 (the first transformer layer) to N (the last); negative
numbers count from the end (-1 is the last layer), and for hidden states 0 is the embedding output.
Every unknown key and every bad value is an error that names the key, e.g. ``losses[2].temperature``.

Standard library only: reading a recipe needs no torch.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from edgedistill.errors import EdgedistillError
from edgedistill.tasks.config import DataSpec
from edgedistill.toml_writer import to_toml


class DistillConfigError(EdgedistillError):
    """A distillation config or recipe that cannot be used; the message names the key."""


# ---------------------------------------------------------------- the parts of a run

@dataclass
class TeacherConfig:
    """The teacher: a built-in name (``e5-small``), a model directory, or a hub id.

    ``head`` picks the model class: ``auto`` reads it from the directory's config.json (a fine-tuned
    classifier loads as one), else ``base``, ``mlm``, ``sequence-classification`` or
    ``token-classification``. ``finetune`` holds ``FinetuneConfig`` keys (``epochs``,
    ``max_train_examples``, ...) for ``edgedistill run``, which fine-tunes a teacher on ``[data.task]``
    first when it is not fine-tuned for that task yet; ``edgedistill distill`` does not use it.
    """

    model: str = "e5-small"
    head: str = "auto"
    # Left out of to_dict() when empty, so that configs written before it existed stay equal and
    # their checkpoints (compared through run-config.json) still resume.
    finetune: dict[str, Any] = field(default_factory=dict, metadata={"omit_if_empty": True})

    def validate(self, where: str) -> None:
        _choice(self.head, ("auto", "base", "mlm", "sequence-classification", "token-classification"),
                f"{where}.head")
        from edgedistill.tasks.config import FinetuneConfig

        allowed = {f.name for f in dataclasses.fields(FinetuneConfig)} - set(CHAIN_OWNED_FINETUNE_KEYS)
        unknown = sorted(set(self.finetune) - allowed)
        if unknown:
            raise DistillConfigError(f"unknown key {where}.finetune.{unknown[0]}; it takes "
                                     f"{', '.join(sorted(allowed))}")
        check_finetune_values_of(self.finetune, f"{where}.finetune")


# Fine-tuning keys the chain sets itself (the data comes from [data.task], the model from [teacher]).
CHAIN_OWNED_FINETUNE_KEYS = ("data", "output_dir", "model", "checkpoint_dir")


def check_finetune_values_of(values: dict[str, Any], where: str) -> None:
    """The values of a fine-tuning table, checked when the recipe loads as FinetuneConfig checks them."""
    from edgedistill.tasks.config import ConfigError, DataSpec, FinetuneConfig

    known = {f.name for f in dataclasses.fields(FinetuneConfig)} - set(CHAIN_OWNED_FINETUNE_KEYS)
    try:
        FinetuneConfig(DataSpec("csv"), "", **{k: v for k, v in values.items() if k in known})
    except ConfigError as exc:
        raise DistillConfigError(f"{where}: {exc}") from None


@dataclass
class RawTextConfig:
    """Unlabelled target-language text (MAFAND): for task-agnostic distillation, or added to a task."""

    language: str = "hau"
    max_sentences: int | None = 20_000
    file: str | None = None  # one sentence a line, instead of the built-in raw text
    # MAFAND splits to read, in order (its splits are all unlabelled text here); empty: train, else the first
    splits: list[str] = field(default_factory=list, metadata={"omit_if_empty": True})

    def validate(self, where: str) -> None:
        _positive_or_none(self.max_sentences, f"{where}.max_sentences")
        unknown = sorted(set(self.splits) - {"train", "dev", "test"})
        if unknown:
            raise DistillConfigError(f"{where}.splits: no split {unknown[0]!r}; MAFAND has train, dev, test")


@dataclass
class DataConfig:
    """What the student learns from: a labelled task, or raw text (exactly one of the two).

    With ``task`` the teacher is normally fine-tuned on it and the student matches its class logits
    (task-specific distillation); the student is scored on the task's dev and test splits. With
    ``raw`` the student matches a general teacher (MLM logits, hidden states, attention).
    ``unlabelled`` (with ``task``) adds raw target-language text to the task's training examples: the
    teacher labels it, the gold-label term skips it; sentences equal to a dev or test text are dropped.
    """

    task: DataSpec | None = None
    raw: RawTextConfig | None = None
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    text_prefix: str | None = None  # None: the teacher's own "query: " prefix for sentence inputs
    mlm_probability: float = 0.15  # raw text with an MLM teacher or student: share of tokens masked
    unlabelled: RawTextConfig | None = field(default=None, metadata={"omit_if_empty": True})

    def validate(self, where: str) -> None:
        if (self.task is None) == (self.raw is None):
            raise DistillConfigError(f"{where} needs exactly one of [{where}.task] (a labelled task) and "
                                     f"[{where}.raw] (unlabelled text)")
        if self.raw is not None:
            self.raw.validate(f"{where}.raw")
        if self.unlabelled is not None:
            if self.task is None:
                raise DistillConfigError(f"[{where}.unlabelled] adds raw text to a task's training examples; "
                                         f"it needs [{where}.task]")
            self.unlabelled.validate(f"{where}.unlabelled")
        _positive_or_none(self.max_train_examples, f"{where}.max_train_examples")
        _positive_or_none(self.max_eval_examples, f"{where}.max_eval_examples")
        if not 0.0 < self.mlm_probability < 1.0:
            raise DistillConfigError(f"{where}.mlm_probability must be between 0 and 1, got "
                                     f"{self.mlm_probability}")


STUDENT_INITS = ("fresh", "teacher-layers", "reduce-hidden", "pretrained")
LAYER_CHOICES = ("every-other", "last")
EMBEDDING_INITS = ("random", "copy", "project")
REDUCTION_METHODS = ("svd", "truncate")


@dataclass
class StudentConfig:
    """How the student is made.

    * ``fresh``: a new model of the teacher's family with ``num_layers``/``hidden_size``/``num_heads``/
      ``intermediate_size`` (each defaults to the teacher's), randomly initialised; ``embeddings`` is
      ``random``, ``copy`` (same width as the teacher) or ``project`` (the teacher's embedding
      table projected onto its top principal directions).
    * ``teacher-layers``: keep some of the teacher's layers with their weights: ``layers`` is
      ``every-other`` (2nd, 4th, ... ending on the top layer), ``last`` (the last ``num_layers``)
      or a list of layer numbers (1 = first).
    * ``reduce-hidden``: the teacher itself with its hidden size cut to ``hidden_size`` by
      ``method`` (``svd`` or ``truncate``), via edgedistill.compress.
    * ``pretrained``: the model at ``path`` as it is.
    """

    init: str = "fresh"
    num_layers: int | None = None
    hidden_size: int | None = None
    num_heads: int | None = None
    intermediate_size: int | None = None
    embeddings: str = "random"
    layers: str | list[int] = "every-other"
    method: str = "svd"
    path: str | None = None

    def validate(self, where: str) -> None:
        _choice(self.init, STUDENT_INITS, f"{where}.init")
        _choice(self.embeddings, EMBEDDING_INITS, f"{where}.embeddings")
        _choice(self.method, REDUCTION_METHODS, f"{where}.method")
        for name in ("num_layers", "hidden_size", "num_heads", "intermediate_size"):
            _positive_or_none(getattr(self, name), f"{where}.{name}")
        if isinstance(self.layers, str):
            _choice(self.layers, LAYER_CHOICES, f"{where}.layers")
        elif not self.layers or any(n < 1 for n in self.layers):
            raise DistillConfigError(f"{where}.layers must be 'every-other', 'last' or a non-empty list of "
                                     f"layer numbers counted from 1, got {self.layers}")
        if self.init == "teacher-layers" and self.layers == "last" and self.num_layers is None:
            raise DistillConfigError(f"{where}.num_layers is needed with layers = 'last'")
        if self.init == "reduce-hidden" and self.hidden_size is None:
            raise DistillConfigError(f"{where}.hidden_size is needed with init = 'reduce-hidden'")
        if self.init == "pretrained" and not self.path:
            raise DistillConfigError(f"{where}.path is needed with init = 'pretrained'")
        if self.hidden_size and self.num_heads and self.hidden_size % self.num_heads:
            raise DistillConfigError(f"{where}.hidden_size ({self.hidden_size}) must be a multiple of "
                                     f"{where}.num_heads ({self.num_heads})")


# ---------------------------------------------------------------- loss terms

@dataclass
class LossTerm:
    """One weighted term of the objective; ``type`` picks which."""

    type: ClassVar[str] = ""
    weight: float = 1.0

    def validate(self, where: str) -> None:
        if self.weight < 0:
            raise DistillConfigError(f"{where}.weight must be >= 0, got {self.weight}")


@dataclass
class KLTerm(LossTerm):
    """KL(teacher || student) on logits softened by ``temperature``, times temperature squared."""

    type: ClassVar[str] = "kl"
    temperature: float = 1.0

    def validate(self, where: str) -> None:
        super().validate(where)
        if self.temperature <= 0:
            raise DistillConfigError(f"{where}.temperature must be > 0, got {self.temperature}")


@dataclass
class LogitMSETerm(LossTerm):
    """Mean squared error between student and teacher logits."""

    type: ClassVar[str] = "logit-mse"


@dataclass
class MLMTerm(LossTerm):
    """The student's own masked-language-model loss on the masked tokens (raw text, MLM student)."""

    type: ClassVar[str] = "mlm"


@dataclass
class LabelTerm(LossTerm):
    """Cross-entropy of the student's predictions against the task's gold labels."""

    type: ClassVar[str] = "labels"


@dataclass
class AttentionTerm(LossTerm):
    """MSE between head-averaged attention maps, for each [teacher_layer, student_layer] pair.

    Maps of the same tokenizer have the same [L, L] shape and are matched directly: there is no
    L^2 x L^2 projection. ``mix_teacher_layers`` learns, for each student layer, a softmax mixture
    over all teacher layers (a projection over the small layer axis only), started on the stated pair.
    """

    type: ClassVar[str] = "attention"
    layers: list[list[int]] = field(default_factory=lambda: [[-1, -1]])
    mix_teacher_layers: bool = False

    def validate(self, where: str) -> None:
        super().validate(where)
        _layer_pairs(self.layers, f"{where}.layers", allow_zero=False)


@dataclass
class HiddenTerm(LossTerm):
    """MSE or cosine distance between hidden states of [teacher_layer, student_layer] pairs.

    When the widths differ, a learned linear map (trained with the student) takes the student's
    states to the teacher's width. Layer 0 is the embedding output.
    """

    type: ClassVar[str] = "hidden"
    layers: list[list[int]] = field(default_factory=lambda: [[-1, -1]])
    metric: str = "mse"

    def validate(self, where: str) -> None:
        super().validate(where)
        _layer_pairs(self.layers, f"{where}.layers", allow_zero=True)
        _choice(self.metric, ("mse", "cosine"), f"{where}.metric")


LOSS_TERMS: dict[str, type[LossTerm]] = {
    t.type: t for t in (KLTerm, LogitMSETerm, MLMTerm, LabelTerm, AttentionTerm, HiddenTerm)}


# ---------------------------------------------------------------- schedule and what follows

PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class TrainingConfig:
    """The schedule and the machinery: Hugging Face Trainer settings plus the teacher cache.

    ``cache_teacher`` runs the teacher once over the training data and keeps what the losses need
    (the top ``top_k`` logits per position, the chosen attention maps and hidden states) on disk
    under ``cache_dir`` (default: ``$EDGEDISTILL_CACHE/teacher-outputs``); later epochs and later
    students of the same teacher and data read it instead of running the teacher.
    """

    epochs: float = 3.0
    max_steps: int | None = None
    learning_rate: float = 5e-4
    batch_size: int = 32
    gradient_accumulation_steps: int = 1
    max_length: int = 128
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    seed: int = 42
    precision: str = "fp32"
    logging_steps: int = 50
    save_steps: int | None = None  # None: a checkpoint at the end of each epoch
    save_total_limit: int = 2
    eval_batch_size: int = 64
    freeze_word_embeddings: bool = False
    cache_teacher: bool = False
    cache_dir: str | None = None
    top_k: int = 64
    threads: int | None = None
    keep_checkpoints: bool = False
    group_by_length: bool = True

    def validate(self, where: str) -> None:
        _choice(self.precision, PRECISIONS, f"{where}.precision")
        for name in ("batch_size", "gradient_accumulation_steps", "logging_steps", "save_total_limit",
                     "eval_batch_size", "top_k"):
            _positive_or_none(getattr(self, name), f"{where}.{name}")
        for name in ("max_steps", "save_steps", "threads"):
            _positive_or_none(getattr(self, name), f"{where}.{name}")
        if self.epochs <= 0:
            raise DistillConfigError(f"{where}.epochs must be > 0, got {self.epochs}")
        if self.learning_rate <= 0:
            raise DistillConfigError(f"{where}.learning_rate must be > 0, got {self.learning_rate}")
        if self.max_length < 8:
            raise DistillConfigError(f"{where}.max_length must be at least 8, got {self.max_length}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise DistillConfigError(f"{where}.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")


NEXT_STEPS = {
    "prune-ffn": "structured FFN pruning by first-order importance (edgedistill.compress)",
    "prune-heads": "attention-head pruning by importance (edgedistill.compress)",
    "reduce-hidden": "hidden-size reduction by truncation or SVD (edgedistill.compress)",
    "trim-vocab": "vocabulary trimming to the target language's tokens (edgedistill.compress)",
    "distill": "another distillation round, the previous step's model as teacher",
    "finetune": "fine-tune the result on a task (edgedistill.tasks)",
    "export": "ONNX export and INT8 quantization (edgedistill.export)",
    "bench": "benchmark the bundles against the teacher (edgedistill.benchmarks)",
}
# The options of a "distill" step: tables that replace the same tables of the run it follows.
DISTILL_STEP_KEYS = ("student", "losses", "training", "data", "name", "description")


@dataclass
class NextStep:
    """One step after this run, in order; its options sit in the same TOML table as ``step``.

    Steps are carried out by the pipeline that chains runs; a ``distill`` step's options are the
    tables (``student``, ``losses``, ``training``, ``data``) that differ from this run's.
    """

    step: str
    options: dict[str, Any] = field(default_factory=dict)

    def validate(self, where: str) -> None:
        _choice(self.step, tuple(NEXT_STEPS), f"{where}.step")
        if self.step == "distill":
            unknown = sorted(set(self.options) - set(DISTILL_STEP_KEYS))
            if unknown:
                raise DistillConfigError(f"unknown key {where}.{unknown[0]}; a distill step takes "
                                         f"{', '.join(DISTILL_STEP_KEYS)}")
        elif self.step in COMPRESS_STEP_CONFIGS:
            _check_compress_options(self, where)
        elif self.step == "finetune":
            check_finetune_values_of(self.options, where)


# The compression config each step's options must fit, and the extra keys that say which text the
# step reads (target-language raw text and/or files, as edgedistill.compress.text.gather_texts).
COMPRESS_STEP_CONFIGS = {
    "trim-vocab": ("edgedistill.compress.vocab", "VocabTrimConfig"),
    "prune-ffn": ("edgedistill.compress.pruning", "PruneConfig"),
    "prune-heads": ("edgedistill.compress.pruning", "PruneConfig"),
    "reduce-hidden": ("edgedistill.compress.hidden", "HiddenReduceConfig"),
}
# Where a compression step's text comes from: raw text of languages, files, and (task_text = true) the
# training texts of the task the model was trained on, as the model reads them.
TEXT_SOURCE_KEYS = ("languages", "files", "max_sentences", "task_text")


def _check_compress_options(step: NextStep, where: str) -> None:
    import importlib

    module_name, class_name = COMPRESS_STEP_CONFIGS[step.step]
    config_class = getattr(importlib.import_module(module_name), class_name)
    fields = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(step.options) - fields - set(TEXT_SOURCE_KEYS))
    if unknown:
        raise DistillConfigError(f"unknown key {where}.{unknown[0]}; a {step.step} step takes "
                                 f"{', '.join(sorted(fields | set(TEXT_SOURCE_KEYS)))}")
    try:
        config_class.from_dict({k: v for k, v in step.options.items() if k in fields}, source=where)
    except EdgedistillError as exc:
        raise DistillConfigError(str(exc)) from None


# ---------------------------------------------------------------- the whole run

@dataclass
class DistillConfig:
    """A whole distillation run; the dataclass form of a recipe file."""

    name: str = "custom"
    description: str = ""
    output_dir: str | None = None
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    data: DataConfig = field(default_factory=lambda: DataConfig(raw=RawTextConfig()))
    student: StudentConfig = field(default_factory=StudentConfig)
    losses: list[LossTerm] = field(default_factory=lambda: [KLTerm()])
    training: TrainingConfig = field(default_factory=TrainingConfig)
    next: list[NextStep] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        self.teacher.validate("teacher")
        self.data.validate("data")
        self.student.validate("student")
        self.training.validate("training")
        if not self.losses:
            raise DistillConfigError("losses is empty; give at least one [[losses]] table")
        for index, term in enumerate(self.losses):
            term.validate(f"losses[{index}]")
        if sum(term.weight for term in self.losses) <= 0:
            raise DistillConfigError("the loss weights add up to 0; give at least one a positive weight")
        for index, step in enumerate(self.next):
            step.validate(f"next[{index}]")

    # -- dict / TOML / JSON round trips

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "the config") -> DistillConfig:
        try:
            return _build(cls, values, "")
        except DistillConfigError as exc:
            raise DistillConfigError(f"{source}: {exc}") from None

    def to_toml(self) -> str:
        return to_toml(self.to_dict())

    @classmethod
    def from_toml(cls, text: str, *, source: str = "TOML config") -> DistillConfig:
        return cls.from_dict(parse_toml(text, source), source=source)

    @classmethod
    def load(cls, path: str | Path) -> DistillConfig:
        path = Path(path)
        if not path.is_file():
            raise DistillConfigError(f"config file {path} does not exist")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise DistillConfigError(f"config file {path} is not UTF-8 text ({exc.reason} at "
                                     f"offset {exc.start})") from None
        if path.suffix == ".json":
            try:
                return cls.from_dict(json.loads(text), source=str(path))
            except json.JSONDecodeError as exc:
                raise DistillConfigError(f"config file {path} is not valid JSON: {exc}") from None
        return cls.from_toml(text, source=str(path))

    def save(self, path: str | Path) -> Path:
        from edgedistill.atomic import atomic_write_text

        path = Path(path)
        text = json.dumps(self.to_dict(), indent=2) if path.suffix == ".json" else self.to_toml()
        atomic_write_text(path, text)
        return path

    def replace(self, **sections: Any) -> DistillConfig:
        return dataclasses.replace(self, **sections)


# ---------------------------------------------------------------- dict <-> dataclass

def _to_plain(value: Any) -> Any:
    if isinstance(value, NextStep):
        return {"step": value.step, **{k: _to_plain(v) for k, v in value.options.items()}}
    if isinstance(value, LossTerm):
        return {"type": value.type, **{f.name: _to_plain(getattr(value, f.name))
                                       for f in dataclasses.fields(value)}}
    if dataclasses.is_dataclass(value):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) or not f.metadata.get("omit_if_empty")}
    if isinstance(value, list | tuple):
        return [_to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    return value


def _key(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _build(cls: type, values: Any, where: str) -> Any:
    label = where or "the top level"
    if not isinstance(values, dict):
        raise DistillConfigError(f"{label} must be a table, got {_describe(values)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise DistillConfigError(f"unknown key {_key(where, unknown[0])!r}; known keys"
                                 f"{' in [' + where + ']' if where else ''}: {', '.join(sorted(fields))}")
    kwargs = {name: _convert(hints[name], value, _key(where, name)) for name, value in values.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise DistillConfigError(f"incomplete {label}: {exc}") from None


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _convert_union(args, value, where)
    if hint is Any:
        return value
    if origin is list:
        if not isinstance(value, list | tuple):
            raise DistillConfigError(f"{where} must be a list, got {_describe(value)}")
        return [_convert(args[0], item, f"{where}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise DistillConfigError(f"{where} must be a table, got {_describe(value)}")
        return dict(value)
    if hint is LossTerm:
        return _build_loss_term(value, where)
    if hint is NextStep:
        return _build_next_step(value, where)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    return _convert_scalar(hint, value, where)


def _convert_union(args: tuple, value: Any, where: str) -> Any:
    if value is None and type(None) in args:
        return None
    candidates = [a for a in args if a is not type(None)]
    errors = []
    for candidate in candidates:
        try:
            return _convert(candidate, value, where)
        except DistillConfigError as exc:
            errors.append(str(exc))
    if len(candidates) == 1:
        raise DistillConfigError(errors[0])
    wanted = " or ".join(_type_name(c) for c in candidates)
    raise DistillConfigError(f"{where} must be {wanted}, got {_describe(value)}")


def _convert_scalar(hint: Any, value: Any, where: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        raise DistillConfigError(f"{where} has a type the config reader does not know: {hint}")
    raise DistillConfigError(f"{where} must be {_type_name(hint)}, got {_describe(value)}")


def _build_loss_term(value: Any, where: str) -> LossTerm:
    if not isinstance(value, dict) or "type" not in value:
        raise DistillConfigError(f"{where} needs a type, one of {', '.join(LOSS_TERMS)}")
    kind = value["type"]
    if kind not in LOSS_TERMS:
        raise DistillConfigError(f"{where}.type is {kind!r}; choose one of {', '.join(LOSS_TERMS)}")
    return _build(LOSS_TERMS[kind], {k: v for k, v in value.items() if k != "type"}, where)


def _build_next_step(value: Any, where: str) -> NextStep:
    if not isinstance(value, dict) or not isinstance(value.get("step"), str):
        raise DistillConfigError(f"{where} needs a step, one of {', '.join(NEXT_STEPS)}")
    return NextStep(value["step"], {k: v for k, v in value.items() if k != "step"})


def _type_name(hint: Any) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if hint in names:
        return names[hint]
    if typing.get_origin(hint) is list:
        return f"a list of {_type_name(typing.get_args(hint)[0]).removeprefix('a ').removeprefix('an ')}s"
    return "a table"


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    return f"{type(value).__name__} {value!r}"


def _choice(value: str, allowed: tuple[str, ...], where: str) -> None:
    if value not in allowed:
        raise DistillConfigError(f"{where} is {value!r}; choose one of {', '.join(allowed)}")


def _positive_or_none(value: int | None, where: str) -> None:
    if value is not None and value <= 0:
        raise DistillConfigError(f"{where} must be a positive integer, got {value}")


def _layer_pairs(pairs: list[list[int]], where: str, allow_zero: bool) -> None:
    if not pairs:
        raise DistillConfigError(f"{where} is empty; give [teacher_layer, student_layer] pairs")
    for index, pair in enumerate(pairs):
        if len(pair) != 2 or (not allow_zero and 0 in pair):
            lowest = "0 (embeddings)" if allow_zero else "1"
            raise DistillConfigError(f"{where}[{index}] must be a [teacher_layer, student_layer] pair of "
                                     f"layer numbers (from {lowest}; -1 is the last), got {pair}")


# ---------------------------------------------------------------- TOML

def parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise DistillConfigError(f"{source}: reading TOML needs Python 3.11 or newer; use JSON") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DistillConfigError(f"{source} is not valid TOML: {exc}") from None
