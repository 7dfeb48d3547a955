"""Fine-tune an encoder on a task with the Hugging Face Trainer, and write the model with its results.

The output directory is a normal Hugging Face model directory (safetensors, tokenizer, config with
the labels) plus ``edgedistill-task.json`` (kind, labels, text prefix, max length, data) and
``results.json`` (dev and test metrics, the majority-class baseline, sizes, wall time, versions).
It appears only when complete. Checkpoints go to ``<output_dir>.checkpoints``; running the same
config again resumes from the last one. Needs the [distill] extra.
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import torch
import transformers
from transformers import PrinterCallback, Trainer, TrainingArguments

import edgedistill
from edgedistill.atomic import atomic_directory
from edgedistill.errors import EdgedistillError
from edgedistill.seen_rows import seen_rows_only
from edgedistill.tasks.config import FinetuneConfig
from edgedistill.tasks.encoding import encode_text_examples, encode_token_examples
from edgedistill.tasks.identity import data_identity
from edgedistill.tasks.metrics import majority_baseline
from edgedistill.tasks.scoring import collator_for, score_split
from edgedistill.tasks.task import (
    SEQUENCE,
    SIMILARITY,
    TASK_FILE,
    TOKEN,
    Task,
    TaskError,
    load_task,
    subsample,
)
from edgedistill.training_guard import StopOnNonFinite, check_loss, train_resuming

RESULTS_FILE = "results.json"
CONFIG_FILE = "finetune-config.toml"


class FinetuneError(EdgedistillError):
    """A fine-tuning run that cannot start as configured."""


def finetune(config: FinetuneConfig, *, overwrite: bool = False, progress: bool = True) -> dict:
    """Fine-tune ``config.model`` on ``config.data``; return (and write) the results."""
    output_dir = Path(config.output_dir)
    if output_dir.exists() and not overwrite:
        raise FinetuneError(f"output directory {output_dir} already exists; pass overwrite "
                            f"(--overwrite) to replace it")
    threads = torch.get_num_threads()
    try:
        if config.threads:
            torch.set_num_threads(config.threads)
        return _finetune(config, output_dir, overwrite, progress)
    finally:
        torch.set_num_threads(threads)


def _finetune(config: FinetuneConfig, output_dir: Path, overwrite: bool, progress: bool) -> dict:
    started = time.time()
    task = load_task(config.data)
    _check_task(task, config)
    transformers.set_seed(config.seed)
    teacher = _load_model(config, task)
    prefix = text_prefix_for(config.text_prefix, task.kind, teacher.provenance)
    frozen = _freeze_word_embeddings(teacher.model) if config.freeze_word_embeddings else 0
    train = subsample(task.split("train").examples, config.max_train_examples, config.seed)
    dev = _split_examples(task, "dev", config.max_dev_examples, config.seed)
    test = _split_examples(task, "test", config.max_test_examples, config.seed)
    trainer = _build_trainer(config, task, teacher, prefix, train, dev, progress)
    with seen_rows_only(trainer.model, trainer.train_dataset, teacher.tokenizer.pad_token_id) as trained_rows:
        train_seconds, resumed = _train(trainer, config)
    scored = {"dev": dev, "test": test}
    scores = {split: score_split(trainer.model, teacher.tokenizer, task, split, max_length=config.max_length,
                                 prefix=prefix, batch_size=config.eval_batch_size, progress=progress,
                                 examples=examples)
              for split, examples in scored.items() if examples}
    baseline = {split: majority_baseline(task.kind, task.gold_labels("train"), _gold(task, examples),
                                         task.labels) for split, examples in scored.items() if examples}
    used = {"train_used": len(train), "dev_used": len(dev), "test_used": len(test)}
    results = _results(config, task, teacher, prefix, used, trainer, scores, baseline, frozen,
                       train_seconds, time.time() - started)
    results["training"]["resumed_from_checkpoint"] = resumed  # if so, times cover the last part only
    results["training"]["embedding_rows_trained"] = trained_rows
    if trainer.class_weights is not None:
        weights = trainer.class_weights.tolist()
        results["training"]["class_weights"] = dict(zip(task.labels, weights, strict=True))
    _write_model(output_dir, trainer.model, teacher, task, config, prefix, results, overwrite)
    if not config.keep_checkpoints:
        shutil.rmtree(checkpoint_dir(config), ignore_errors=True)
    return results


def _split_examples(task: Task, split: str, limit: int | None, seed: int) -> list:
    return subsample(task.splits[split].examples, limit, seed) if split in task.splits else []


def checkpoint_dir(config: FinetuneConfig) -> Path:
    return Path(config.checkpoint_dir or f"{config.output_dir.rstrip('/')}.checkpoints")


def text_prefix_for(configured: str | None, kind: str, provenance: dict) -> str:
    """The text prefix: as configured, else the model's "query: " prefix for sentence tasks.

    multilingual-e5 was trained with "query: " / "passage: " prefixes and its authors use "query: "
    for classification; token classification labels words, so it gets no prefix by default.
    """
    if configured is not None:
        return configured
    if kind == TOKEN:
        return ""
    return provenance.get("input_prefixes", {}).get("query", "")


def _check_task(task: Task, config: FinetuneConfig) -> None:
    if task.kind == SIMILARITY:
        raise TaskError("finetune trains sequence and token classification; embedding similarity is "
                        "scored with `edgedistill evaluate` on a model's mean-pooled embeddings")
    if not task.split("train").examples:
        raise TaskError(f"the training split of {task.name} ({task.split('train').source}) is empty")
    if config.epochs <= 0 or config.batch_size <= 0 or config.max_length < 8:
        raise FinetuneError("epochs and batch_size must be positive and max_length at least 8")
    class_weights(config, task, [])  # fails now, not after loading the model, on a bad setting


def _load_model(config: FinetuneConfig, task: Task):
    from edgedistill.teachers import load_teacher

    return load_teacher(config.model, head=task.kind, num_labels=len(task.labels),
                        id2label=dict(enumerate(task.labels)), label2id=task.label2id,
                        ignore_mismatched_sizes=True)


def _freeze_word_embeddings(model) -> int:
    """Freeze the word-embedding matrix (most of a multilingual encoder); return its size."""
    weight = model.get_input_embeddings().weight
    weight.requires_grad_(False)
    return weight.numel()


def _encode(task: Task, examples: list, tokenizer, max_length: int, prefix: str):
    if task.kind == SEQUENCE:
        return encode_text_examples(examples, tokenizer, task.label2id, max_length, prefix)
    return encode_token_examples(examples, tokenizer, task.label2id, max_length, prefix)


def _build_trainer(config: FinetuneConfig, task: Task, teacher, prefix: str, train: list, dev: list,
                   progress: bool) -> Trainer:
    tokenizer = teacher.tokenizer
    train_features = _encode(task, train, tokenizer, config.max_length, prefix).features
    select = bool(config.select_best_on_dev and dev)
    steps_per_epoch = max(1, -(-len(train_features) // config.batch_size))
    args = TrainingArguments(
        output_dir=str(checkpoint_dir(config)), num_train_epochs=config.epochs,
        learning_rate=config.learning_rate, per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size, warmup_ratio=config.warmup_ratio,
        weight_decay=config.weight_decay, seed=config.seed, data_seed=config.seed,
        eval_strategy="epoch" if select else "no", save_strategy="epoch", save_total_limit=1,
        load_best_model_at_end=select, metric_for_best_model=task.primary_metric if select else None,
        greater_is_better=True, group_by_length=True, logging_steps=max(1, steps_per_epoch // 10),
        report_to=[], disable_tqdm=not progress, dataloader_num_workers=0, save_safetensors=True,
        dataloader_pin_memory=torch.cuda.is_available(), bf16=config.precision == "bf16",
        use_cpu=not torch.cuda.is_available(),
    )

    def score_dev(model) -> dict:
        return score_split(model, tokenizer, task, "dev", max_length=config.max_length, prefix=prefix,
                           batch_size=config.eval_batch_size, examples=dev, progress=progress)

    trainer = _TaskTrainer(model=teacher.model, args=args, train_dataset=train_features,
                           eval_dataset=train_features[:1] if select else None,  # unused: see evaluate
                           data_collator=collator_for(task.kind, tokenizer), processing_class=tokenizer,
                           dev_scorer=score_dev, head_learning_rate=config.head_learning_rate,
                           class_weights=class_weights(config, task, train))
    if not progress:
        trainer.remove_callback(PrinterCallback)
    return trainer


class _TaskTrainer(Trainer):
    """A Trainer whose dev evaluation is ``score_split``: the code path that writes the results."""

    def __init__(self, *args, dev_scorer, head_learning_rate: float | None = None,
                 class_weights: list[float] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.dev_scorer = dev_scorer
        self.head_learning_rate = head_learning_rate
        self.class_weights = torch.tensor(class_weights) if class_weights else None
        self.add_callback(StopOnNonFinite(Path(self.args.output_dir)))

    def compute_loss(self, model, inputs, return_outputs: bool = False, num_items_in_batch=None):
        """The model's own loss, or class-weighted cross-entropy when weights are set."""
        loss, outputs = self._loss(model, inputs, num_items_in_batch)
        if model.training:
            check_loss(loss, self.state.global_step + 1, Path(self.args.output_dir))
        return (loss, outputs) if return_outputs else loss

    def _loss(self, model, inputs, num_items_in_batch):
        if self.class_weights is None:
            return super().compute_loss(model, inputs, True, num_items_in_batch)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        weights = self.class_weights.to(outputs.logits.device, outputs.logits.dtype)
        return torch.nn.functional.cross_entropy(outputs.logits, labels, weight=weights), outputs

    def create_optimizer(self):
        """AdamW as usual, with the freshly initialised head at its own learning rate if one is set."""
        if self.optimizer is None and self.head_learning_rate:
            decay = set(self.get_decay_parameter_names(self.model))
            groups: dict[tuple[bool, bool], list] = {}
            for name, parameter in self.model.named_parameters():
                if parameter.requires_grad:
                    groups.setdefault((is_head_parameter(name), name in decay), []).append(parameter)
            optimizer_class, kwargs = self.get_optimizer_cls_and_kwargs(self.args, self.model)
            self.optimizer = optimizer_class(
                [{"params": params, "weight_decay": self.args.weight_decay if decayed else 0.0,
                  "lr": self.head_learning_rate if head else self.args.learning_rate}
                 for (head, decayed), params in groups.items()], **kwargs)
        return super().create_optimizer()

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict:
        scores = self.dev_scorer(self.model)
        metrics = {f"{metric_key_prefix}_{k}": v for k, v in scores.items() if isinstance(v, float)}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def class_weights(config: FinetuneConfig, task: Task, train: list) -> list[float] | None:
    """Balanced class weights n / (classes * n_class) over the training examples used, or None."""
    if config.class_weights is None:
        return None
    if config.class_weights != "balanced":
        raise FinetuneError(f"class_weights must be 'balanced' or unset, not {config.class_weights!r}")
    if task.kind != SEQUENCE:
        raise FinetuneError(f"class_weights apply to sequence classification only, and {task.name} is "
                            f"{task.kind}")
    counts = Counter(e.label for e in train)
    return [len(train) / (len(task.labels) * counts[label]) if counts[label] else 1.0
            for label in task.labels]


