"""Readers for every data format edgedistill meets, failing loudly on a malformed line.

Each reader returns examples that remember where they came from (the line, or the row of a
Hugging Face dataset), so that a bad label found later can still be reported at its line. Only the
standard library is used here; Hugging Face ``datasets`` is imported inside ``read_hf_rows``.

Formats: AfriSenti and SIB-200 TSV (named header columns, no quoting), CoNLL NER
(``token tag``, blank line between sentences), CoNLL-U (Universal Dependencies), raw text (one
sentence a line), and local CSV / TSV / JSONL files or Hugging Face datasets with named columns.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from edgedistill.errors import EdgedistillError
from edgedistill.shared_data import DataNotFound


class DataFormatError(EdgedistillError):
    """A line (or dataset row) that does not have the shape its format needs."""

    def __init__(self, source: str | Path, line: int, expected: str, found: str | None = None,
                 unit: str = "line"):
        self.source, self.line, self.expected, self.found = str(source), line, expected, found
        where = f"{source}, {unit} {line}" if line else str(source)
        super().__init__(f"{where}: expected {expected}" + (f", found {found}" if found else ""))


@dataclass(frozen=True)
class TextExample:
    """One text (or text pair) with its label, for sequence classification."""

    text: str
    label: str | None
    line: int
    text_pair: str | None = None


@dataclass(frozen=True)
class TokenExample:
    """One sentence of words with one tag each, for token classification."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    lines: tuple[int, ...]  # where each word is, for error messages


@dataclass(frozen=True)
class PairExample:
    """Two texts and a similarity score, for embedding similarity."""

    text: str
    text_pair: str
    score: float
    line: int


Example = TextExample | TokenExample | PairExample


