"""Compression operations: vocabulary trimming, structured pruning, hidden-size reduction.

Each operation is a noun with a dataclass config that round-trips through JSON and TOML, works on an
in-memory model (``trim``, ``prune``, ``reduce``) or on a model directory (``*_directory``), and
writes a normal Hugging Face directory plus ``compression-report.json``:

    VocabularyTrimmer(VocabTrimConfig(target_size=40_000)).trim(model, tokenizer, texts)
    StructuredPruner(PruneConfig(ffn_size=2048)).prune(model, tokenizer, texts=texts)
    HiddenSizeReducer(HiddenReduceConfig(hidden_size=312, method="svd")).reduce(model)

Nothing heavy is imported here: names resolve on first use, so ``import edgedistill.compress`` works
without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "VocabularyTrimmer": "vocab", "VocabTrimConfig": "vocab", "TrimResult": "vocab",
    "StructuredPruner": "pruning", "PruneConfig": "pruning", "PruneResult": "pruning",
    "HiddenSizeReducer": "hidden", "HiddenReduceConfig": "hidden", "HiddenReduceResult": "hidden",
    "CompressionReport": "report", "REPORT_FILE": "report",
    "compute_importance": "importance", "ImportanceScores": "importance",
    "load_model": "models", "save_model": "models",
    "gather_texts": "text", "read_text_file": "text",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
