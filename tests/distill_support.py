"""Shared pieces of the distillation tests: one tiny student shape, tiny teachers, a tiny task run."""

from __future__ import annotations

from pathlib import Path

from edgedistill.distill.config import DataConfig, DistillConfig, StudentConfig, TeacherConfig, TrainingConfig
from edgedistill.tasks.config import DataSpec

TINY_STUDENT = StudentConfig(init="fresh", num_layers=1, hidden_size=16, num_heads=2, intermediate_size=32,
                             embeddings="project")


def tiny_teacher(folder: Path, head: str, tokenizer) -> Path:
    """A 2-layer, 32-wide XLM-R-shaped teacher with ``head``, saved to ``folder``."""
    from edgedistill.fixtures import tiny_model

    return tiny_model("xlmr", head, tokenizer=tokenizer, num_layers=2, hidden_size=32, num_heads=4,
                      intermediate_size=64).save(folder)


def tiny_task_config(teacher: Path, out: Path, *, name: str, losses: list, train: int, evaluate: int,
                     **training) -> DistillConfig:
    """A distillation of ``teacher`` on a slice of AfriSenti Hausa into TINY_STUDENT."""
    return DistillConfig(
        name=name, output_dir=str(out), teacher=TeacherConfig(model=str(teacher)),
        data=DataConfig(task=DataSpec("afrisenti", language="hau"), max_train_examples=train,
                        max_eval_examples=evaluate),
        student=TINY_STUDENT, losses=losses, training=TrainingConfig(**training))
