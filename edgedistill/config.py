"""One config system: dataclasses that round-trip through JSON and TOML, so the Python API and the CLI agree.

A config file holds the same keys as its dataclass, nested tables for nested dataclasses. Reading
one (``Config.from_dict``, ``Config.load``) checks every value against the field's type hint and
refuses unknown keys, so a typo never silently falls back to a default; then ``validate`` checks the
ranges. Every error is one ``ConfigError`` sentence naming the key (``losses[2].temperature``) and,
with ``where=``, the file or option it came from.

Standard library only: reading a config needs no torch.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from edgedistill.errors import EdgedistillError
from edgedistill.toml_writer import to_toml

ConfigT = TypeVar("ConfigT", bound="Config")
OMIT_IF_EMPTY = {"omit_if_empty": True}  # field metadata: left out of to_dict() while empty


class ConfigError(EdgedistillError):
    """A config file, recipe or option that cannot be used; the message names the key."""


@dataclasses.dataclass
class Config:
    """Base of every config dataclass: validation on construction, dict/JSON/TOML round trips."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError naming the key that is wrong; subclasses extend this."""

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls: type[ConfigT], values: Any, *, where: str = "the config") -> ConfigT:
        try:
            return build(cls, values)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls: type[ConfigT], text: str, *, where: str = "JSON config") -> ConfigT:
        return cls.from_dict(parse_text(text, "json", where), where=where)

    def to_toml(self) -> str:
        """TOML; None values are left out (TOML has no null) and mean the default."""
        return to_toml(self.to_dict())

    @classmethod
    def from_toml(cls: type[ConfigT], text: str, *, where: str = "TOML config") -> ConfigT:
        return cls.from_dict(parse_text(text, "toml", where), where=where)

    @classmethod
    def load(cls: type[ConfigT], path: str | Path) -> ConfigT:
        """Read a config file: ``.json`` is JSON, anything else TOML."""
        return cls.from_dict(read_config_file(path), where=str(path))

    def save(self, path: str | Path) -> Path:
        """Write ``.toml`` (by its suffix) or JSON, atomically."""
        from edgedistill.atomic import atomic_write_text

        path = Path(path)
        atomic_write_text(path, self.to_toml() if path.suffix == ".toml" else self.to_json() + "\n")
        return path

    def replace(self: ConfigT, **changes: Any) -> ConfigT:
        return dataclasses.replace(self, **changes)


class Variant:
    """A family of dataclasses that one key of the table chooses between (``type = "kl"`` is KLTerm).

    The family's base class names the key (``tag``) and returns its members by tag (``variants``);
    each member holds its own tag in a ClassVar of that name.
    """

    tag: ClassVar[str] = "type"

    @classmethod
    def variants(cls) -> dict[str, type]:
        raise NotImplementedError


# ---------------------------------------------------------------- files and text

def read_config_file(path: str | Path) -> dict[str, Any]:
    """A config file as a dict (``.json``: JSON, anything else: TOML), with one-sentence errors naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text ({exc.reason} at "
                          f"offset {exc.start})") from None
    return parse_text(text, "json" if path.suffix == ".json" else "toml", f"config file {path}")


def parse_text(text: str, form: str, where: str) -> dict[str, Any]:
    """``text`` in ``form`` ("toml" or "json") as a dict; a syntax error is one sentence naming ``where``."""
    if form == "toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            raise ConfigError(f"{where}: reading TOML needs Python 3.11 or newer; use JSON") from None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{where} is not valid TOML: {exc}") from None
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must hold a JSON object, got {_describe(values)}")
    return values


# ---------------------------------------------------------------- dataclass -> dict

def to_plain(value: Any) -> Any:
    """Dataclasses as dicts (a Variant with its tag first), tuples as lists; OMIT_IF_EMPTY fields left out."""
    if hasattr(value, "to_table"):
        return value.to_table()
    if isinstance(value, Variant):
        return {value.tag: getattr(value, value.tag),
                **{f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if dataclasses.is_dataclass(value):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) or not f.metadata.get("omit_if_empty")}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- dict -> dataclass

def build(cls: type, values: Any, where: str = "") -> Any:
    """``cls`` from a dict: unknown keys refused, every value converted to its field's type hint."""
    label = where or "the top level"
    if not isinstance(values, dict):
        raise ConfigError(f"{label} must be a table, got {_describe(values)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError(f"unknown key {_key(where, unknown[0])!r}; known keys"
                          f"{' in [' + where + ']' if where else ''}: {', '.join(sorted(fields))}")
    kwargs = {name: _convert(hints[name], value, _key(where, name)) for name, value in values.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"incomplete {label}: {exc}") from None


def _key(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _convert_union(args, value, where)
    if hint is Any:
        return value
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where} must be a list, got {_describe(value)}")
        items = [_convert(args[0], item, f"{where}[{i}]") for i, item in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table, got {_describe(value)}")
        return dict(value)
    if hasattr(hint, "from_table"):  # a type that reads its own table (a chain step)
        return hint.from_table(value, where)
    if isinstance(hint, type) and issubclass(hint, Variant):
        return _build_variant(hint, value, where)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, where)
    return _convert_scalar(hint, value, where)


def _convert_union(args: tuple, value: Any, where: str) -> Any:
    if value is None and type(None) in args:
        return None
    candidates = [a for a in args if a is not type(None)]
    errors = []
    for candidate in candidates:
        try:
            return _convert(candidate, value, where)
        except ConfigError as exc:
            errors.append(str(exc))
    if len(candidates) == 1:
        raise ConfigError(errors[0])
    if int in candidates and float in candidates:  # int | float: a number as written
        candidates.remove(int)
    wanted = " or ".join(_type_name(c) for c in candidates)
    raise ConfigError(f"{where} must be {wanted}, got {_describe(value)}")


def _convert_scalar(hint: Any, value: Any, where: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        raise ConfigError(f"{where} has a type the config reader does not know: {hint}")
    raise ConfigError(f"{where} must be {_type_name(hint)}, got {_describe(value)}")


def _build_variant(family: type[Variant], value: Any, where: str) -> Any:
    kinds = family.variants()
    if not isinstance(value, dict) or family.tag not in value:
        raise ConfigError(f"{where} needs a {family.tag}, one of {', '.join(kinds)}")
    kind = value[family.tag]
    if kind not in kinds:
        raise ConfigError(f"{where}.{family.tag} is {kind!r}; choose one of {', '.join(kinds)}")
    return build(kinds[kind], {k: v for k, v in value.items() if k != family.tag}, where)


def _type_name(hint: Any) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if hint in names:
        return names[hint]
    if typing.get_origin(hint) in (list, tuple):
        return f"a list of {_type_name(typing.get_args(hint)[0]).removeprefix('a ').removeprefix('an ')}s"
    return "a table"


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    return f"{type(value).__name__} {value!r}"


# ---------------------------------------------------------------- checks the configs share

def check_choice(value: Any, allowed: tuple[str, ...], where: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{where} is {value!r}; choose one of {', '.join(allowed)}")


def check_positive_or_none(value: int | None, where: str) -> None:
    if value is not None and value <= 0:
        raise ConfigError(f"{where} must be a positive integer, got {value}")
