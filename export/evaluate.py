"""Metric callbacks for the accuracy gate: score an ONNX model file on dev data, in points (0-100).

The gate only needs ``MetricFn = Callable[[Path], float]``. Two ready-made ones:

* ``classification_metric``: the task metric (macro-F1 by default) of a sequence classifier on
  labelled dev text, using ``edgedistill.tasks.metrics``;
* ``agreement_metric``: for tasks without labels at hand (token classification, embeddings), how
  often the INT8 model's decision equals the FP32 model's (per real token), or the mean cosine of
  their pooled embeddings. Its name says what it is; it is not a task metric.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from edgedistill.export.encoding import Encoder
from edgedistill.export.validate import onnx_session, run_session

MetricFn = Callable[[Path], float]


def predict(path: str | Path, encode: Encoder, texts: Sequence[str], *, batch_size: int = 32,
            threads: int = 0) -> list[np.ndarray]:
    """The model's first output for each text, in input order, padding rows removed.

    A dynamically quantized model runs one text at a time, as the runtime runs it: its activation
    scales are computed per batch, so batching would change each text's outputs.
    """
    if quantizes_activations_per_batch(path):
        batch_size = 1
    session = onnx_session(path, threads=threads)
    output = session.get_outputs()[0].name
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    results: list[np.ndarray | None] = [None] * len(texts)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        feeds = encode([texts[i] for i in chunk])
        values = run_session(session, feeds)[output]
        lengths = feeds["attention_mask"].sum(axis=1)
        for row, index in enumerate(chunk):
            results[index] = values[row] if values.ndim == 2 else values[row, : lengths[row]]
    return results  # type: ignore[return-value]


def quantizes_activations_per_batch(path: str | Path) -> bool:
    """Whether the ONNX file quantizes activations at run time (DynamicQuantizeLinear)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return any(node.op_type == "DynamicQuantizeLinear" for node in model.graph.node)


def classification_metric(encode: Encoder, texts: Sequence[str], gold: Sequence[str],
                          labels: Sequence[str], *, metric: str = "macro_f1",
                          batch_size: int = 32) -> MetricFn:
    """Score = ``metric`` (macro_f1, accuracy or weighted_f1) x 100 of a sequence classifier.

    The callback also has ``decisions(path)`` (the predicted label index of each dev example, computed
    once per model) and ``score(decisions, indices)`` (the metric on a resample of the examples), with
    which the gate tells a real drop from the noise of a small dev set.
    """
    from edgedistill.tasks.metrics import classification_metrics

    texts, gold, labels = list(texts), list(gold), tuple(labels)
    computed: dict[Path, np.ndarray] = {}

    def decisions(path: Path) -> np.ndarray:
        path = Path(path)
        if path not in computed:
            computed[path] = np.stack(predict(path, encode, texts, batch_size=batch_size)).argmax(axis=-1)
        return computed[path]

    def score(predicted: np.ndarray, indices: Sequence[int] | None = None) -> float:
        chosen = range(len(gold)) if indices is None else indices
        predicted_labels = [labels[predicted[i]] for i in chosen]
        return 100.0 * classification_metrics([gold[i] for i in chosen], predicted_labels, labels)[metric]

    def evaluate(path: Path) -> float:
        return score(decisions(path))

    evaluate.metric_name = metric  # type: ignore[attr-defined]
    evaluate.decisions, evaluate.score = decisions, score  # type: ignore[attr-defined]
    return evaluate


def agreement_metric(reference: str | Path, encode: Encoder, texts: Sequence[str], task: str, *,
                     batch_size: int = 32) -> MetricFn:
    """Score = % of decisions equal to the reference model's (mean cosine x 100 for embeddings)."""
    texts = list(texts)
    expected = predict(reference, encode, texts, batch_size=batch_size)

    def evaluate(path: Path) -> float:
        got = predict(path, encode, texts, batch_size=batch_size)
        if task == "embedding":
            return 100.0 * float(np.mean([_cosine(a.mean(axis=0), b.mean(axis=0))
                                          for a, b in zip(expected, got, strict=True)]))
        same = sum(int((a.argmax(-1) == b.argmax(-1)).sum()) for a, b in zip(expected, got, strict=True))
        total = sum(int(np.size(a.argmax(-1))) for a in expected)
        return 100.0 * same / max(total, 1)

    evaluate.metric_name = "embedding_cosine_to_fp32" if task == "embedding" \
        else "agreement_with_fp32"  # type: ignore[attr-defined]
    return evaluate


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
