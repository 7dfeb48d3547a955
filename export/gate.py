"""The accuracy gate: never ship an INT8 model without measuring it against FP32 on dev data.

Quantize with the first scheme, score it with the task metric, and if it lost more than
``max_drop`` points against FP32 try the next scheme on the ladder: per-channel weights, then the
classifier head in FP32, then the MatMuls most sensitive on calibration text, then the embedding
tables (the last step costs the most size). If nothing passes, ``AccuracyGateFailed`` carries a
report of every attempt.

The gate depends on nothing task-specific: ``evaluate`` is any ``Path -> float`` callback (see
``edgedistill.export.evaluate``) and ``quantize`` any ``(scheme, path) -> QuantizedModel``.

A dev set of 99 sentences cannot measure a 1-point drop: one sentence moves macro-F1 by a point or
more. When ``evaluate`` can score resamples of its examples (``decisions`` and ``score``, as the task
metric of a classifier can), the gate takes a paired bootstrap of the drop and, unless ``strict``,
refuses a scheme only when the drop is above ``max_drop`` beyond that noise: when even the 5th
percentile of the resampled drops is. The interval is in the report either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from edgedistill.export.errors import ExportError
from edgedistill.export.quantize import QuantizedModel, SchemeError, _Scheme, quantize_onnx

DEFAULT_MAX_DROP = 1.0  # points of the task metric (macro-F1 x 100)
DEFAULT_SENSITIVE_MATMULS = 8
BOOTSTRAP_ROUNDS = 500
MetricFn = Callable[[Path], float]
Quantizer = Callable[[_Scheme, Path], QuantizedModel]


@dataclass
class GateAttempt:
    description: str
    scheme: dict
    metric: float | None = None
    drop: float | None = None
    size_bytes: int | None = None
    passed: bool = False
    error: str | None = None
    seconds: float = 0.0
    fp32_nodes: int = 0
    drop_interval: list[float] | None = None  # 5th and 95th percentiles of the drop over dev resamples
    within_noise: bool = False  # passed only because the drop is within the dev set's noise


@dataclass
class GateReport:
    """Everything the gate measured: FP32, then each scheme tried, in order."""

    metric_name: str
    fp32_metric: float
    fp32_size_bytes: int
    max_drop: float
    attempts: list[GateAttempt] = field(default_factory=list)
    chosen: int | None = None  # index into attempts
    dev_examples: int | None = None
    strict: bool = False

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        lines = [f"FP32 {self.metric_name} {self.fp32_metric:.2f} ({self.fp32_size_bytes / 1e6:.1f} MB); "
                 f"allowed drop {self.max_drop:g} point(s)"]
        for index, attempt in enumerate(self.attempts):
            if attempt.error:
                outcome = f"failed: {attempt.error}"
            else:
                noise = (f", 90% interval {attempt.drop_interval[0]:+.2f}..{attempt.drop_interval[1]:+.2f}"
                         if attempt.drop_interval else "")
                verdict = ("PASS (within the noise of the dev set)" if attempt.within_noise
                           else "PASS" if attempt.passed else "reject")
                outcome = (f"{self.metric_name} {attempt.metric:.2f} (drop {attempt.drop:+.2f}{noise}), "
                           f"{attempt.size_bytes / 1e6:.1f} MB, {verdict}")
            marker = " <- chosen" if index == self.chosen else ""
            lines.append(f"  {index + 1}. {attempt.description}: {outcome}{marker}")
        return "\n".join(lines)


class AccuracyGateFailed(ExportError):
    """No scheme kept the task metric within the allowed drop; ``report`` says what was tried."""

    def __init__(self, report: GateReport):
        tried = "; ".join(f"{a.description} " + ("(error)" if a.error else f"(drop {a.drop:.2f})")
                          for a in report.attempts)
        super().__init__(f"no INT8 scheme kept {report.metric_name} within {report.max_drop:g} point(s) "
                         f"of FP32 ({report.fp32_metric:.2f}); tried: {tried}")
        self.report = report


def escalation_ladder(first: _Scheme, *, sensitive_matmuls: int = DEFAULT_SENSITIVE_MATMULS
                      ) -> list[_Scheme]:
    """``first``, then per-channel, + classifier FP32, + sensitive MatMuls FP32, + embeddings FP32.

    Steps a scheme kind cannot express (Neural Compressor keeps nothing in FP32) are left out.
    """
    steps = [lambda s: s, lambda s: replace(s, per_channel=True),
             lambda s: replace(s, keep_fp32=_with(s.keep_fp32, "classifier")),
             lambda s: replace(s, keep_sensitive_matmuls=max(s.keep_sensitive_matmuls, sensitive_matmuls)),
             lambda s: replace(s, keep_fp32=_with(s.keep_fp32, "embeddings"))]
    ladder: list[_Scheme] = []
    scheme = first
    for step in steps:
        try:
            scheme = step(scheme)
        except SchemeError:
            continue
        if scheme not in ladder:
            ladder.append(scheme)
    return ladder


def _with(groups: list[str], group: str) -> list[str]:
    return sorted(set(groups) | {group})


def onnx_quantizer(fp32_model: Path, calibration=None) -> Quantizer:
    """The default quantizer: ONNX Runtime on the FP32 file, with optional calibration batches."""
    return lambda scheme, dest: quantize_onnx(fp32_model, dest, scheme, calibration=calibration)


def run_accuracy_gate(fp32_model: str | Path, ladder: list[_Scheme], evaluate: MetricFn, workdir: str | Path,
                      *, quantize: Quantizer | None = None, max_drop: float = DEFAULT_MAX_DROP,
                      metric_name: str | None = None, fp32_metric: float | None = None,
                      log: Callable[[str], None] | None = None, strict: bool = False
                      ) -> tuple[QuantizedModel, GateReport]:
    """Try each scheme of ``ladder`` in order; return the first INT8 model within ``max_drop`` points
    (or, unless ``strict``, whose drop is not above it beyond the dev set's noise).

    Raises ``AccuracyGateFailed`` with the full report when none passes.
    """
    fp32_model, workdir = Path(fp32_model), Path(workdir)
    quantize = quantize or onnx_quantizer(fp32_model)
    name = metric_name or getattr(evaluate, "metric_name", "metric")
    baseline = evaluate(fp32_model) if fp32_metric is None else fp32_metric
    report = GateReport(name, baseline, _model_bytes(fp32_model), max_drop, strict=strict)
    if hasattr(evaluate, "decisions"):
        report.dev_examples = len(evaluate.decisions(fp32_model))
    say = log or (lambda _: None)
    say(f"FP32 {name}: {baseline:.2f}")
    for index, scheme in enumerate(ladder):
        attempt, model = _attempt(scheme, quantize, evaluate, workdir / f"attempt-{index + 1}" / "model.onnx",
                                  baseline, max_drop)
        if model is not None and not attempt.passed and hasattr(evaluate, "decisions"):
            attempt.drop_interval = drop_interval(evaluate, fp32_model, model.path)
            attempt.within_noise = not strict and attempt.drop_interval[0] <= max_drop
            attempt.passed = attempt.within_noise
        report.attempts.append(attempt)
        noise = " within the noise of the dev set" if attempt.within_noise else ""
        say(f"{scheme.describe()}: " + (attempt.error or f"{name} {attempt.metric:.2f} "
                                                          f"(drop {attempt.drop:+.2f}{noise})"))
        if attempt.passed:
            report.chosen = index
            return model, report
    raise AccuracyGateFailed(report)


def _attempt(scheme: _Scheme, quantize: Quantizer, evaluate: MetricFn, dest: Path, baseline: float,
             max_drop: float) -> tuple[GateAttempt, QuantizedModel | None]:
    attempt = GateAttempt(scheme.describe(), scheme.to_dict())
    start = time.perf_counter()
    try:
        model = quantize(scheme, dest)
        attempt.metric = float(evaluate(model.path))
    except Exception as exc:  # one scheme failing (ORT refusing a graph) must not end the ladder
        attempt.error = _one_line(exc)
        return attempt, None
    finally:
        attempt.seconds = round(time.perf_counter() - start, 2)
    attempt.drop = baseline - attempt.metric
    attempt.size_bytes, attempt.fp32_nodes = model.size_bytes, len(model.fp32_nodes)
    attempt.passed = attempt.drop <= max_drop
    return attempt, model


def drop_interval(evaluate: MetricFn, fp32_model: Path, int8_model: Path, *,
                  rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0) -> list[float]:
    """5th and 95th percentiles of the metric's drop over paired resamples of the dev examples."""
    fp32, int8 = evaluate.decisions(fp32_model), evaluate.decisions(int8_model)
    rng = np.random.default_rng(seed)
    drops = []
    for _ in range(rounds):
        sample = rng.integers(0, len(fp32), len(fp32))
        drops.append(evaluate.score(fp32, sample) - evaluate.score(int8, sample))
    low, high = np.percentile(drops, [5, 95])
    return [round(float(low), 3), round(float(high), 3)]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__


def _model_bytes(path: Path) -> int:
    data = path.parent / (path.name + ".data")
    return path.stat().st_size + (data.stat().st_size if data.is_file() else 0)
