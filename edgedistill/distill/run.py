"""One distillation run from a ``DistillConfig``: teacher, data, student, objective, trainer, results.

``distill(config)`` is what ``edgedistill distill`` runs. The output directory is a normal Hugging
Face model directory (student weights, the teacher's tokenizer, labels in the config) plus
``distill-config.toml`` (the run, reloadable), ``results.json`` (parameters, losses, time, and dev and
test metrics for a task) and, for a task, ``edgedistill-task.json`` so that ``edgedistill evaluate``
and the export stage know its labels and text prefix. It appears only when complete. Checkpoints
go to ``<output_dir>.checkpoints``; running the same config again resumes from the last one.

Started by ``torchrun --nproc-per-node N`` (or ``accelerate launch``) the same code trains on N
processes; only the first writes the output.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import transformers
from transformers import PrinterCallback, TrainingArguments

from edgedistill.accounting import count_parameters
from edgedistill.atomic import atomic_directory
from edgedistill.distill.config import (
    AttentionTerm,
    DistillConfig,
    KLTerm,
    LabelTerm,
    LogitMSETerm,
    MLMTerm,
    TeacherConfig,
)
from edgedistill.distill.data import DistillCollator, DistillData, build_data
from edgedistill.distill.losses import DistillationObjective, LayerCounts, Needs
from edgedistill.distill.students import build_student, head_of
from edgedistill.distill.teacher_cache import TeacherCache, items_for, teacher_fingerprint
from edgedistill.distill.trainer import DistillationModule, DistillationTrainer, freeze
from edgedistill.errors import EdgedistillError
from edgedistill.seen_rows import seen_rows_only
from edgedistill.tasks.finetune import TASK_FILE
from edgedistill.training_guard import train_resuming

if TYPE_CHECKING:
    from edgedistill.teachers import Teacher

CONFIG_FILE = "distill-config.toml"
RESULTS_FILE = "results.json"
PROVENANCE_FILE = "edgedistill-teacher.json"


class DistillError(EdgedistillError):
    """A distillation run that cannot start as configured."""


@dataclass
class DistillOutcome:
    """What a run produced: its results (empty on processes other than the first) and the student."""

    results: dict
    student: torch.nn.Module
    output_dir: Path


def distill(config: DistillConfig, *, overwrite: bool = False, progress: bool = True) -> DistillOutcome:
    """Distil ``config.teacher`` into the student ``config.student`` describes; write and return results."""
    started = time.time()
    output_dir = _output_dir(config, overwrite)
    if config.training.threads:
        torch.set_num_threads(config.training.threads)
    transformers.set_seed(config.training.seed)
    teacher = load_run_teacher(config.teacher, eager_attention=wants_attention_maps(config))
    head = head_of(teacher.model)
    data = build_data(config.data, teacher.tokenizer, head=head, max_length=config.training.max_length,
                      seed=config.training.seed, provenance=teacher.provenance)
    transformers.set_seed(config.training.seed)
    student = build_student(teacher.model, config.student)
    objective = DistillationObjective.from_config(config.losses, layer_counts(teacher.model, student))
    needs = objective.needs()
    check_compatible(config, needs, data)
    _prepare_student(student, config.training.freeze_word_embeddings)
    args = training_arguments(config, checkpoint_dir(config), progress)
    cache, cache_report = _prepare_cache(config, args, teacher, data, needs)
    module = DistillationModule(student, objective, needs, data.row_mode)
    trainer = DistillationTrainer(model=module, args=args, train_dataset=data.features,
                                  data_collator=DistillCollator(teacher.tokenizer.pad_token_id, cache),
                                  teacher=None if cache else teacher.model)
    if not progress:
        trainer.remove_callback(PrinterCallback)  # it prints every log line to stdout, breaking --json
    with seen_rows_only(student, data.features, teacher.tokenizer.pad_token_id) as trained_rows:
        train_seconds, resumed_from = _train(trainer, config)
    if not trainer.is_world_process_zero():
        return DistillOutcome({}, student, output_dir)
    student.eval()
    scores = _evaluate(student, teacher.tokenizer, data, config, progress)
    results = _results(config, teacher, student, data, trainer, scores, cache_report, train_seconds,
                       time.time() - started)
    results["training"]["resumed_from"] = resumed_from  # if set, times cover the last part only
    results["training"]["embedding_rows_trained"] = trained_rows
    write_student(output_dir, student, teacher, data, config, results, overwrite)
    if not config.training.keep_checkpoints:
        shutil.rmtree(checkpoint_dir(config), ignore_errors=True)
    return DistillOutcome(results, student, output_dir)


def _output_dir(config: DistillConfig, overwrite: bool) -> Path:
    if not config.output_dir:
        raise DistillError("the run has no output_dir; set output_dir in the recipe or pass --out")
    output_dir = Path(config.output_dir)
    if output_dir.exists() and not overwrite:
        raise DistillError(f"output directory {output_dir} already exists; pass --overwrite to replace it")
    return output_dir


def checkpoint_dir(config: DistillConfig) -> Path:
    return Path(f"{str(config.output_dir).rstrip('/')}.checkpoints")


def wants_attention_maps(config: DistillConfig) -> bool:
    return any(isinstance(term, AttentionTerm) for term in config.losses)


def load_run_teacher(spec: TeacherConfig, *, eager_attention: bool = False) -> Teacher:
    """The teacher as the run holds it: loaded with its head, frozen, in eval mode.

    Attention maps come only from the eager attention implementation (SDPA does not return them),
    so a run that matches attention loads the teacher, and so its students, with that one.
    """
    from edgedistill.teachers import load_teacher, resolve_teacher

    location = resolve_teacher(spec.model)
    head = spec.head if spec.head != "auto" else head_from_directory(location)
    kwargs = {"attn_implementation": "eager"} if eager_attention else {}
    fingerprint = teacher_fingerprint(location)  # before loading: the files may be replaced mid-run
    teacher = load_teacher(location, head=head, **kwargs)
    teacher.fingerprint = fingerprint
    teacher.provenance = teacher.provenance or {}
    freeze(teacher.model)
    return teacher


HEAD_SUFFIXES = {"ForMaskedLM": "mlm", "ForSequenceClassification": "sequence-classification",
                 "ForTokenClassification": "token-classification"}


def head_from_directory(location) -> str:
    """The head named by ``architectures`` in a model directory's config.json (else ``base``)."""
    config_file = Path(str(location)) / "config.json"
    if not config_file.is_file():
        return "base"
    architectures = json.loads(config_file.read_text(encoding="utf-8")).get("architectures") or []
    for name in architectures:
        for suffix, head in HEAD_SUFFIXES.items():
            if name.endswith(suffix):
                return head
    return "base"


