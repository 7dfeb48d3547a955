"""A recipe: one distillation and the ``[[next]]`` steps after it, read and checked once.

``Recipe`` is a ``DistillConfig`` (the distillation) plus ``next``, the steps the chain runs after it;
each step's options are read by its kind (``edgedistill.chain.next_steps``) when the recipe is, so the
plan and the stages receive typed objects. ``load_recipe("comet")`` reads a shipped recipe
(``edgedistill/recipes/*.toml``); ``load_recipe("my-run.toml")`` reads a file.

Overrides address keys by their dotted path, as in the error messages: ``training.epochs=1``,
``losses[0].temperature=4``, ``next[0].target_size=80000``; a value is read as TOML (``2``, ``true``,
``[[-1, -1]]``, ``"text"``, ``{epochs = 1}``) and otherwise taken as a string; ``none`` removes the key
(its default applies). Standard library only: reading a recipe needs no torch.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from edgedistill.chain.next_steps import STEP_KINDS, BenchStep, ExportStep
from edgedistill.config import ConfigError, check_choice, parse_text, to_plain
from edgedistill.distill.config import DistillConfig


@dataclass
class NextStep:
    """One ``[[next]]`` table: the step's name, its options as written, and (``kind``) those options read
    by the step's class in STEP_KINDS."""

    step: str
    options: dict[str, Any] = field(default_factory=dict)
    kind: Any = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_table(cls, value: Any, where: str) -> NextStep:
        if not isinstance(value, dict) or not isinstance(value.get("step"), str):
            raise ConfigError(f"{where} needs a step, one of {', '.join(STEP_KINDS)}")
        return cls(value["step"], {k: v for k, v in value.items() if k != "step"})

    def to_table(self) -> dict[str, Any]:
        return {"step": self.step, **to_plain(self.options)}


@dataclass
class Recipe(DistillConfig):
    """A whole recipe file: the distillation and the steps after it."""

    next: list[NextStep] = field(default_factory=list)

    def validate(self) -> None:
        super().validate()
        for index, step in enumerate(self.next):
            check_choice(step.step, tuple(STEP_KINDS), f"next[{index}].step")
            step.kind = STEP_KINDS[step.step].parse(step.options, f"next[{index}]", self, index)

    @property
    def export_step(self) -> ExportStep:
        """The options of the export and quantize stages: the last export step's, else the defaults."""
        return next((s.kind for s in reversed(self.next) if s.step == "export"), ExportStep())

    @property
    def bench_step(self) -> BenchStep:
        """The options of the bench stage: the last bench step's, else the chain's defaults."""
        return next((s.kind for s in reversed(self.next) if s.step == "bench"), BenchStep())

    def distillation(self) -> Recipe:
        """The first distillation alone: this recipe without its steps and output folder."""
        return self.replace(next=[], output_dir=None)


RECIPE_PACKAGE = "edgedistill.recipes"
_INDEX = re.compile(r"^(?P<name>[^\[\]]+)\[(?P<index>\d+)\]$")


def _recipe_folder() -> Path:
    return Path(str(resources.files(RECIPE_PACKAGE)))


def list_recipes() -> dict[str, str]:
    """Shipped recipe names and their one-line descriptions."""
    found = {}
    for path in sorted(_recipe_folder().glob("*.toml")):
        values = parse_text(path.read_text(encoding="utf-8"), "toml", str(path))
        found[path.stem] = values.get("description", "")
    return found


def recipe_path(name_or_path: str | Path) -> Path:
    """A shipped recipe's file, or the given file."""
    text = str(name_or_path)
    shipped = _recipe_folder() / f"{text}.toml"
    if "/" not in text and not text.endswith((".toml", ".json")):
        if shipped.is_file():
            return shipped
        raise ConfigError(f"no recipe named {text!r}; shipped recipes: {', '.join(list_recipes())} "
                          f"(or give a .toml file)")
    path = Path(text).expanduser()
    if not path.is_file():
        raise ConfigError(f"recipe file {path} does not exist")
    return path


def load_recipe(name_or_path: str | Path,
                overrides: list[str] | dict[str, Any] | None = None) -> Recipe:
    """Read a recipe and apply ``overrides`` (``["key=value", ...]`` or ``{"key": value}``)."""
    recipe = Recipe.load(recipe_path(name_or_path))
    return apply_overrides(recipe, overrides) if overrides else recipe


def apply_overrides(config: Recipe, overrides: list[str] | dict[str, Any]) -> Recipe:
    """A new recipe with the dotted keys set; unknown keys and bad values are errors naming the key."""
    return Recipe.from_dict(override(config.to_dict(), overrides), where="the overridden config")


def override(values: dict[str, Any], overrides: list[str] | dict[str, Any]) -> dict[str, Any]:
    """A copy of a recipe's dict form (``Recipe.to_dict()``, every default in place), dotted keys set."""
    if isinstance(overrides, dict):
        pairs = list(overrides.items())
    else:
        pairs = [split_assignment(item) for item in overrides]
    values = copy.deepcopy(values)
    for key, value in pairs:
        _set(values, key, value)
    return values


def split_assignment(item: str) -> tuple[str, Any]:
    """``"training.epochs=2"`` -> ``("training.epochs", 2)``; the value is read as TOML if it can be."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not KEY=VALUE (e.g. training.epochs=2)")
    key, raw = (part.strip() for part in item.split("=", 1))
    return key, parse_value(raw)


def parse_value(raw: str) -> Any:
    if raw.lower() in ("none", "null"):
        return None
    try:
        return parse_text(f"value = {raw}", "toml", "value")["value"]
    except ConfigError:
        return raw


def _set(values: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    target: Any = values
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        name, index = _split_index(part, key)
        if not isinstance(target, dict):
            raise ConfigError(f"override {key}: {'.'.join(parts[:depth])} is not a table")
        if index is None:
            if last:
                _assign(target, name, value)
                return
            if not isinstance(target.get(name), dict):
                target[name] = {}
            target = target[name]
            continue
        items = target.get(name)
        if not isinstance(items, list) or index >= len(items):
            count = len(items) if isinstance(items, list) else 0
            raise ConfigError(f"override {key}: {name} has {count} entries, so there is no "
                                     f"{name}[{index}]")
        if last:
            items[index] = value
            return
        target = items[index]


def _assign(target: dict[str, Any], name: str, value: Any) -> None:
    if value is None:
        target.pop(name, None)
    else:
        target[name] = value


def _split_index(part: str, key: str) -> tuple[str, int | None]:
    match = _INDEX.match(part)
    if match:
        return match["name"], int(match["index"])
    if not part or "[" in part or "]" in part:
        raise ConfigError(f"override key {key!r} is malformed; write e.g. losses[0].weight")
    return part, None