def _require_file(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        raise DataNotFound(f"data file {path} is a directory; give the file itself")
    if not path.is_file():
        raise DataNotFound(f"data file {path} does not exist")
    return path


def _decoded_lines(path: Path, keepends: bool = False) -> Iterator[tuple[int, str]]:
    """(line number, text) for each line, decoding UTF-8 line by line to name a bad line."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataFormatError(path, number, "UTF-8 text",
                                      f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1}") from None
            if number == 1:
                text = text.removeprefix("\ufeff")
            yield number, text if keepends else text.rstrip("\r\n")


def _non_blank_lines(path: Path, what: str) -> Iterator[tuple[int, str]]:
    """Lines that hold data; a blank line is allowed only at the end of the file."""
    blank_at = None
    for number, line in _decoded_lines(path):
        if not line.strip():
            blank_at = blank_at or number
            continue
        if blank_at is not None:
            raise DataFormatError(path, blank_at, what, "an empty line")
        yield number, line


# ---------------------------------------------------------------- tables with a header row

def read_tsv_rows(path: str | Path, required: Iterable[str] = ()) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a tab-separated file with a header; every row must have the header's field count.

    No quoting: AfriSenti tweets contain quote characters that are text, not CSV quoting.
    """
    path = _require_file(path)
    lines = _non_blank_lines(path, "a row of tab-separated fields")
    first = next(lines, None)
    if first is None:
        raise DataFormatError(path, 1, "a header line of tab-separated column names", "an empty file")
    columns = first[1].split("\t")
    _check_header(path, columns, required)
    for number, line in lines:
        fields = line.split("\t")
        if len(fields) != len(columns):
            raise DataFormatError(path, number, f"{len(columns)} tab-separated fields "
                                  f"({', '.join(columns)})", f"{len(fields)}")
        yield number, dict(zip(columns, fields, strict=True))


def read_csv_rows(path: str | Path, required: Iterable[str] = ()) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a comma-separated file with a header and standard CSV quoting.

    Lines end at a line feed (LF or CRLF). A carriage return anywhere else in a line (a line break
    lost on its way through a Windows tool) is read as a space: the csv module refuses it inside an
    unquoted field, or with ``newline=''`` ends the row there, cutting the text in two.
    """
    path = _require_file(path)
    reader = csv.reader(_csv_line(line) for _, line in _decoded_lines(path, keepends=True))
    try:
        columns = next(reader, None)
        if columns is None:
            raise DataFormatError(path, 1, "a header line of comma-separated column names",
                                  "an empty file")
        _check_header(path, columns, required)
        for fields in reader:
            if not any(field.strip() for field in fields):
                continue
            if len(fields) != len(columns):
                raise DataFormatError(path, reader.line_num, f"{len(columns)} comma-separated fields "
                                      f"({', '.join(columns)})", f"{len(fields)}")
            yield reader.line_num, dict(zip(columns, fields, strict=True))
    except csv.Error as exc:
        raise DataFormatError(path, reader.line_num, "well-formed CSV", str(exc)) from None


def _csv_line(line: str) -> str:
    body = line.rstrip("\r\n")
    return body.replace("\r", " ") + line[len(body):]


def _check_header(path: Path, columns: list[str], required: Iterable[str]) -> None:
    for name in required:
        if name not in columns:
            raise DataFormatError(path, 1, f"a header with a {name!r} column",
                                  f"columns {', '.join(columns)}")


def read_jsonl_rows(path: str | Path) -> Iterator[tuple[int, dict]]:
    """One JSON object a line."""
    path = _require_file(path)
    for number, line in _non_blank_lines(path, "one JSON object a line"):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(path, number, "one JSON object a line", f"invalid JSON ({exc.msg})") \
                from None
        if not isinstance(row, dict):
            raise DataFormatError(path, number, "a JSON object", f"a {type(row).__name__}")
        yield number, row


def read_hf_rows(source: str, split: str, config_name: str | None = None
                 ) -> Iterator[tuple[int, dict]]:
    """Rows of a Hugging Face dataset: a ``save_to_disk`` folder, or a hub id where there is internet.

    Integer labels of ``ClassLabel`` features come back as their names. Rows are numbered from 1.
    """
    dataset = _load_hf_split(source, split, config_name)
    converters = {name: _class_label_names(feature) for name, feature in dataset.features.items()}
    for index, row in enumerate(dataset, 1):
        yield index, {name: _to_names(value, converters.get(name)) for name, value in row.items()}


class DatasetLoadError(EdgedistillError):
    """A Hugging Face dataset could not be loaded."""


def _load_hf_split(source: str, split: str, config_name: str | None):
    import datasets

    path = Path(source).expanduser()
    try:
        if path.is_dir() and any((path / name).is_file() for name in
                                 ("dataset_dict.json", "dataset_info.json", "state.json")):
            loaded = datasets.load_from_disk(str(path))
            if isinstance(loaded, datasets.DatasetDict):
                if split not in loaded:
                    raise DatasetLoadError(f"Hugging Face dataset {source} has no split {split!r}; "
                                           f"its splits are {', '.join(loaded)}")
                return loaded[split]
            return loaded
        return datasets.load_dataset(source, config_name, split=split)
    except DatasetLoadError:
        raise
    except Exception as exc:  # datasets raises many types for a missing or unreachable dataset
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        hint = "" if path.exists() else " (a hub id needs internet; offline, give a save_to_disk folder)"
        raise DatasetLoadError(f"could not load Hugging Face dataset {source!r} (split {split!r}): "
                               f"{first_line}{hint}") from None


def _class_label_names(feature) -> list[str] | None:
    names = getattr(feature, "names", None)
    if names is None:  # a Sequence / List of ClassLabel, as for NER tags
        names = getattr(getattr(feature, "feature", None), "names", None)
    return list(names) if names else None


def _to_names(value, names: list[str] | None):
    if names is None:
        return value
    if isinstance(value, list):
        return [names[v] if isinstance(v, int) else v for v in value]
    return names[value] if isinstance(value, int) else value


# ---------------------------------------------------------------- rows to examples

@dataclass(frozen=True)
class Columns:
    """Which named columns hold the text, the optional second text, the label, the words and tags."""

    text: str = "text"
    text_pair: str | None = None
    label: str = "label"
    tokens: str = "tokens"
    tags: str = "tags"


def _field(row: dict, column: str, source, line: int, unit: str):
    if column not in row:
        raise DataFormatError(source, line, f"a column named {column!r}",
                              f"columns {', '.join(map(str, row))}", unit)
    return row[column]


def _text_field(row: dict, column: str, source, line: int, unit: str, what: str) -> str:
    value = _field(row, column, source, line, unit)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise DataFormatError(source, line, f"a {what} in column {column!r}",
                              f"a {type(value).__name__}", unit)
    value = str(value)
    if not value.strip():
        raise DataFormatError(source, line, f"a non-empty {what} in column {column!r}", None, unit)
    return value


def rows_to_text_examples(rows: Iterable[tuple[int, dict]], columns: Columns, source,
                          unit: str = "line") -> list[TextExample]:
    """Sequence-classification examples from named columns."""
    examples = []
    for line, row in rows:
        text = _text_field(row, columns.text, source, line, unit, "text")
        pair = (_text_field(row, columns.text_pair, source, line, unit, "text")
                if columns.text_pair else None)
        label = _text_field(row, columns.label, source, line, unit, "label")
        examples.append(TextExample(text, label, line, pair))
    return examples


def rows_to_pair_examples(rows: Iterable[tuple[int, dict]], columns: Columns, source,
                          unit: str = "line") -> list[PairExample]:
    """Embedding-similarity examples: two texts and a numeric score."""
    if not columns.text_pair:
        raise EdgedistillError("embedding similarity needs a second text column (text_pair_column)")
    examples = []
    for line, row in rows:
        text = _text_field(row, columns.text, source, line, unit, "text")
        pair = _text_field(row, columns.text_pair, source, line, unit, "text")
        raw_score = _text_field(row, columns.label, source, line, unit, "score")
        try:
            score = float(raw_score)
        except ValueError:
            raise DataFormatError(source, line, f"a number in column {columns.label!r}",
                                  repr(raw_score), unit) from None
        examples.append(PairExample(text, pair, score, line))
    return examples


def rows_to_token_examples(rows: Iterable[tuple[int, dict]], columns: Columns, source,
                           unit: str = "line") -> list[TokenExample]:
    """Token-classification examples from a list-of-words column and a list-of-tags column."""
    examples = []
    for line, row in rows:
        tokens = _field(row, columns.tokens, source, line, unit)
        tags = _field(row, columns.tags, source, line, unit)
        if not isinstance(tokens, list) or not isinstance(tags, list):
            raise DataFormatError(source, line, f"lists in columns {columns.tokens!r} and "
                                  f"{columns.tags!r}", None, unit)
        if len(tokens) != len(tags) or not tokens:
            raise DataFormatError(source, line, "as many tags as words (at least one)",
                                  f"{len(tokens)} words and {len(tags)} tags", unit)
        examples.append(TokenExample(tuple(map(str, tokens)), tuple(map(str, tags)),
                                     (line,) * len(tokens)))
    return examples


# ---------------------------------------------------------------- the shared-data formats

def read_afrisenti(path: str | Path) -> list[TextExample]:
    """AfriSenti TSV: a ``tweet<TAB>label`` header (an ``ID`` column is allowed), one tweet a line."""
    return _read_named_tsv(path, Columns(text="tweet", label="label"))


def read_sib200(path: str | Path) -> list[TextExample]:
    """SIB-200 TSV: an ``index_id<TAB>category<TAB>text`` header, one sentence a line."""
    return _read_named_tsv(path, Columns(text="text", label="category"))


def _read_named_tsv(path: str | Path, columns: Columns) -> list[TextExample]:
    rows = read_tsv_rows(path, required=(columns.text, columns.label))
    return rows_to_text_examples(rows, columns, path)


def read_labels_file(path: str | Path) -> tuple[str, ...]:
    """labels.txt: one label a line, no duplicates; the order is the task's label order."""
    path = _require_file(path)
    labels: list[str] = []
    for number, line in _non_blank_lines(path, "one label a line"):
        label = line.strip()
        if label in labels:
            raise DataFormatError(path, number, "each label once", f"{label!r} again")
        labels.append(label)
    if not labels:
        raise DataFormatError(path, 1, "one label a line", "an empty file")
    return tuple(labels)


def read_conll(path: str | Path) -> list[TokenExample]:
    """CoNLL NER (MasakhaNER): ``token tag`` a line, a blank line between sentences.

    ``-DOCSTART-`` lines are skipped. Tokens and tags may be separated by a space or a tab.
    """
    path = _require_file(path)
    sentences: list[TokenExample] = []
    words: list[tuple[str, str, int]] = []
    for number, line in _decoded_lines(path):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            _close_sentence(words, sentences)
            continue
        if len(fields) != 2:
            raise DataFormatError(path, number, "a token and its tag separated by a space "
                                  "(or a blank line between sentences)", f"{len(fields)} fields")
        words.append((fields[0], fields[1], number))
    _close_sentence(words, sentences)
    return sentences


def _close_sentence(words: list[tuple[str, str, int]], sentences: list[TokenExample]) -> None:
    if words:
        tokens, tags, lines = zip(*words, strict=True)
        sentences.append(TokenExample(tokens, tags, lines))
        words.clear()


CONLLU_COLUMNS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")


def read_conllu(path: str | Path, tag_column: str = "upos") -> list[TokenExample]:
    """CoNLL-U (Universal Dependencies): the syntactic words of each sentence and one tag column.

    Multi-word token ranges (``3-4``) and empty nodes (``5.1``) are skipped: tags belong to the
    syntactic words. Word ids must run 1, 2, 3... within a sentence.
    """
    if tag_column not in CONLLU_COLUMNS:
        raise EdgedistillError(f"CoNLL-U tag column {tag_column!r} is not one of "
                               f"{', '.join(CONLLU_COLUMNS)}")
    path = _require_file(path)
    column = CONLLU_COLUMNS.index(tag_column)
    sentences: list[TokenExample] = []
    words: list[tuple[str, str, int]] = []
    for number, line in _decoded_lines(path):
        if not line.strip():
            _close_sentence(words, sentences)
        elif not line.startswith("#"):
            word = _conllu_word(path, number, line, column, expected_id=len(words) + 1)
            if word is not None:
                words.append(word)
    _close_sentence(words, sentences)
    return sentences


def _conllu_word(path, number: int, line: str, column: int, expected_id: int):
    fields = line.split("\t")
    if len(fields) != 10:
        raise DataFormatError(path, number, "10 tab-separated CoNLL-U fields", f"{len(fields)}")
    word_id = fields[0]
    if "-" in word_id or "." in word_id:
        return None  # a multi-word token range or an empty node
    if word_id != str(expected_id):
        raise DataFormatError(path, number, f"word id {expected_id}", repr(word_id))
    tag = fields[column]
    if not tag or tag == "_":
        raise DataFormatError(path, number, f"a tag in column {column + 1} ({CONLLU_COLUMNS[column]})",
                              repr(tag))
    return fields[1], tag, number


def read_raw_text(path: str | Path, limit: int | None = None) -> list[str]:
    """Unlabelled text, one sentence a line; blank lines are skipped."""
    path = _require_file(path)
    sentences: list[str] = []
    for _, line in _decoded_lines(path):
        if line.strip():
            sentences.append(line.strip())
            if limit is not None and len(sentences) >= limit:
                break
    return sentences
