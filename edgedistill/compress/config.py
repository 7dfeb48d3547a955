"""Dataclass configs that round-trip through JSON and TOML, so the Python API and the CLI agree.

A config file holds the same keys as the dataclass; the CLI reads one with ``--config`` and its
options override single keys. Unknown keys are refused rather than ignored, so a typo in a config
file never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, TypeVar

from edgedistill.errors import EdgedistillError
from edgedistill.toml_writer import to_toml

ConfigT = TypeVar("ConfigT", bound="CompressionConfig")


class ConfigError(EdgedistillError):
    """A compression config (file or arguments) is invalid."""


@dataclasses.dataclass
class CompressionConfig:
    """Base of the compression configs: validation plus JSON/TOML round trips."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError naming the field that is wrong; subclasses extend this."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[ConfigT], values: dict[str, Any], *, source: str = "config") -> ConfigT:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{source} has unknown key(s) {', '.join(unknown)} for "
                              f"{cls.__name__}; known keys are {', '.join(sorted(known))}")
        # JSON and TOML have lists where the dataclasses hold tuples (hashable, immutable).
        values = cls.complete({k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"{source} is not a valid {cls.__name__}: {exc}") from None

    @classmethod
    def complete(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Fill in keys a file may leave out because TOML cannot write None; subclasses override."""
        return values

    def replace(self: ConfigT, **changes: Any) -> ConfigT:
        """A copy with some fields changed (None values are ignored, as for unset CLI options)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls: type[ConfigT], text: str, *, source: str = "JSON config") -> ConfigT:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{source} is not valid JSON: {exc}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{source} must hold a JSON object of {cls.__name__} keys")
        return cls.from_dict(values, source=source)

    def to_toml(self) -> str:
        """Flat TOML; None values are left out (TOML has no null) and mean the default."""
        return to_toml(self.to_dict())

    @classmethod
    def from_toml(cls: type[ConfigT], text: str, *, source: str = "TOML config") -> ConfigT:
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            raise ConfigError(f"{source}: reading TOML needs Python 3.11 or newer; use JSON") from None
        try:
            values = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source} is not valid TOML: {exc}") from None
        return cls.from_dict(values, source=source)

    @classmethod
    def load(cls: type[ConfigT], path: str | Path) -> ConfigT:
        """Read a ``.json`` or ``.toml`` config file."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {path} is not UTF-8 text ({exc.reason} at "
                              f"offset {exc.start})") from None
        if path.suffix == ".toml":
            return cls.from_toml(text, source=str(path))
        if path.suffix == ".json":
            return cls.from_json(text, source=str(path))
        raise ConfigError(f"config file {path} must end in .json or .toml")

    def save(self, path: str | Path) -> None:
        from edgedistill.atomic import atomic_write_text

        path = Path(path)
        atomic_write_text(path, self.to_toml() if path.suffix == ".toml" else self.to_json() + "\n")