def is_head_parameter(name: str) -> bool:
    """The task head a classification model adds on top of the encoder (BERT's pooler included)."""
    return name.startswith("classifier.") or ".pooler." in name


def _train(trainer: Trainer, config: FinetuneConfig) -> tuple[float, bool]:
    """Train, resuming from the last complete checkpoint of the same run; return (seconds, resumed)."""
    # checkpoints hold the seen-rows embedding (edgedistill.seen_rows); older ones, the whole matrix
    run_config = {**config.to_dict(), "checkpoint_layout": "seen-rows"}
    if config.precision == "fp32":  # runs checkpointed before the option existed were fp32: they resume
        del run_config["precision"]
    seconds, resumed = train_resuming(trainer, checkpoint_dir(config), run_config, error=FinetuneError,
                                      hint="choose another checkpoint_dir")
    return seconds, resumed is not None


def _results(config: FinetuneConfig, task: Task, teacher, prefix: str, used: dict,
             trainer: Trainer, scores: dict, baseline: dict, frozen: int, train_seconds: float,
             wall_seconds: float) -> dict:
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    return {
        "task": _task_summary(task, prefix, config.max_length),
        "model": {"name": config.model, "display_name": teacher.display_name,
                  "trainable_parameters": trainable, "frozen_word_embedding_parameters": frozen},
        "data": {split: {"source": s.source, "examples": len(s.examples)} for split, s in task.splits.items()}
        | used,
        "training": _training_summary(trainer.state, config, train_seconds),
        "dev": scores.get("dev"), "test": scores.get("test"), "majority_baseline": baseline,
        "wall_seconds": round(wall_seconds, 1), "environment": environment(),
        "config": config.to_dict(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _training_summary(state, config: FinetuneConfig, train_seconds: float) -> dict:
    best_step = int(state.best_model_checkpoint.rsplit("-", 1)[-1]) if state.best_model_checkpoint else None
    best_epoch = next((e["epoch"] for e in state.log_history if e.get("step") == best_step
                       and any(k.startswith("eval_") for k in e)), None)
    return {"epochs": config.epochs, "steps": state.global_step, "best_epoch_on_dev": best_epoch,
            "best_dev_metric": state.best_metric, "train_seconds": round(train_seconds, 1),
            "seconds_per_step": round(train_seconds / max(1, state.global_step), 3),
            "history": _compact_history(state.log_history)}


def _gold(task: Task, examples: list) -> list:
    if task.kind == TOKEN:
        return [list(e.tags) for e in examples]
    return [e.label for e in examples]


def _task_summary(task: Task, prefix: str, max_length: int) -> dict:
    return {"name": task.name, "kind": task.kind, "labels": list(task.labels),
            "label_source": task.label_source, "primary_metric": task.primary_metric,
            "text_prefix": prefix, "max_length": max_length}


def _compact_history(history: list[dict]) -> list[dict]:
    keep = ("epoch", "step", "loss", "eval_loss", "learning_rate")
    return [{k: v for k, v in entry.items() if k in keep or k.startswith("eval_") and "runtime" not in k
             and "per_second" not in k} for entry in history]


def environment() -> dict:
    from edgedistill.env import cpu_model

    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "edgedistill": edgedistill.__version__,
            "device": "cuda" if torch.cuda.is_available() else "cpu", "cpu": cpu_model(),
            "torch_threads": torch.get_num_threads()}


def _write_model(output_dir: Path, model, teacher, task: Task, config: FinetuneConfig, prefix: str,
                 results: dict, overwrite: bool) -> None:
    provenance = {**teacher.provenance,
                  "display_name": f"{teacher.display_name}, fine-tuned on {task.name}",
                  "fine_tuned_from": config.model, "task": task.name}
    task_info = {"format_version": 1, **_task_summary(task, prefix, config.max_length),
                 "data": asdict(config.data), "data_identity": data_identity(config.data),
                 "base_model": config.model,
                 "base_model_display_name": teacher.display_name}
    with atomic_directory(output_dir, overwrite=overwrite) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        teacher.tokenizer.save_pretrained(tmp)
        (tmp / "edgedistill-teacher.json").write_text(json.dumps(provenance, indent=2) + "\n")
        (tmp / TASK_FILE).write_text(json.dumps(task_info, indent=2, ensure_ascii=False) + "\n")
        (tmp / RESULTS_FILE).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        config.save(tmp / CONFIG_FILE)
