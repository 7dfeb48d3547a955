"""Target-language text for token statistics and importance batches.

Raw MAFAND sentences come from ``edgedistill.shared_data.raw_sentences``; any text file works too: one
text a line, or one column of a TSV with a header row (AfriSenti ``tweet``, SIB-200 ``text``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from edgedistill.errors import EdgedistillError


class TextSourceError(EdgedistillError):
    """A text file is missing or malformed, or no text was given."""


def read_text_file(path: str | Path, column: str | None = None) -> list[str]:
    """Non-empty lines of ``path``; with ``column``, that column of a tab-separated file with a header."""
    path = Path(path)
    if path.is_dir():
        raise TextSourceError(f"text file {path} is a directory; give the file itself")
    if not path.is_file():
        raise TextSourceError(f"text file {path} does not exist")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise TextSourceError(f"text file {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                              f"offset {exc.start})") from None
    if column is None:
        return [line.strip() for line in lines if line.strip()]
    header = lines[0].split("\t") if lines else []
    if column not in header:
        raise TextSourceError(f"{path} has no column {column!r} in its header "
                              f"(columns: {', '.join(header) or 'none'})")
    index = header.index(column)
    texts = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise TextSourceError(f"{path} line {number} has {len(fields)} tab-separated fields, "
                                  f"the header has {len(header)}")
        if fields[index].strip():
            texts.append(fields[index].strip())
    return texts


def gather_texts(languages: Iterable[str] = (), files: Iterable[str | Path] = (), *,
                 column: str | None = None, limit_per_source: int | None = None,
                 split: str | None = None) -> list[str]:
    """Raw sentences of each language plus the lines of each file, in that order."""
    from edgedistill.shared_data import raw_sentences

    texts: list[str] = []
    for lang in languages:
        texts.extend(raw_sentences(lang, limit=limit_per_source, split=split))
    for path in files:
        column_here = column if Path(path).suffix == ".tsv" else None
        texts.extend(read_text_file(path, column_here)[:limit_per_source])
    if not texts:
        raise TextSourceError("no text to count tokens on: give a language (--lang) or a text "
                              "file (--text-file)")
    return texts
