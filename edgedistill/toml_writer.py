"""One small TOML writer for every config the project saves (Python reads TOML but cannot write it).

Nested dicts become tables, lists of dicts arrays of tables, other lists inline arrays; None values
are left out, because TOML has no null and a missing key means the default.
"""

from __future__ import annotations

import json
from typing import Any

from edgedistill.errors import EdgedistillError


class TomlWriteError(EdgedistillError):
    """A value that TOML cannot hold."""


def to_toml(values: dict[str, Any]) -> str:
    lines: list[str] = []
    _emit_table(values, "", lines)
    return "\n".join(lines).strip() + "\n"


def _emit_table(table: dict[str, Any], prefix: str, lines: list[str]) -> None:
    for key, value in table.items():
        if value is not None and not isinstance(value, dict) and not _is_table_array(value):
            lines.append(f"{_toml_key(key)} = {toml_value(value, _dotted(prefix, key))}")
    for key, value in table.items():
        name = _dotted(prefix, _toml_key(key))
        if isinstance(value, dict):
            lines.extend(["", f"[{name}]"])
            _emit_table(value, name, lines)
        elif _is_table_array(value):
            for item in value:
                lines.extend(["", f"[[{name}]]"])
                _emit_table(item, name, lines)


def toml_value(value: Any, where: str = "value") -> str:
    """``value`` as a TOML value; ``where`` names it in the error."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a TOML basic string, once non-BMP characters stay unescaped (TOML has no
        # surrogate pairs) and DEL is escaped (TOML forbids it raw).
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v, where) for v in value) + "]"
    raise TomlWriteError(f"{where}: cannot write a {type(value).__name__} to TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _toml_key(key: str) -> str:
    bare = key and all(c.isalnum() or c in "-_" for c in key)
    return key if bare else json.dumps(key)


def _dotted(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key
