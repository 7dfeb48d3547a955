"""Line-by-line prediction with memory bounded per line, for ``edgedistill predict``.

Input is read as UTF-8 (bytes that are not UTF-8 become U+FFFD) and split on "\\n" only: a "\\r"
inside a line is part of the text, and the "\\r" of a "\\r\\n" ending is dropped, so the records
line up with the lines. Each line is read in pieces: its first ``Predictor.read_chars`` characters
(all that classification and embedding look at) and then the rest, which is echoed into the record
as it is read (a token classifier tags it block by block), so a 50 MB line costs no more memory
than a short one. Every record is one JSON line, ``{"text": ..., <the prediction>}``.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from edgedistill.runtime.predictor import Predictor, clean_text

PIECE_CHARS = 1 << 16  # characters read at a time after a line's head
BATCH_LINES = 256  # lines predicted together


@dataclass
class Line:
    """One input line: its first characters, and the pieces that follow (read lazily)."""

    head: str
    rest: Iterator[str]
    complete: bool  # the head is the whole line


def read_lines(stream: BinaryIO, head_chars: int) -> Iterator[Line]:
    """The lines of a binary stream. Consume (or drop) each line's ``rest`` before the next line."""
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="\n")
    try:
        while True:
            head, ended = _read_piece(text, head_chars)
            if head is None:
                return
            rest = iter(()) if ended else _rest_of_line(text)
            yield Line(head, rest, ended)
            for _ in rest:  # whatever the consumer left of this line
                pass
    finally:
        text.detach()  # the caller owns the stream


def text_lines(texts: Iterable[str], head_chars: int) -> Iterator[Line]:
    """Texts already in memory (command-line arguments), as lines."""
    for text in texts:
        complete = len(text) <= head_chars
        yield Line(text[:head_chars], iter(()) if complete else iter([text[head_chars:]]), complete)


def _read_piece(text: io.TextIOWrapper, limit: int) -> tuple[str | None, bool]:
    """(up to ``limit`` characters of the current line without its ending, whether the line ended);
    (None, True) at the end of the stream."""
    piece = text.readline(limit)
    if not piece:
        return None, True
    while piece.endswith("\r"):  # a "\r\n" may fall between two reads
        more = text.readline(1)
        if not more:
            return piece, True
        piece += more
    if piece.endswith("\n"):
        return piece[:-2] if piece.endswith("\r\n") else piece[:-1], True
    return piece, len(piece) < limit


def _rest_of_line(text: io.TextIOWrapper) -> Iterator[str]:
    while True:
        piece, ended = _read_piece(text, PIECE_CHARS)
        if piece is None:
            return
        yield piece
        if ended:
            return


def predictions(predictor: Predictor, texts: list[str]) -> list[dict]:
    """The prediction part of each text's record."""
    task = predictor.manifest.task
    if task == "sequence-classification":
        return [r.to_dict() for r in predictor.classify(texts)]
    if task == "token-classification":
        return [{"entities": [e.to_dict() for e in found]} for found in predictor.tag(texts)]
    return [{"embedding": [round(float(v), 6) for v in row]} for row in predictor.embed(texts)]


def write_predictions(predictor: Predictor, lines: Iterable[Line], write: Callable[[str], None]) -> None:
    """One JSON record per line, in order. Whole lines are predicted in batches; a line longer than
    its head is predicted alone and its text streamed into the record."""
    batch: list[Line] = []
    for line in lines:
        if line.complete:
            batch.append(line)
            if len(batch) == BATCH_LINES:
                _write_batch(predictor, batch, write)
                batch = []
            continue
        _write_batch(predictor, batch, write)
        batch = []
        _write_long_line(predictor, line, write)
    _write_batch(predictor, batch, write)


def _write_batch(predictor: Predictor, batch: list[Line], write: Callable[[str], None]) -> None:
    if not batch:
        return
    results = predictions(predictor, [line.head for line in batch])
    for line, result in zip(batch, results, strict=True):
        write(_record_start(line.head) + _record_end(result))


def _write_long_line(predictor: Predictor, line: Line, write: Callable[[str], None]) -> None:
    if predictor.manifest.task == "token-classification":
        write(_record_start(""))
        entities = []
        for block, found in predictor.tag_blocks(itertools.chain([line.head], line.rest)):
            write(_escaped(block))
            entities.extend(e.to_dict() for e in found)
        write(_record_end({"entities": entities}))
        return
    [result] = predictions(predictor, [line.head])  # all the model reads of it
    write(_record_start(line.head))
    for piece in line.rest:
        write(_escaped(piece))
    write(_record_end(result))


def _escaped(text: str) -> str:
    """``text`` as it appears inside a JSON string; escaping is per character, so the pieces of a
    text escape to the pieces of its escaped form."""
    return json.dumps(clean_text(text), ensure_ascii=False)[1:-1]


def _record_start(text: str) -> str:
    return '{"text": "' + _escaped(text)


def _record_end(result: dict) -> str:
    """The record's closing: equal to what json.dumps({"text": ..., **result}) ends with."""
    rest = json.dumps(result, ensure_ascii=False)[1:]
    return '"' + (", " + rest if result else rest) + "\n"
