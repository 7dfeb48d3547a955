"""A distillation run as dataclasses that round-trip through TOML, so the Python API and the CLI agree.

A ``DistillConfig`` states one distillation: the teacher, the data, the student's shape and
initialisation, the loss terms with their weights, the schedule. A recipe file adds what comes after
(``[[next]]`` steps: pruning, a second round, vocabulary trimming, ...); that whole chain is
``edgedistill.chain.recipe.Recipe``, which ``edgedistill distill`` and ``edgedistill run`` both read.
Reading and writing (``from_dict``, ``load``, ``to_toml``) come from ``edgedistill.config``.

Layer numbers in a config count from 1 (the first transformer layer) to N (the last); negative
numbers count from the end (-1 is the last layer), and for hidden states 0 is the embedding output.
Every unknown key and every bad value is an error that names the key, e.g. ``losses[2].temperature``.

Standard library only: reading a recipe needs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from edgedistill.config import (
    OMIT_IF_EMPTY,
    Config,
    ConfigError,
    Variant,
    check_choice,
    check_positive_or_none,
)
from edgedistill.tasks.config import DataSpec, check_finetune_options

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
    finetune: dict[str, Any] = field(default_factory=dict, metadata=OMIT_IF_EMPTY)

    def validate(self, where: str) -> None:
        check_choice(self.head, ("auto", "base", "mlm", "sequence-classification", "token-classification"),
                     f"{where}.head")
        check_finetune_options(self.finetune, f"{where}.finetune")


@dataclass
class RawTextConfig:
    """Unlabelled target-language text (MAFAND): for task-agnostic distillation, or added to a task."""

    language: str = "hau"
    max_sentences: int | None = 20_000
    file: str | None = None  # one sentence a line, instead of the built-in raw text
    # MAFAND splits to read, in order (its splits are all unlabelled text here); empty: train, else the first
    splits: list[str] = field(default_factory=list, metadata=OMIT_IF_EMPTY)

    def validate(self, where: str) -> None:
        check_positive_or_none(self.max_sentences, f"{where}.max_sentences")
        unknown = sorted(set(self.splits) - {"train", "dev", "test"})
        if unknown:
            raise ConfigError(f"{where}.splits: no split {unknown[0]!r}; MAFAND has train, dev, test")


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
    unlabelled: RawTextConfig | None = field(default=None, metadata=OMIT_IF_EMPTY)

    def validate(self, where: str) -> None:
        if (self.task is None) == (self.raw is None):
            raise ConfigError(f"{where} needs exactly one of [{where}.task] (a labelled task) and "
                                     f"[{where}.raw] (unlabelled text)")
        if self.raw is not None:
            self.raw.validate(f"{where}.raw")
        if self.unlabelled is not None:
            if self.task is None:
                raise ConfigError(f"[{where}.unlabelled] adds raw text to a task's training examples; "
                                         f"it needs [{where}.task]")
            self.unlabelled.validate(f"{where}.unlabelled")
        check_positive_or_none(self.max_train_examples, f"{where}.max_train_examples")
        check_positive_or_none(self.max_eval_examples, f"{where}.max_eval_examples")
        if not 0.0 < self.mlm_probability < 1.0:
            raise ConfigError(f"{where}.mlm_probability must be between 0 and 1, got "
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
        check_choice(self.init, STUDENT_INITS, f"{where}.init")
        check_choice(self.embeddings, EMBEDDING_INITS, f"{where}.embeddings")
        check_choice(self.method, REDUCTION_METHODS, f"{where}.method")
        for name in ("num_layers", "hidden_size", "num_heads", "intermediate_size"):
            check_positive_or_none(getattr(self, name), f"{where}.{name}")
        if isinstance(self.layers, str):
            check_choice(self.layers, LAYER_CHOICES, f"{where}.layers")
        elif not self.layers or any(n < 1 for n in self.layers):
            raise ConfigError(f"{where}.layers must be 'every-other', 'last' or a non-empty list of "
                                     f"layer numbers counted from 1, got {self.layers}")
        if self.init == "teacher-layers" and self.layers == "last" and self.num_layers is None:
            raise ConfigError(f"{where}.num_layers is needed with layers = 'last'")
        if self.init == "reduce-hidden" and self.hidden_size is None:
            raise ConfigError(f"{where}.hidden_size is needed with init = 'reduce-hidden'")
        if self.init == "pretrained" and not self.path:
            raise ConfigError(f"{where}.path is needed with init = 'pretrained'")
        if self.hidden_size and self.num_heads and self.hidden_size % self.num_heads:
            raise ConfigError(f"{where}.hidden_size ({self.hidden_size}) must be a multiple of "
                                     f"{where}.num_heads ({self.num_heads})")


# ---------------------------------------------------------------- loss terms

@dataclass
class LossTerm(Variant):
    """One weighted term of the objective; ``type`` picks which."""

    type: ClassVar[str] = ""
    weight: float = 1.0

    @classmethod
    def variants(cls) -> dict[str, type]:
        return LOSS_TERMS

    def validate(self, where: str) -> None:
        if self.weight < 0:
            raise ConfigError(f"{where}.weight must be >= 0, got {self.weight}")


@dataclass
class KLTerm(LossTerm):
    """KL(teacher || student) on logits softened by ``temperature``, times temperature squared."""

    type: ClassVar[str] = "kl"
    temperature: float = 1.0

    def validate(self, where: str) -> None:
        super().validate(where)
        if self.temperature <= 0:
            raise ConfigError(f"{where}.temperature must be > 0, got {self.temperature}")


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
        check_choice(self.metric, ("mse", "cosine"), f"{where}.metric")


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
        check_choice(self.precision, PRECISIONS, f"{where}.precision")
        for name in ("batch_size", "gradient_accumulation_steps", "logging_steps", "save_total_limit",
                     "eval_batch_size", "top_k"):
            check_positive_or_none(getattr(self, name), f"{where}.{name}")
        for name in ("max_steps", "save_steps", "threads"):
            check_positive_or_none(getattr(self, name), f"{where}.{name}")
        if self.epochs <= 0:
            raise ConfigError(f"{where}.epochs must be > 0, got {self.epochs}")
        if self.learning_rate <= 0:
            raise ConfigError(f"{where}.learning_rate must be > 0, got {self.learning_rate}")
        if self.max_length < 8:
            raise ConfigError(f"{where}.max_length must be at least 8, got {self.max_length}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"{where}.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")


# ---------------------------------------------------------------- the whole run

@dataclass
class DistillConfig(Config):
    """One distillation run; the dataclass form of a recipe file without its ``[[next]]`` steps
    (``edgedistill.chain.recipe.Recipe`` adds them)."""

    name: str = "custom"
    description: str = ""
    output_dir: str | None = None
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    data: DataConfig = field(default_factory=lambda: DataConfig(raw=RawTextConfig()))
    student: StudentConfig = field(default_factory=StudentConfig)
    losses: list[LossTerm] = field(default_factory=lambda: [KLTerm()])
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def validate(self) -> None:
        self.teacher.validate("teacher")
        self.data.validate("data")
        self.student.validate("student")
        self.training.validate("training")
        if not self.losses:
            raise ConfigError("losses is empty; give at least one [[losses]] table")
        for index, term in enumerate(self.losses):
            term.validate(f"losses[{index}]")
        if sum(term.weight for term in self.losses) <= 0:
            raise ConfigError("the loss weights add up to 0; give at least one a positive weight")


def _layer_pairs(pairs: list[list[int]], where: str, allow_zero: bool) -> None:
    if not pairs:
        raise ConfigError(f"{where} is empty; give [teacher_layer, student_layer] pairs")
    for index, pair in enumerate(pairs):
        if len(pair) != 2 or (not allow_zero and 0 in pair):
            lowest = "0 (embeddings)" if allow_zero else "1"
            raise ConfigError(f"{where}[{index}] must be a [teacher_layer, student_layer] pair of "
                                     f"layer numbers (from {lowest}; -1 is the last), got {pair}")
