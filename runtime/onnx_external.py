"""The external-data files an ONNX model names, read with the standard library only.

A model over 2 GB keeps its tensors in side files named by each tensor's ``external_data``
``location``. A crafted model can name any path there (``../../home/me/.ssh/id_rsa``, ``/etc/shadow``)
and onnxruntime would read it, in versions that do not check. The runtime reads the locations
itself, before onnxruntime sees the model, and refuses any that leave the bundle.

This walks the protobuf wire format along the few fields where a TensorProto can sit, skipping
everything else (weights included) without copying, so a large model costs a pass over its
message headers, not its bytes.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from pathlib import Path

# field numbers from onnx.proto3
MODEL_GRAPH, MODEL_FUNCTIONS = 7, 25
GRAPH_NODE, GRAPH_INITIALIZER, GRAPH_SPARSE_INITIALIZER = 1, 5, 15
NODE_ATTRIBUTE = 5
FUNCTION_NODE = 7
ATTRIBUTE_T, ATTRIBUTE_G, ATTRIBUTE_TENSORS, ATTRIBUTE_GRAPHS = 5, 6, 10, 11
ATTRIBUTE_SPARSE_TENSOR, ATTRIBUTE_SPARSE_TENSORS = 22, 23
SPARSE_VALUES, SPARSE_INDICES = 1, 2
TENSOR_EXTERNAL_DATA = 13
ENTRY_KEY, ENTRY_VALUE = 1, 2
MAX_DEPTH = 64  # subgraphs nest (If/Loop bodies); deeper than this is not a real model


class MalformedModel(ValueError):
    """The bytes are not a protobuf message where a model should be."""


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise MalformedModel("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _skip(data: memoryview, pos: int, wire: int) -> int:
    """The position after a field's value of this wire type (a group is skipped whole)."""
    if wire == 0:
        return _varint(data, pos)[1]
    if wire in (1, 5):
        return pos + (8 if wire == 1 else 4)
    if wire == 2:
        length, pos = _varint(data, pos)
        return pos + length
    if wire == 3:  # proto2 group: fields up to the matching end-group tag
        while True:
            key, pos = _varint(data, pos)
            if key & 7 == 4:
                return pos
            pos = _skip(data, pos, key & 7)
    raise MalformedModel(f"unexpected wire type {wire}")


def _fields(data: memoryview) -> Iterator[tuple[int, memoryview | None]]:
    """(field number, payload) for each field; payload is None unless length-delimited."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise MalformedModel("a field runs past the end of the file")
            yield number, data[pos : pos + length]
            pos += length
        else:
            pos = _skip(data, pos, wire)
            yield number, None
    if pos != len(data):
        raise MalformedModel("the last field runs past the end of the file")


def _tensor_locations(tensor: memoryview) -> Iterator[str]:
    for number, payload in _fields(tensor):
        if number == TENSOR_EXTERNAL_DATA and payload is not None:
            entry = {n: bytes(v) for n, v in _fields(payload) if v is not None}
            if entry.get(ENTRY_KEY) == b"location":
                yield entry.get(ENTRY_VALUE, b"").decode("utf-8", "replace")


def _sparse_locations(sparse: memoryview) -> Iterator[str]:
    for number, payload in _fields(sparse):
        if number in (SPARSE_VALUES, SPARSE_INDICES) and payload is not None:
            yield from _tensor_locations(payload)


def _node_locations(node: memoryview, depth: int) -> Iterator[str]:
    for number, attribute in _fields(node):
        if number != NODE_ATTRIBUTE or attribute is None:
            continue
        for field, payload in _fields(attribute):
            if payload is None:
                continue
            if field in (ATTRIBUTE_T, ATTRIBUTE_TENSORS):
                yield from _tensor_locations(payload)
            elif field in (ATTRIBUTE_SPARSE_TENSOR, ATTRIBUTE_SPARSE_TENSORS):
                yield from _sparse_locations(payload)
            elif field in (ATTRIBUTE_G, ATTRIBUTE_GRAPHS):
                yield from _graph_locations(payload, depth + 1)


def _graph_locations(graph: memoryview, depth: int) -> Iterator[str]:
    if depth > MAX_DEPTH:
        raise MalformedModel("subgraphs nest too deeply")
    for number, payload in _fields(graph):
        if payload is None:
            continue
        if number == GRAPH_INITIALIZER:
            yield from _tensor_locations(payload)
        elif number == GRAPH_SPARSE_INITIALIZER:
            yield from _sparse_locations(payload)
        elif number == GRAPH_NODE:
            yield from _node_locations(payload, depth)


def _model_locations(model: memoryview) -> list[str]:
    found: list[str] = []
    for number, payload in _fields(model):
        if payload is None:
            continue
        if number == MODEL_GRAPH:
            found += _graph_locations(payload, 0)
        elif number == MODEL_FUNCTIONS:
            for field, node in _fields(payload):
                if field == FUNCTION_NODE and node is not None:
                    found += _node_locations(node, 0)
    return list(dict.fromkeys(found))


def external_data_locations(model_path: str | Path) -> list[str]:
    """Every distinct external-data ``location`` in the model, in order of first appearance.

    Raises MalformedModel if the file is not a protobuf message.
    """
    with open(model_path, "rb") as handle:
        if handle.seek(0, 2) == 0:
            return []
        # The views into the map must be gone before it closes, so errors leave the block as text.
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            try:
                return _model_locations(memoryview(mapped))
            except MalformedModel as exc:
                problem = str(exc)
    raise MalformedModel(problem)
