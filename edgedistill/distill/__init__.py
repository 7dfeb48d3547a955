"""Distillation: students made from a teacher, composable losses, a Trainer-based distiller, recipes.

Importing this package is light (standard library only): configs are read without torch.
The heavy parts load on use:

    from edgedistill.chain.recipe import load_recipe
    config = load_recipe("comet", {"output_dir": "runs/comet-hau"})
    from edgedistill.distill.run import distill
    outcome = distill(config)          # the same run as `edgedistill distill comet --out runs/comet-hau`

Modules: ``config`` (the dataclasses of one distillation), ``students``, ``losses``, ``trainer``,
``teacher_cache``, ``data``, ``run``, ``ablation``. Recipe files (a distillation and the steps after
it) are read by ``edgedistill.chain.recipe``.
"""

from edgedistill.distill.config import (
    LOSS_TERMS,
    AttentionTerm,
    DataConfig,
    DistillConfig,
    HiddenTerm,
    KLTerm,
    LabelTerm,
    LogitMSETerm,
    MLMTerm,
    RawTextConfig,
    StudentConfig,
    TeacherConfig,
    TrainingConfig,
)

__all__ = [
    "LOSS_TERMS", "AttentionTerm", "DataConfig", "DistillConfig", "HiddenTerm", "KLTerm", "LabelTerm",
    "LogitMSETerm", "MLMTerm", "RawTextConfig", "StudentConfig", "TeacherConfig", "TrainingConfig",
]