def layer_counts(teacher_model, student) -> LayerCounts:
    return LayerCounts(teacher_model.config.num_hidden_layers, student.config.num_hidden_layers,
                       teacher_model.config.hidden_size, student.config.hidden_size)


def check_compatible(config: DistillConfig, needs: Needs, data: DistillData) -> None:
    """Refuse loss terms the teacher, the student or the data cannot feed, naming the term."""
    for index, term in enumerate(config.losses):
        where = f"losses[{index}] ({term.type})"
        if isinstance(term, KLTerm | LogitMSETerm) and data.row_mode is None:
            raise DistillError(f"{where} compares logits, but the teacher {config.teacher.model} has no head "
                               f"with logits (no MLM head, not fine-tuned); use hidden and attention terms, "
                               f"or a fine-tuned teacher with [data.task]")
        if isinstance(term, MLMTerm) and data.row_mode != "masked":
            raise DistillError(f"{where} needs masked-LM training: raw text ([data.raw]) and a teacher with "
                               f"an MLM head")
        if isinstance(term, LabelTerm) and data.task is None:
            raise DistillError(f"{where} needs gold labels: give [data.task]")


def _prepare_student(student, freeze_word_embeddings: bool) -> None:
    student.train()
    if freeze_word_embeddings:
        student.get_input_embeddings().weight.requires_grad_(False)


def training_arguments(config: DistillConfig, folder: Path, progress: bool) -> TrainingArguments:
    t = config.training
    cuda = torch.cuda.is_available()
    if t.precision == "fp16" and not cuda:
        raise DistillError("training.precision = 'fp16' needs a CUDA GPU; use 'bf16' or 'fp32' on a CPU")
    return TrainingArguments(
        output_dir=str(folder), num_train_epochs=t.epochs, max_steps=t.max_steps or -1,
        learning_rate=t.learning_rate, per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps, warmup_ratio=t.warmup_ratio,
        weight_decay=t.weight_decay, seed=t.seed, data_seed=t.seed,
        save_strategy="steps" if t.save_steps else "epoch", save_steps=t.save_steps or 500,
        save_total_limit=t.save_total_limit, logging_steps=t.logging_steps, eval_strategy="no",
        bf16=t.precision == "bf16", fp16=t.precision == "fp16", use_cpu=not cuda,
        group_by_length=t.group_by_length, remove_unused_columns=False, report_to=[],
        disable_tqdm=not progress, dataloader_num_workers=0, save_safetensors=True,
        ddp_backend="gloo" if not cuda and int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
    )


def _prepare_cache(config: DistillConfig, args: TrainingArguments, teacher, data: DistillData,
                   needs: Needs) -> tuple[TeacherCache | None, dict | None]:
    if not config.training.cache_teacher:
        return None, None
    from edgedistill.teachers import cache_root

    root = Path(config.training.cache_dir) if config.training.cache_dir else cache_root() / "teacher-outputs"
    items = items_for(needs, config.training.top_k)
    cache = TeacherCache.for_run(root, teacher.fingerprint, data.fingerprint(), items)
    with args.main_process_first(desc="teacher cache"):
        report = cache.ensure(teacher.model, data.features, DistillCollator(teacher.tokenizer.pad_token_id),
                              row_mode=data.row_mode, batch_size=config.training.eval_batch_size)
    return cache, report.as_dict()


