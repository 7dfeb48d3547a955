"""What INT8 quantization is asked for, and the ladder of schemes the accuracy gate tries.

``edgedistill quantize`` and the chain's quantize stage both build a ``QuantizeOptions`` and take its
``ladder()``, so they try the same schemes in the same order. Standard library only until ``ladder()``
is called: the chain reads these options when it plans, before anything heavy is imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgedistill.config import Config, ConfigError, check_choice, check_positive_or_none

SCHEME_KINDS = ("dynamic", "static", "neural-compressor")
PRESET_CHOICES = ("auto", "arm64", "avx2", "avx512", "avx512_vnni")
FP32_PARTS = ("embeddings", "classifier")


@dataclass
class QuantizeOptions(Config):
    """The first scheme the gate tries (kind, CPU preset, weight scales, parts kept in FP32), the largest
    dev-metric drop it accepts (points) and how many dev examples it scores on (None: all).

    The defaults are the chain's. Per-channel weights lost less than per-tensor on the default students
    (MasakhaNER hau test entity F1 -0.2 against -0.8 points; SIB-200 hau macro-F1 -1.2 against -1.9) at
    the same speed: benchmarks/results/int8_schemes.md.
    """

    scheme: str = "dynamic"
    preset: str = "auto"
    per_channel: bool = True
    keep_fp32: list[str] = field(default_factory=list)
    max_drop: float = 1.0
    dev_limit: int | None = None

    def validate(self) -> None:
        check_choice(self.scheme, SCHEME_KINDS, "scheme")
        check_choice(self.preset, PRESET_CHOICES, "preset")
        for index, part in enumerate(self.keep_fp32):
            check_choice(part, FP32_PARTS, f"keep_fp32[{index}]")
        if self.max_drop < 0:
            raise ConfigError(f"max_drop must be >= 0, got {self.max_drop}")
        check_positive_or_none(self.dev_limit, "dev_limit")

    def ladder(self, *, escalate: bool = True) -> list:
        """The schemes the gate tries in order: the first one, then (``escalate``) per-channel, the
        classifier in FP32, sensitive MatMuls in FP32, the embeddings in FP32."""
        from edgedistill.export.gate import escalation_ladder
        from edgedistill.export.quantize import SCHEMES, auto_preset

        preset = auto_preset() if self.preset == "auto" else self.preset
        first = SCHEMES[self.scheme](preset=preset, per_channel=self.per_channel,
                                     keep_fp32=list(self.keep_fp32))
        return escalation_ladder(first) if escalate else [first]
