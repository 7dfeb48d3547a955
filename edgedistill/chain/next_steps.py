"""The kinds of ``[[next]]`` step a recipe can list, each a class that reads and checks its options once.

``STEP_KINDS`` maps a step's name to its class. ``parse(options, where, recipe, index)`` checks the step's
options (an unknown key or a bad value is one sentence naming it, e.g. ``next[0].target_size``) and
returns the typed step that the plan turns into stages. The four compression steps share one shape:
a compressor config, the text it counts tokens on, and ``run(source, destination, texts)``.

No torch: a recipe is read with the standard library and numpy (edgedistill.tasks imports it).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from edgedistill.benchmarks.runner import CHAIN_BENCH, BenchConfig
from edgedistill.compress.hidden import HiddenReduceConfig, HiddenSizeReducer
from edgedistill.compress.pruning import PruneConfig, StructuredPruner
from edgedistill.compress.vocab import VocabTrimConfig, VocabularyTrimmer
from edgedistill.config import Config, ConfigError, build
from edgedistill.export.quantize_options import QuantizeOptions
from edgedistill.tasks.config import DataSpec, check_finetune_options

# ExportOptions keys a recipe may set (edgedistill.export.pipeline, imported only when exporting).
EXPORT_KEYS = ("target", "variants", "optimize", "opset", "backend", "max_length", "external_data")


def _refuse_unknown(options: dict[str, Any], known: list[str] | tuple[str, ...], message: str) -> None:
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(message.format(key=unknown[0], known=", ".join(known)))


# ---------------------------------------------------------------- compression

@dataclass
class TextSources:
    """Where a compression step's text comes from: raw text of ``languages`` (None: the task's language),
    ``files`` (one text a line), and with ``task_text`` the training texts of the task the model was
    trained on, as the model reads them."""

    languages: list[str] | None = None
    files: list[str] = field(default_factory=list)
    max_sentences: int | None = None
    task_text: bool = False


TEXT_SOURCE_KEYS = tuple(f.name for f in dataclasses.fields(TextSources))


@dataclass
class CompressStep:
    """A compressor of edgedistill.compress with its config, run on the previous stage's model."""

    name: ClassVar[str]
    description: ClassVar[str]
    config_class: ClassVar[type[Config]]
    compressor_class: ClassVar[type]
    reads_text: ClassVar[bool] = True

    config: Config
    text: TextSources

    @classmethod
    def parse(cls, options: dict[str, Any], where: str, recipe: Any = None, index: int = 0) -> CompressStep:
        fields = [f.name for f in dataclasses.fields(cls.config_class)]
        _refuse_unknown(options, sorted([*fields, *TEXT_SOURCE_KEYS]),
                        f"unknown key {where}.{{key}}; a {cls.name} step takes {{known}}")
        config = cls.config_class.from_dict({k: v for k, v in options.items() if k in fields}, where=where)
        text = build(TextSources, {k: v for k, v in options.items() if k in TEXT_SOURCE_KEYS}, where)
        return cls(config, text)

    def run(self, source: Path, destination: Path, texts: list[str],
            held_out: list[str] | None = None) -> None:
        """Compress the model in ``source`` into ``destination``; ``held_out`` texts measure a trimmed
        tokenizer (the other compressors ignore them)."""
        self.compressor_class(self.config).compress_directory(source, destination, texts, held_out=held_out)


class TrimVocab(CompressStep):
    name = "trim-vocab"
    description = "vocabulary trimming to the target language's tokens (edgedistill.compress)"
    config_class = VocabTrimConfig
    compressor_class = VocabularyTrimmer


class PruneFFN(CompressStep):
    name = "prune-ffn"
    description = "structured FFN pruning by first-order importance (edgedistill.compress)"
    config_class = PruneConfig
    compressor_class = StructuredPruner


class PruneHeads(PruneFFN):  # the same pruner: its options say heads_per_layer instead of ffn_size
    name = "prune-heads"
    description = "attention-head pruning by importance (edgedistill.compress)"


class ReduceHidden(CompressStep):
    name = "reduce-hidden"
    description = "hidden-size reduction by truncation or SVD (edgedistill.compress)"
    config_class = HiddenReduceConfig
    compressor_class = HiddenSizeReducer
    reads_text = False


# ---------------------------------------------------------------- training

