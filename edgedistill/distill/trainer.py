"""Distillation on the Hugging Face Trainer: checkpoints, resume, mixed precision, logging and
multi-process training (``torchrun``/``accelerate``) come with it.

The Trainer optimises a ``DistillationModule``: the student plus the objective, whose learned parts
(linear maps between hidden widths, teacher-layer mixtures) train with the student and are wrapped
by DistributedDataParallel with it. The teacher stays outside: it runs in eval mode under
``torch.no_grad`` in ``compute_loss`` (or is not run at all when the batch carries cached outputs),
so no gradient ever reaches it.

A checkpoint holds the student as a normal Hugging Face directory, the objective's parameters in
``distill-objective.safetensors``, and the Trainer's optimizer, scheduler and RNG states.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from transformers import Trainer

from edgedistill.distill.losses import DistillationObjective, Needs, Signals, forward_signals
from edgedistill.distill.teacher_cache import teacher_signals_from_batch
from edgedistill.training_guard import StopOnNonFinite, check_loss

OBJECTIVE_FILE = "distill-objective.safetensors"
STUDENT_WEIGHTS = "model.safetensors"


class DistillationModule(nn.Module):
    """The student and the objective, trained together; forward returns the loss and its parts."""

    def __init__(self, student: nn.Module, objective: DistillationObjective, needs: Needs,
                 row_mode: str | None) -> None:
        super().__init__()
        self.student = student
        self.objective = objective
        self.needs = needs
        self.row_mode = row_mode

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, teacher: Signals,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> dict:
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            batch["token_type_ids"] = token_type_ids
        if labels is not None:
            batch["labels"] = labels
        student = forward_signals(self.student, batch, row_mode=self.row_mode,
                                  logits=self.needs.student_logits, attentions=self.needs.student_attentions,
                                  hidden=self.needs.student_hidden)
        loss, parts = self.objective(student, teacher)
        return {"loss": loss, "parts": parts}


class DistillationTrainer(Trainer):
    """A Trainer whose loss is the distillation objective against a frozen teacher."""

    def __init__(self, *args, teacher: nn.Module | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.teacher = teacher
        if teacher is not None:
            freeze(teacher)
            teacher.to(self.args.device)
        self.add_callback(StopOnNonFinite(Path(self.args.output_dir)))
        self._part_sums: dict[str, float] = {}
        self._part_count = 0

    @property
    def module(self) -> DistillationModule:
        return self.accelerator.unwrap_model(self.model)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        teacher = teacher_signals_from_batch(inputs) or self._run_teacher(inputs)
        outputs = model(**inputs, teacher=teacher)
        if model.training:
            check_loss(outputs["loss"], self.state.global_step + 1, Path(self.args.output_dir))
        self._remember(outputs["parts"])
        return (outputs["loss"], outputs) if return_outputs else outputs["loss"]

    def _run_teacher(self, inputs: dict[str, torch.Tensor]) -> Signals:
        if self.teacher is None:
            raise RuntimeError("no teacher and no cached teacher outputs in the batch")
        needs = self.module.needs
        with torch.no_grad(), self.autocast_smart_context_manager():
            return forward_signals(self.teacher, inputs, row_mode=self.module.row_mode,
                                   logits=needs.teacher_logits, attentions=needs.teacher_attentions,
                                   hidden=needs.teacher_hidden, as_teacher=True)

    # -- logging each loss term beside the total

    def _remember(self, parts: dict[str, torch.Tensor]) -> None:
        if not self.model.training:
            return
        for name, value in parts.items():
            self._part_sums[name] = self._part_sums.get(name, 0.0) + float(value)
        self._part_count += 1

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._part_count:
            for name, total in self._part_sums.items():
                logs[f"loss_{name}"] = round(total / self._part_count, 6)
            self._part_sums, self._part_count = {}, 0
        super().log(logs, start_time)

    # -- checkpoints: the student as a Hugging Face directory, the objective beside it

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        from safetensors.torch import save_file

        output_dir = output_dir or self.args.output_dir
        os.makedirs(output_dir, exist_ok=True)
        module = self.module
        module.student.save_pretrained(output_dir, safe_serialization=True)
        objective_state = {k: v.detach().contiguous().cpu() for k, v in module.objective.state_dict().items()}
        if objective_state:
            save_file(objective_state, os.path.join(output_dir, OBJECTIVE_FILE))
        torch.save(self.args, os.path.join(output_dir, "training_args.bin"))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        load_checkpoint_weights(self.module, Path(resume_from_checkpoint))


def load_checkpoint_weights(module: DistillationModule, folder: Path) -> None:
    """Load a checkpoint's student and objective weights into ``module``."""
    from safetensors.torch import load_file

    state = load_file(folder / STUDENT_WEIGHTS)
    missing, unexpected = module.student.load_state_dict(state, strict=False)
    tied = set(getattr(module.student, "_tied_weights_keys", None) or [])
    untied_missing = [k for k in missing if k not in tied]
    if unexpected or untied_missing:
        raise RuntimeError(f"checkpoint {folder} does not fit the student: missing {untied_missing[:3]}, "
                           f"unexpected {unexpected[:3]}")
    module.student.tie_weights()
    objective_file = folder / OBJECTIVE_FILE
    if objective_file.is_file():
        module.objective.load_state_dict(load_file(objective_file), strict=True)


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode (no dropout) and no gradients: how a teacher is held."""
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model
