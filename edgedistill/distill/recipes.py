"""The shipped recipes (``edgedistill/recipes/*.toml``) and command-line overrides of any key.

A recipe is a whole ``DistillConfig`` in TOML. ``load_recipe("comet")`` reads a shipped one;
``load_recipe("my-run.toml")`` reads a file. Overrides address keys by their dotted path, as in
the error messages: ``training.epochs=1``, ``losses[0].temperature=4``, ``data.task.language=yor``;
a value is read as TOML (``2``, ``true``, ``[[-1, -1]]``, ``"text"``) and otherwise taken as a
string; ``none`` removes the key (its default applies).
"""

from __future__ import annotations

import copy
import re
from importlib import resources
from pathlib import Path
from typing import Any

from edgedistill.distill.config import DistillConfig, DistillConfigError, parse_toml

RECIPE_PACKAGE = "edgedistill.recipes"
_INDEX = re.compile(r"^(?P<name>[^\[\]]+)\[(?P<index>\d+)\]$")


def _recipe_folder() -> Path:
    return Path(str(resources.files(RECIPE_PACKAGE)))


def list_recipes() -> dict[str, str]:
    """Shipped recipe names and their one-line descriptions."""
    found = {}
    for path in sorted(_recipe_folder().glob("*.toml")):
        values = parse_toml(path.read_text(encoding="utf-8"), str(path))
        found[path.stem] = values.get("description", "")
    return found


def recipe_path(name_or_path: str | Path) -> Path:
    """A shipped recipe's file, or the given file."""
    text = str(name_or_path)
    shipped = _recipe_folder() / f"{text}.toml"
    if "/" not in text and not text.endswith((".toml", ".json")):
        if shipped.is_file():
            return shipped
        raise DistillConfigError(f"no recipe named {text!r}; shipped recipes: {', '.join(list_recipes())} "
                                 f"(or give a .toml file)")
    path = Path(text).expanduser()
    if not path.is_file():
        raise DistillConfigError(f"recipe file {path} does not exist")
    return path


def load_recipe(name_or_path: str | Path,
                overrides: list[str] | dict[str, Any] | None = None) -> DistillConfig:
    """Read a recipe and apply ``overrides`` (``["key=value", ...]`` or ``{"key": value}``)."""
    config = DistillConfig.load(recipe_path(name_or_path))
    return apply_overrides(config, overrides) if overrides else config


def apply_overrides(config: DistillConfig, overrides: list[str] | dict[str, Any]) -> DistillConfig:
    """A new config with the dotted keys set; unknown keys and bad values are errors naming the key."""
    if isinstance(overrides, dict):
        pairs = list(overrides.items())
    else:
        pairs = [split_assignment(item) for item in overrides]
    values = copy.deepcopy(config.to_dict())
    for key, value in pairs:
        _set(values, key, value)
    return DistillConfig.from_dict(values, source="the overridden config")


def split_assignment(item: str) -> tuple[str, Any]:
    """``"training.epochs=2"`` -> ``("training.epochs", 2)``; the value is read as TOML if it can be."""
    if "=" not in item:
        raise DistillConfigError(f"override {item!r} is not KEY=VALUE (e.g. training.epochs=2)")
    key, raw = (part.strip() for part in item.split("=", 1))
    return key, parse_value(raw)


def parse_value(raw: str) -> Any:
    if raw.lower() in ("none", "null"):
        return None
    try:
        return parse_toml(f"value = {raw}", "value")["value"]
    except DistillConfigError:
        return raw


def _set(values: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    target: Any = values
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        name, index = _split_index(part, key)
        if not isinstance(target, dict):
            raise DistillConfigError(f"override {key}: {'.'.join(parts[:depth])} is not a table")
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
            raise DistillConfigError(f"override {key}: {name} has {count} entries, so there is no "
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
        raise DistillConfigError(f"override key {key!r} is malformed; write e.g. losses[0].weight")
    return part, None