def _train(trainer: DistillationTrainer, config: DistillConfig) -> tuple[float, str | None]:
    """Train, resuming from the last complete checkpoint of the same run.

    Returns the seconds spent training and the name of the checkpoint it resumed from (or None).
    """
    # checkpoints hold the seen-rows embedding (edgedistill.seen_rows); older ones, the whole matrix
    run_config = {**config.to_dict(), "checkpoint_layout": "seen-rows"}
    seconds, resumed = train_resuming(trainer, checkpoint_dir(config), run_config, error=DistillError,
                                      hint="change output_dir")
    return seconds, resumed.name if resumed else None


def _evaluate(student, tokenizer, data: DistillData, config: DistillConfig, progress: bool) -> dict:
    if data.task is None:
        return {}
    from edgedistill.tasks.scoring import score_split

    return {split: score_split(student, tokenizer, data.task, split, max_length=config.training.max_length,
                               prefix=data.prefix, batch_size=config.training.eval_batch_size,
                               examples=examples, progress=progress)
            for split, examples in data.evaluation.items() if examples}


# ---------------------------------------------------------------- results and the output directory

def shape_of(model) -> dict:
    c = model.config
    return {"layers": c.num_hidden_layers, "hidden_size": c.hidden_size, "heads": c.num_attention_heads,
            "intermediate_size": c.intermediate_size, "vocab_size": c.vocab_size,
            "model_type": c.model_type, "class": type(model).__name__}


def _results(config: DistillConfig, teacher, student, data: DistillData, trainer, scores: dict,
             cache_report: dict | None, train_seconds: float, wall_seconds: float) -> dict:
    from edgedistill.tasks.finetune import environment

    state = trainer.state
    history = [{k: v for k, v in entry.items() if k in ("epoch", "step", "loss", "learning_rate")
                or k.startswith("loss_")} for entry in state.log_history if "loss" in entry]
    return {
        "recipe": config.name,
        "teacher": {"model": config.teacher.model, "display_name": teacher.display_name,
                    "fingerprint": teacher.fingerprint, "shape": shape_of(teacher.model),
                    "parameters": count_parameters(teacher.model).as_dict()},
        "student": {"init": config.student.init, "shape": shape_of(student),
                    "parameters": count_parameters(student).as_dict()},
        "data": {"source": data.source, "train_examples": len(data.features), "row_mode": data.row_mode,
                 "text_prefix": data.prefix, "max_length": config.training.max_length,
                 **{f"{split}_examples": len(ex) for split, ex in data.evaluation.items()}},
        "losses": [{"type": term.type, **asdict(term)} for term in config.losses],
        "training": {"epochs": config.training.epochs, "steps": state.global_step,
                     "train_seconds": round(train_seconds, 1),
                     "seconds_per_step": round(train_seconds / max(1, state.global_step), 3),
                     "history": history},
        "teacher_cache": cache_report,
        "dev": scores.get("dev"), "test": scores.get("test"),
        "wall_seconds": round(wall_seconds, 1), "environment": environment(),
        "config": config.to_dict(), "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_student(output_dir: Path, student, teacher, data: DistillData, config: DistillConfig,
                  results: dict, overwrite: bool) -> None:
    """The student as a Hugging Face directory with its provenance, config, results and task file."""
    shape = results["student"]["shape"]
    provenance = {k: v for k, v in teacher.provenance.items() if k in ("pooling", "input_prefixes")}
    provenance.update(
        display_name=f"{shape['layers']}L/{shape['hidden_size']}H student distilled from "
                     f"{teacher.display_name}",
        distilled_from=config.teacher.model, recipe=config.name)
    with atomic_directory(output_dir, overwrite=overwrite) as tmp:
        student.save_pretrained(tmp, safe_serialization=True)
        teacher.tokenizer.save_pretrained(tmp)
        (tmp / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
        (tmp / RESULTS_FILE).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        config.save(tmp / CONFIG_FILE)
        if data.task is not None:
            task_text = json.dumps(task_file(data, config), indent=2, ensure_ascii=False)
            (tmp / TASK_FILE).write_text(task_text + "\n")


def task_file(data: DistillData, config: DistillConfig) -> dict:
    """The same task description ``edgedistill finetune`` writes beside a fine-tuned model."""
    task = data.task
    return {"format_version": 1, "name": task.name, "kind": task.kind, "labels": list(task.labels),
            "label_source": task.label_source, "primary_metric": task.primary_metric,
            "text_prefix": data.prefix, "max_length": config.training.max_length,
            "data": asdict(config.data.task), "base_model": config.teacher.model}

