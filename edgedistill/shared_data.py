"""The shared data folder (``../shared/data``): where the real evaluation data lives, and the raw
text used for statistics and fixtures.

The data is read in place, never copied into the repository: ``$EDGEDISTILL_DATA`` when set,
otherwise ``../shared/data`` beside the project (or beside the current directory).
"""

from __future__ import annotations

import os
from pathlib import Path

from edgedistill.errors import EdgedistillError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RAW_TEXT_LANGUAGES = ("hau", "ibo", "kin", "swa", "yor")
# SIB-200 (swh_Latn) names Swahili by its ISO 639-3 individual-language code; MAFAND's raw text by
# the macrolanguage code, swa. Both are the same Swahili.
RAW_TEXT_ALIASES = {"swh": "swa"}


class DataNotFound(EdgedistillError):
    """The data folder, or a file inside it, is not there."""


def data_root(required: bool = True) -> Path | None:
    """The data folder: $EDGEDISTILL_DATA, else ../shared/data from the project or the cwd."""
    env = os.environ.get("EDGEDISTILL_DATA")
    if env:
        path = Path(env).expanduser()
        if path.is_dir():
            return path
        if required:
            raise DataNotFound(f"EDGEDISTILL_DATA points to {path}, which is not a directory")
        return None
    for candidate in (PROJECT_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    if required:
        raise DataNotFound("no data folder: set EDGEDISTILL_DATA or place the data at "
                           "../shared/data beside the project")
    return None


def raw_sentences(lang: str, limit: int | None = None, split: str | None = None) -> list[str]:
    """Unlabelled sentences in ``lang`` from raw/mafand (train split when there is one)."""
    lang = RAW_TEXT_ALIASES.get(lang, lang)
    folder = data_root() / "raw" / "mafand" / lang
    if not folder.is_dir():
        raise DataNotFound(f"no raw text for language {lang!r} at {folder}; languages with raw "
                           f"text: {', '.join(RAW_TEXT_LANGUAGES)}")
    splits = [split] if split else ["train", "dev", "test"]
    for name in splits:
        path = folder / f"{name}.{lang}"
        if path.is_file():
            lines = []
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        lines.append(line.strip())
                    if limit is not None and len(lines) >= limit:
                        break
            return lines
    raise DataNotFound(f"no {'/'.join(splits)} file for {lang!r} in {folder}")