# The options of a "distill" step: tables that replace the same tables of the run it follows.
DISTILL_STEP_KEYS = ("student", "losses", "training", "data", "name", "description")


@dataclass
class DistillStep:
    """Another distillation round, the previous stage's model as teacher.

    ``table`` is the round as the recipe writes it (the recipe's own tables, the step's replacing them);
    the stage's fingerprint hashes it. ``config`` is that table read: a one-round recipe whose teacher
    is filled in when the stage runs.
    """

    name: ClassVar[str] = "distill"
    description: ClassVar[str] = "another distillation round, the previous step's model as teacher"

    table: dict[str, Any]
    config: Any  # a Recipe without next steps

    @classmethod
    def parse(cls, options: dict[str, Any], where: str, recipe: Any, index: int) -> DistillStep:
        _refuse_unknown(options, DISTILL_STEP_KEYS,
                        f"unknown key {where}.{{key}}; a distill step takes {{known}}")
        base = {k: v for k, v in recipe.to_dict().items() if k not in ("next", "output_dir")}
        table = {**base, **copy.deepcopy(options)}
        table["name"] = options.get("name", f"{base['name']}-round{index + 2}")
        table["teacher"] = {"model": "", "head": "auto"}  # the previous stage's model, filled in at run time
        return cls(table, type(recipe).from_dict(table, where=f"{where} (distill)"))


@dataclass
class FinetuneStep:
    """Fine-tune the model on a task (edgedistill.tasks): ``options`` are FinetuneConfig keys as written,
    checked here; their ``data`` table (DataSpec keys) defaults to the task the model was trained on.
    The plan completes them into the stage's FinetuneConfig once that task is known."""

    name: ClassVar[str] = "finetune"
    description: ClassVar[str] = "fine-tune the result on a task (edgedistill.tasks)"

    options: dict[str, Any]

    @classmethod
    def parse(cls, options: dict[str, Any], where: str, recipe: Any = None, index: int = 0) -> FinetuneStep:
        check_finetune_options(options, where, allowed_extra=("data",))
        if options.get("data"):
            DataSpec.from_dict(options["data"], where=f"{where}.data")
        return cls(dict(options))


# ---------------------------------------------------------------- delivery

@dataclass
class ExportStep:
    """The options of the export and quantize stages (they run in any case)."""

    name: ClassVar[str] = "export"
    description: ClassVar[str] = "ONNX export and INT8 quantization (edgedistill.export)"

    export: dict[str, Any] = field(default_factory=dict)  # ExportOptions keys, as written
    quantize: QuantizeOptions = field(default_factory=QuantizeOptions)

    @classmethod
    def parse(cls, options: dict[str, Any], where: str, recipe: Any = None, index: int = 0) -> ExportStep:
        quantize_keys = [f.name for f in dataclasses.fields(QuantizeOptions)]
        _refuse_unknown(options, [*EXPORT_KEYS, *quantize_keys],
                        f"{where}: the export step has no key {{key!r}}; it takes {{known}}")
        quantize = QuantizeOptions.from_dict({k: v for k, v in options.items() if k in quantize_keys},
                                             where=where)
        return cls({k: v for k, v in options.items() if k in EXPORT_KEYS}, quantize)


@dataclass
class BenchStep:
    """The options of the bench stage (it runs in any case): BenchConfig keys, the chain's defaults."""

    name: ClassVar[str] = "bench"
    description: ClassVar[str] = "benchmark the bundles against the teacher (edgedistill.benchmarks)"

    config: BenchConfig = field(default_factory=lambda: CHAIN_BENCH)

    @classmethod
    def parse(cls, options: dict[str, Any], where: str, recipe: Any = None, index: int = 0) -> BenchStep:
        known = sorted(f.name for f in dataclasses.fields(BenchConfig) if f.name != "reference")
        _refuse_unknown(options, known, f"{where}: the bench step has no key {{key!r}}; it takes {{known}}")
        values = {**CHAIN_BENCH.to_dict(), **options}
        return cls(BenchConfig.from_dict(values, where=where))


STEP_KINDS: dict[str, type] = {kind.name: kind for kind in (
    PruneFFN, PruneHeads, ReduceHidden, TrimVocab, DistillStep, FinetuneStep, ExportStep, BenchStep)}
