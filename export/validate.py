"""Check an exported model against its reference on real sentences, output by output.

Every export (ONNX, optimised ONNX, ORT format, TorchScript, tokenizer-in-graph) is run on the same
padded batches of real text as the model it came from; each output must match within its own
absolute tolerance, or a typed error says which output differs and by how much.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgedistill.export.encoding import Encoder
from edgedistill.export.errors import MissingOutput, OutputMismatch, ShapeMismatch

Feeds = dict[str, np.ndarray]
Outputs = dict[str, np.ndarray]

DEFAULT_TOLERANCE = 1e-4  # FP32 export vs PyTorch, absolute, per output
# Used when no data folder is present: Hausa, Yoruba with diacritics, Swahili, emoji, code-mixing.
BUILTIN_SENTENCES = (
    "@user Allah ya kai rahmarsa kabarin ta 🤲🤲😭 Uwa ga gimbiyar👑",
    "Ọjọ́ ìbí mi ni òní, inú mi dùn gan-an 🎉",
    "Àwọn ọmọ ilé-ìwé ń kẹ́kọ̀ọ́ nípa ìtàn Yorùbá.",
    "Serikali imetangaza mpango mpya wa elimu bure kwa watoto wote.",
    "Wannan kasa tamu Allah ya kyauta, wai sai an maida talaka baisan me yake ba.",
    "Nimefurahi sana leo!!! 😂😂 asante kwa kila kitu https://t.co/xyz",
)


@dataclass
class ValidationReport:
    """What was compared and the largest absolute difference seen on each output."""

    artifact: str
    max_abs_diff: dict[str, float]
    tolerance: dict[str, float]
    sentences: int
    batch_shapes: list[list[int]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def default_validation_texts(limit: int = 12) -> list[str]:
    """Real sentences from the data folder (tweets with emoji, Yoruba with diacritics), else built-ins."""
    from edgedistill.shared_data import data_root

    root = data_root(required=False)
    if root is None:
        return list(BUILTIN_SENTENCES)
    texts: list[str] = []
    sources = [(root / "afrisenti" / "hau" / "dev.tsv", 0), (root / "sib200" / "yor_Latn" / "dev.tsv", 2),
               (root / "afrisenti" / "yor" / "dev.tsv", 0), (root / "sib200" / "swh_Latn" / "dev.tsv", 2)]
    per_source = max(1, limit // len(sources))
    for path, column in sources:
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()[1 : per_source + 1]
            texts.extend(line.split("\t")[column] for line in lines)
    return texts or list(BUILTIN_SENTENCES)


def encode_batches(encode: Encoder, texts: Sequence[str]) -> list[Feeds]:
    """Two batches to compare on: all texts padded together (mixed lengths), and one text alone."""
    return [encode(list(texts)), encode(list(texts[:1]))]


def onnx_session(path: str | Path, *, custom_ops: bool = False, threads: int = 1):
    """An ONNX Runtime CPU session; ``custom_ops`` registers onnxruntime-extensions (string ops)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    if custom_ops:
        from onnxruntime_extensions import get_library_path

        options.register_custom_ops_library(get_library_path())
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_session(session, feeds: Feeds) -> Outputs:
    names = [output.name for output in session.get_outputs()]
    wanted = {i.name for i in session.get_inputs()}
    values = session.run(names, {k: v for k, v in feeds.items() if k in wanted})
    return dict(zip(names, values, strict=True))


def compare_outputs(reference: Outputs, candidate: Outputs, tolerances: dict[str, float], *,
                    artifact: str) -> dict[str, float]:
    """Largest absolute difference per output; raises a typed error for the first that fails."""
    diffs = {}
    for name, expected in reference.items():
        if name not in candidate:
            raise MissingOutput(name, sorted(candidate), artifact)
        got = np.asarray(candidate[name])
        if got.shape != expected.shape:
            raise ShapeMismatch(name, expected.shape, got.shape, artifact)
        diff = float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64)))) \
            if expected.size else 0.0
        tolerance = tolerances.get(name, DEFAULT_TOLERANCE)
        if not np.isfinite(diff) or diff > tolerance:
            raise OutputMismatch(name, diff, tolerance, artifact)
        diffs[name] = diff
    return diffs


def validate_outputs(reference: Callable[[Feeds], Outputs], candidate: Callable[[Feeds], Outputs],
                     batches: list[Feeds], *, tolerances: dict[str, float] | None = None,
                     artifact: str = "the exported model") -> ValidationReport:
    """Run both on every batch and compare; the report keeps the worst difference per output."""
    tolerances = dict(tolerances or {})
    worst: dict[str, float] = {}
    for feeds in batches:
        diffs = compare_outputs(reference(feeds), candidate(feeds), tolerances, artifact=artifact)
        for name, diff in diffs.items():
            worst[name] = max(diff, worst.get(name, 0.0))
    sentences = sum(next(iter(feeds.values())).shape[0] for feeds in batches) if batches else 0
    return ValidationReport(artifact=artifact, max_abs_diff=worst,
                            tolerance={name: tolerances.get(name, DEFAULT_TOLERANCE) for name in worst},
                            sentences=sentences,
                            batch_shapes=[list(next(iter(f.values())).shape) for f in batches])


def validate_onnx_file(reference: Callable[[Feeds], Outputs], path: str | Path, batches: list[Feeds], *,
                       tolerances: dict[str, float] | None = None) -> ValidationReport:
    """Compare an ONNX or ORT-format file with ``reference`` on ``batches``."""
    session = onnx_session(path)
    return validate_outputs(reference, lambda feeds: run_session(session, feeds), batches,
                            tolerances=tolerances, artifact=Path(path).name)
