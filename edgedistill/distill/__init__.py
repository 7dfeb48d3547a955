"""Distillation: students made from a teacher, composable losses, a Trainer-based distiller, recipes.

Importing this package is light (standard library only): configs and recipes are read without torch.
The heavy parts load on use:

    from edgedistill.distill import DistillConfig, load_recipe
    config = load_recipe("comet").with_overrides({"output_dir": "runs/comet-hau"})
    from edgedistill.distill.run import distill
    outcome = distill(config)          # the same run as `edgedistill distill comet --out runs/comet-hau`

Modules: ``config`` (dataclasses and TOML), ``recipes`` (the shipped recipes and overrides),
``students``, ``losses``, ``trainer``, ``teacher_cache``, ``data``, ``run``, ``ablation``.
"""

from edgedistill.distill.config import (
    LOSS_TERMS,
    AttentionTerm,
    DataConfig,
    DistillConfig,
    DistillConfigError,
    HiddenTerm,
    KLTerm,
    LabelTerm,
    LogitMSETerm,
    MLMTerm,
    NextStep,
    RawTextConfig,
    StudentConfig,
    TeacherConfig,
    TrainingConfig,
)
from edgedistill.distill.recipes import apply_overrides, list_recipes, load_recipe, recipe_path

__all__ = [
    "LOSS_TERMS", "AttentionTerm", "DataConfig", "DistillConfig", "DistillConfigError", "HiddenTerm",
    "KLTerm", "LabelTerm", "LogitMSETerm", "MLMTerm", "NextStep", "RawTextConfig", "StudentConfig",
    "TeacherConfig", "TrainingConfig", "apply_overrides", "list_recipes", "load_recipe", "recipe_path",
]
