"""Hidden-size reduction: make every weight on the hidden axis narrower (e.g. 768 -> 564/456/312).

All weights that read or write the hidden axis are mapped through one basis P (H x H'):
inputs W -> W P, outputs W -> P^T W (and biases P^T b), embeddings E -> E P. Truncation takes P as
the first H' coordinates; SVD takes the top H' right singular vectors of the word embedding matrix.
LayerNorms are cut to match: beta' = P^T beta and gamma'_j = sum_i P_ij^2 gamma_i (plain slicing for
truncation). LayerNorm is not rotation invariant, so neither method preserves the model's outputs;
the result is an initialisation for a round of distillation, as in Gurgurov et al.

The number of heads stays, so each head gets H'/heads dimensions: the first ones of each head are
kept, and queries are scaled by sqrt(d'/d) so that attention logits keep their scale.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistill.compress.report import CompressionReport
from edgedistill.config import Config, ConfigError
from edgedistill.errors import EdgedistillError

METHODS = ("truncate", "svd")
# Roles of the encoder's Linear layers by name: which side is the hidden axis, which the heads.
ROLE_PATTERNS = (
    (re.compile(r"attention\.self\.(query|key|value)$"), ("hidden", "heads")),
    (re.compile(r"attention\.output\.dense$"), ("heads", "hidden")),
    (re.compile(r"intermediate\.dense$"), ("hidden", None)),
    (re.compile(r"layer\.\d+\.output\.dense$"), (None, "hidden")),
)


class HiddenReduceError(EdgedistillError):
    """The hidden size cannot be reduced as asked."""


@dataclass
class HiddenReduceConfig(Config):
    """hidden_size: the new hidden size (divisible by the number of attention heads).
    method: "truncate" (first coordinates) or "svd" (top singular directions of the word embeddings).
    """

    hidden_size: int = 312
    method: str = "svd"

    def validate(self) -> None:
        if self.hidden_size < 1:
            raise ConfigError(f"hidden_size must be positive, not {self.hidden_size}")
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")


@dataclass
class HiddenReduceResult:
    model: Any
    report: CompressionReport


class HiddenSizeReducer:
    """Narrow a model's hidden axis by truncation or SVD.

    >>> result = HiddenSizeReducer(HiddenReduceConfig(hidden_size=312, method="svd")).reduce(model)
    """

    def __init__(self, config: HiddenReduceConfig) -> None:
        self.config = config

    def reduce(self, model) -> HiddenReduceResult:
        """Reduce ``model`` in place and return it with a report."""
        import torch

        from edgedistill.accounting import count_parameters
        from edgedistill.compress.models import check_supported

        check_supported(model)
        old, new = model.config.hidden_size, self.config.hidden_size
        self.check(model)
        before = count_parameters(model).as_dict()
        with torch.no_grad():
            basis, kept_energy = hidden_basis(model, new, self.config.method)
            _Narrower(model, basis).apply()
        model.config.hidden_size = new
        report = CompressionReport(
            operation="reduce-hidden", headline=f"hidden size {old} -> {new} ({self.config.method})",
            config=self.config.to_dict(), parameters_before=before,
            parameters_after=count_parameters(model).as_dict(),
            details={"hidden_before": old, "hidden_after": new,
                     "head_size_before": old // model.config.num_attention_heads,
                     "head_size_after": new // model.config.num_attention_heads,
                     "word_embedding_energy_kept": round(kept_energy, 6)})
        return HiddenReduceResult(model, report)

    def check(self, model) -> None:
        old, new, heads = model.config.hidden_size, self.config.hidden_size, model.config.num_attention_heads
        if new > old:
            raise HiddenReduceError(f"hidden_size {new} is larger than the model's hidden size {old}")
        position_type = getattr(model.config, "position_embedding_type", "absolute")
        if position_type != "absolute":
            raise HiddenReduceError(f"position_embedding_type {position_type!r} is not supported; only "
                                    f"absolute position embeddings can be narrowed")
        if new % heads:
            raise HiddenReduceError(f"hidden_size {new} is not divisible by the model's {heads} attention "
                                    f"heads; try {new - new % heads} or {new - new % heads + heads}")

    def compress_directory(self, source: str | Path, out_dir: str | Path, texts: list[str] | None = None, *,
                           held_out: list[str] | None = None, head: str = "auto",
                           overwrite: bool = False) -> CompressionReport:
        """Load a model directory (or built-in teacher), reduce it, write ``out_dir``; return the report.

        The reduction reads no text: ``texts`` and ``held_out`` are there for the compressors' shared
        signature."""
        from edgedistill.compress.models import error_if_exists, load_model, save_model

        error_if_exists(out_dir, overwrite)
        loaded = load_model(source, head=head)
        result = self.reduce(loaded.model)
        save_model(result.model, loaded.tokenizer, out_dir, result.report, source=loaded, overwrite=overwrite)
        return result.report


def hidden_basis(model, new_size: int, method: str):
    """P (H x H') and the share of the word embeddings' squared norm that survives E P."""
    import torch

    embeddings = model.get_input_embeddings().weight.detach().double()
    old_size = embeddings.shape[1]
    if method == "truncate":
        basis = torch.eye(old_size, dtype=torch.float64)[:, :new_size]
    else:
        # Right singular vectors of E are the eigenvectors of E^T E (H x H): cheap for 250k rows.
        eigenvalues, eigenvectors = torch.linalg.eigh(embeddings.T @ embeddings)
        basis = eigenvectors[:, eigenvalues.argsort(descending=True)[:new_size]]
    kept = float((embeddings @ basis).square().sum() / embeddings.square().sum())
    return basis.to(model.get_input_embeddings().weight.dtype), kept


class _Narrower:
    """Applies the basis to every parameter on the hidden axis, each shared parameter once."""

    def __init__(self, model, basis) -> None:
        self.model, self.basis = model, basis
        self.old, self.new = basis.shape
        self.heads_total = model.config.num_attention_heads
        self.head_size_new = self.new // self.heads_total
        self.done: dict[int, Any] = {}

    def apply(self) -> None:
        from torch import nn

        for name, module in list(self.model.named_modules()):
            if isinstance(module, nn.Linear):
                self._linear(name, module)
            elif isinstance(module, nn.Embedding) and module.embedding_dim == self.old:
                module.weight = self._once(module.weight, lambda w: w @ self.basis)
                module.embedding_dim = self.new
            elif isinstance(module, nn.LayerNorm) and tuple(module.normalized_shape) == (self.old,):
                self._layer_norm(module)
        for layer in self.model.base_model.encoder.layer:
            attention = layer.attention.self
            attention.attention_head_size = self.head_size_new
            attention.all_head_size = self.head_size_new * attention.num_attention_heads

    def _linear(self, name: str, module) -> None:
        input_role, output_role = self._roles(name, module)
        weight, bias = module.weight, module.bias
        heads_module = self._attention_of(name) if "heads" in (input_role, output_role) else None
        if input_role == "hidden":
            weight = self._once(weight, lambda w: w @ self.basis)
        elif input_role == "heads":
            weight = self._once(weight, lambda w: w[:, self._head_index(heads_module)])
        if output_role == "hidden":
            weight = self._once(weight, lambda w: self.basis.T @ w, key="out")
            bias = self._once(bias, lambda b: self.basis.T @ b) if bias is not None else None
        elif output_role == "heads":
            index, scale = self._head_index(heads_module), self._query_scale(name, heads_module)
            weight = self._once(weight, lambda w: w[index] * scale, key="out")
            bias = self._once(bias, lambda b: b[index] * scale) if bias is not None else None
        module.weight, module.bias = weight, bias
        module.out_features, module.in_features = weight.shape

    def _roles(self, name: str, module) -> tuple[str | None, str | None]:
        for pattern, roles in ROLE_PATTERNS:
            if pattern.search(name):
                return roles
        # Pooler and heads: whichever side has the hidden size is on the hidden axis.
        return ("hidden" if module.in_features == self.old else None,
                "hidden" if module.out_features == self.old else None)

    def _attention_of(self, name: str):
        layer_name = re.match(r"(.*layer\.\d+)\.attention", name).group(1)
        return self.model.get_submodule(layer_name).attention.self

    def _head_index(self, attention):
        import torch

        old_size = attention.attention_head_size
        return torch.tensor([h * old_size + i for h in range(attention.num_attention_heads)
                             for i in range(self.head_size_new)])

    def _query_scale(self, name: str, attention) -> float:
        # q.k/sqrt(d) over fewer dimensions: scaling q keeps the logits' scale (1 when d' = d).
        if not name.endswith("query"):
            return 1.0
        return math.sqrt(self.head_size_new / attention.attention_head_size)

    def _layer_norm(self, module) -> None:
        squared = self.basis.square()
        module.weight = self._once(module.weight, lambda g: squared.T @ g)
        module.bias = self._once(module.bias, lambda b: self.basis.T @ b)
        module.normalized_shape = (self.new,)

    def _once(self, param, transform, key: str = "in"):
        """Transform a parameter once, even when tied to another module (MLM decoder = embeddings)."""
        from torch import nn

        memo_key = (id(param), key)
        if memo_key not in self.done:
            # The old parameter stays referenced here so that its id is not reused while we run.
            self.done[memo_key] = (param, nn.Parameter(transform(param.detach()).contiguous(),
                                                       requires_grad=param.requires_grad))
        return self.done[memo_key][1]
