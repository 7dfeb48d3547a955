"""Refuse an output path that would destroy a command's own input, whatever --overwrite says.

Writing a directory replaces it whole (``edgedistill.atomic``), so an output equal to an input, one
inside an input, or one that holds an input would delete what the command reads: ``export M --out M
--overwrite`` used to turn a model into a bundle. Every command with an input and an output path
calls ``refuse_output_over_inputs`` before it does any work. Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from edgedistill.errors import EdgedistillError

# The fields of a DataSpec that name local files or folders (``source`` may also be a hub id).
DATA_PATH_KEYS = ("train", "dev", "test", "labels_file", "source")


class OutputOverlapsInput(EdgedistillError):
    """The output path is, lies inside, or contains an input of the same command."""


def refuse_output_over_inputs(out: str | Path | None, inputs: Iterable[str | Path | None],
                              *, option: str = "the output") -> None:
    """Raise OutputOverlapsInput when ``out`` is, lies inside, or contains one of ``inputs``.

    Inputs that are not existing local paths (a hub id, ``e5-small``, None) are skipped. Symbolic
    links are followed, so a link to the input counts as the input.
    """
    if out is None:
        return
    target = Path(out).expanduser().resolve()
    for given in inputs:
        if given is None or str(given) == "" or not Path(given).expanduser().exists():
            continue
        source = Path(given).expanduser().resolve()
        if target == source:
            relation = "is"
        elif target.is_relative_to(source):
            relation = "lies inside"
        elif source.is_relative_to(target):
            relation = "contains"
        else:
            continue
        raise OutputOverlapsInput(f"{option} {out} {relation} the input {given}, and writing there would "
                                  f"destroy or change that input, even with --overwrite: choose an output "
                                  f"path outside every input")


def data_paths(data: Any) -> list[str]:
    """The local files and folders a data spec (a DataSpec or its dict) reads; empty for none."""
    if data is None:
        return []
    values = asdict(data) if is_dataclass(data) else dict(data)
    return [str(values[key]) for key in DATA_PATH_KEYS if values.get(key)]
