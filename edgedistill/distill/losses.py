"""The loss terms of distillation, each a small module, and the objective that weighs them.

Every term takes what the student produced and what the teacher produced for the same batch:

* ``KLDivergenceLoss``: KL(teacher || student) of temperature-softened distributions, times T^2
  (Hinton et al.), averaged over rows (examples, tokens, or masked positions);
* ``LogitMSELoss``: mean squared error between logits;
* ``LabelCrossEntropy``: the student's own cross-entropy on gold labels (the MLM loss on masked
  tokens, or a task's labels);
* ``AttentionMapLoss``: MSE between attention maps averaged over heads, for chosen
  (teacher layer, student layer) pairs, over real tokens only. Maps of one tokenizer have the same
  [L, L] shape and are compared directly; the only learnable option mixes teacher layers;
* ``HiddenStateLoss``: MSE or cosine distance between hidden states of chosen layer pairs, through a
  learned linear map when the widths differ.

Teacher logits arrive as ``LogitTargets``: dense rows, or the top-k values and their vocabulary
indices when they come from the on-disk teacher cache (the student's log-probabilities are then
gathered at those indices and the teacher's distribution is renormalised over them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from edgedistill.config import ConfigError
from edgedistill.distill.config import (
    AttentionTerm,
    HiddenTerm,
    KLTerm,
    LabelTerm,
    LogitMSETerm,
    LossTerm,
    MLMTerm,
)

IGNORE_INDEX = -100


@dataclass
class LogitTargets:
    """Teacher logits for the selected rows: dense [N, V], or the top-k values [N, k] with their
    vocabulary indices [N, k] and, per temperature, the log of the full softmax normaliser [N]
    (``logsumexp(all logits / T)``), which the cache keeps so that top-k KL stays exact."""

    values: torch.Tensor
    indices: torch.Tensor | None = None
    log_normalizers: dict[float, torch.Tensor] = field(default_factory=dict)

    def student_view(self, student_logits: torch.Tensor) -> torch.Tensor:
        """The student's logits at the same vocabulary entries as ``values``."""
        if self.indices is None:
            return student_logits
        return student_logits.gather(-1, self.indices)


@dataclass
class Signals:
    """What one model produced for a batch, as the loss terms consume it.

    ``logits`` holds the selected rows only (see ``select_rows``); ``attentions`` maps an index into
    the model's attention tuple to a head-averaged [B, L, L] map; ``hidden`` maps an index into its
    hidden-state tuple (0 = embeddings) to [B, L, H]; ``mask`` is the [B, L] attention mask.
    """

    mask: torch.Tensor
    logits: torch.Tensor | LogitTargets | None = None
    labels: torch.Tensor | None = None
    attentions: dict[int, torch.Tensor] = field(default_factory=dict)
    hidden: dict[int, torch.Tensor] = field(default_factory=dict)


# ---------------------------------------------------------------- logit terms

class KLDivergenceLoss(nn.Module):
    """T^2 * KL(softmax(t/T) || softmax(s/T)), averaged over rows.

    With top-k teacher logits the two distributions are compared over k + 1 outcomes (the k
    entries and "everything else"), exact when the teacher's normaliser at T is known; without it
    the teacher's top-k probabilities are renormalised (an approximation that overstates the loss).
    """

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, student_logits: torch.Tensor, teacher: LogitTargets) -> torch.Tensor:
        t = self.temperature
        if not student_logits.numel():
            return student_logits.sum() * 0.0
        student_log_probs = teacher.student_view(F.log_softmax(student_logits.float() / t, dim=-1))
        normalizer = teacher.log_normalizers.get(t)
        if teacher.indices is None or normalizer is None:
            teacher_log_probs = F.log_softmax(teacher.values.float() / t, dim=-1)
            per_row = (teacher_log_probs.exp() * (teacher_log_probs - student_log_probs)).sum(-1)
        else:
            teacher_log_probs = teacher.values.float() / t - normalizer.float().unsqueeze(-1)
            per_row = (teacher_log_probs.exp() * (teacher_log_probs - student_log_probs)).sum(-1)
            per_row = per_row + _tail_term(teacher_log_probs, student_log_probs)
        return per_row.mean() * t * t


def _tail_term(teacher_log_probs: torch.Tensor, student_log_probs: torch.Tensor) -> torch.Tensor:
    """p_rest * (log p_rest - log q_rest) for the probability mass outside the top-k entries."""
    eps = 1e-7
    teacher_rest = (1.0 - teacher_log_probs.exp().sum(-1)).clamp(min=eps)
    student_rest = (1.0 - student_log_probs.exp().sum(-1)).clamp(min=eps)
    return teacher_rest * (teacher_rest.log() - student_rest.log())


class LogitMSELoss(nn.Module):
    """Mean squared error between student and teacher logits (at the teacher's top-k entries if sparse)."""

    def forward(self, student_logits: torch.Tensor, teacher: LogitTargets) -> torch.Tensor:
        chosen = teacher.student_view(student_logits.float())
        if not chosen.numel():
            return student_logits.sum() * 0.0
        return F.mse_loss(chosen, teacher.values.float())


class LabelCrossEntropy(nn.Module):
    """Cross-entropy against gold labels, ignoring -100 (masked LM or a task's labels)."""

    def forward(self, student_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if not (labels != IGNORE_INDEX).any():
            return student_logits.sum() * 0.0
        return F.cross_entropy(student_logits.float(), labels, ignore_index=IGNORE_INDEX)


# ---------------------------------------------------------------- intermediate terms

def pair_mask(mask: torch.Tensor) -> torch.Tensor:
    """[B, L] token mask -> [B, L, L] mask of (query, key) pairs of real tokens."""
    mask = mask.float()
    return mask[:, :, None] * mask[:, None, :]


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` (broadcast over trailing dimensions) is 1."""
    while mask.dim() < values.dim():
        mask = mask.unsqueeze(-1)
    mask = mask.to(values.dtype).expand_as(values)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


class AttentionMapLoss(nn.Module):
    """MSE between head-averaged attention maps of (teacher index, student index) pairs.

    ``mix_over`` (the number of teacher layers) turns on a learned softmax mixture of all teacher
    maps for each pair's student layer, initialised to weigh the pair's teacher layer most.
    """

    def __init__(self, pairs: list[tuple[int, int]], mix_over: int | None = None) -> None:
        super().__init__()
        self.pairs = [tuple(p) for p in pairs]
        self.mixing = None
        if mix_over:
            start = torch.zeros(len(self.pairs), mix_over)
            for row, (teacher_index, _) in enumerate(self.pairs):
                start[row, teacher_index] = 4.0
            self.mixing = nn.Parameter(start)

    def teacher_indices(self) -> set[int]:
        if self.mixing is not None:
            return set(range(self.mixing.shape[1]))
        return {t for t, _ in self.pairs}

    def student_indices(self) -> set[int]:
        return {s for _, s in self.pairs}

    def forward(self, student: Signals, teacher: Signals) -> torch.Tensor:
        mask = pair_mask(student.mask)
        total = 0.0
        for row, (teacher_index, student_index) in enumerate(self.pairs):
            target = self._target(teacher, row, teacher_index)
            difference = student.attentions[student_index].float() - target
            total = total + masked_mean(difference.pow(2), mask)
        return total / len(self.pairs)

    def _target(self, teacher: Signals, row: int, teacher_index: int) -> torch.Tensor:
        if self.mixing is None:
            return teacher.attentions[teacher_index].float()
        weights = self.mixing[row].softmax(-1)
        maps = torch.stack([teacher.attentions[i].float() for i in range(len(weights))], dim=0)
        return (weights[:, None, None, None] * maps).sum(0)


class HiddenStateLoss(nn.Module):
    """MSE or cosine distance between hidden states of (teacher index, student index) pairs.

    Student states go through a learned linear map (one per pair) when the widths differ.
    """

    def __init__(self, pairs: list[tuple[int, int]], student_width: int, teacher_width: int,
                 metric: str = "mse") -> None:
        super().__init__()
        self.pairs = [tuple(p) for p in pairs]
        self.metric = metric
        self.projections = None
        if student_width != teacher_width:
            self.projections = nn.ModuleList(nn.Linear(student_width, teacher_width, bias=False)
                                             for _ in self.pairs)

    def teacher_indices(self) -> set[int]:
        return {t for t, _ in self.pairs}

    def student_indices(self) -> set[int]:
        return {s for _, s in self.pairs}

    def forward(self, student: Signals, teacher: Signals) -> torch.Tensor:
        total = 0.0
        for row, (teacher_index, student_index) in enumerate(self.pairs):
            states = student.hidden[student_index]
            if self.projections is not None:
                states = self.projections[row](states)
            target = teacher.hidden[teacher_index].float()
            total = total + self._distance(states.float(), target, student.mask)
        return total / len(self.pairs)

    def _distance(self, states: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.metric == "cosine":
            return masked_mean(1.0 - F.cosine_similarity(states, target, dim=-1), mask)
        return masked_mean((states - target).pow(2), mask)


# ---------------------------------------------------------------- the objective

@dataclass(frozen=True)
class LayerCounts:
    teacher_layers: int
    student_layers: int
    teacher_width: int
    student_width: int


def attention_index(layer: int, count: int, where: str) -> int:
    """A layer number (1..count, or negative from the end) -> index into the attention tuple."""
    number = layer if layer > 0 else count + 1 + layer
    if not 1 <= number <= count:
        raise ConfigError(f"{where}: layer {layer} does not exist in a model of {count} layers")
    return number - 1


def hidden_index(layer: int, count: int, where: str) -> int:
    """A layer number (0 = embeddings, 1..count, or negative) -> index into the hidden-state tuple."""
    number = layer if layer >= 0 else count + 1 + layer
    if not 0 <= number <= count:
        raise ConfigError(f"{where}: layer {layer} does not exist in a model of {count} layers")
    return number


def _resolved_pairs(pairs: list[list[int]], counts: LayerCounts, index, where: str) -> list[tuple[int, int]]:
    return [(index(t, counts.teacher_layers, f"{where}[{i}] (teacher)"),
             index(s, counts.student_layers, f"{where}[{i}] (student)")) for i, (t, s) in enumerate(pairs)]


def build_term(term: LossTerm, counts: LayerCounts, where: str) -> nn.Module:
    """The module for one configured loss term."""
    if isinstance(term, KLTerm):
        return KLDivergenceLoss(term.temperature)
    if isinstance(term, LogitMSETerm):
        return LogitMSELoss()
    if isinstance(term, MLMTerm | LabelTerm):
        return LabelCrossEntropy()
    if isinstance(term, AttentionTerm):
        pairs = _resolved_pairs(term.layers, counts, attention_index, f"{where}.layers")
        return AttentionMapLoss(pairs, counts.teacher_layers if term.mix_teacher_layers else None)
    if isinstance(term, HiddenTerm):
        pairs = _resolved_pairs(term.layers, counts, hidden_index, f"{where}.layers")
        return HiddenStateLoss(pairs, counts.student_width, counts.teacher_width, term.metric)
    raise ConfigError(f"{where}: no loss module for term type {term.type!r}")


LOGIT_TERMS = (KLDivergenceLoss, LogitMSELoss)


@dataclass(frozen=True)
class Needs:
    """What the objective reads from the teacher and the student."""

    teacher_logits: bool
    student_logits: bool
    kl_temperatures: frozenset[float]
    teacher_attentions: frozenset[int]
    student_attentions: frozenset[int]
    teacher_hidden: frozenset[int]
    student_hidden: frozenset[int]


class DistillationObjective(nn.Module):
    """The weighted sum of loss terms; returns the total and each term's (unweighted) value."""

    def __init__(self, names: list[str], modules: list[nn.Module], weights: list[float]) -> None:
        super().__init__()
        self.names = list(names)
        self.terms = nn.ModuleList(modules)
        self.weights = list(weights)

    @classmethod
    def from_config(cls, terms: list[LossTerm], counts: LayerCounts) -> DistillationObjective:
        names = _term_names(terms)
        modules = [build_term(term, counts, f"losses[{i}]") for i, term in enumerate(terms)]
        return cls(names, modules, [term.weight for term in terms])

    def needs(self) -> Needs:
        attention = [m for m in self.terms if isinstance(m, AttentionMapLoss)]
        hidden = [m for m in self.terms if isinstance(m, HiddenStateLoss)]
        return Needs(
            teacher_logits=any(isinstance(m, LOGIT_TERMS) for m in self.terms),
            student_logits=any(isinstance(m, (*LOGIT_TERMS, LabelCrossEntropy)) for m in self.terms),
            kl_temperatures=frozenset(m.temperature for m in self.terms if isinstance(m, KLDivergenceLoss)),
            teacher_attentions=frozenset().union(*(m.teacher_indices() for m in attention)),
            student_attentions=frozenset().union(*(m.student_indices() for m in attention)),
            teacher_hidden=frozenset().union(*(m.teacher_indices() for m in hidden)),
            student_hidden=frozenset().union(*(m.student_indices() for m in hidden)),
        )

    def forward(self, student: Signals, teacher: Signals) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts: dict[str, torch.Tensor] = {}
        total = None
        for name, module, weight in zip(self.names, self.terms, self.weights, strict=True):
            value = self._term(module, student, teacher)
            parts[name] = value.detach()
            total = value * weight if total is None else total + value * weight
        return total, parts

    @staticmethod
    def _term(module: nn.Module, student: Signals, teacher: Signals) -> torch.Tensor:
        if isinstance(module, LOGIT_TERMS):
            return module(student.logits, teacher.logits)
        if isinstance(module, LabelCrossEntropy):
            return module(student.logits, student.labels)
        return module(student, teacher)


def _term_names(terms: list[LossTerm]) -> list[str]:
    names = []
    for term in terms:
        name, count = term.type, 2
        while name in names:
            name, count = f"{term.type}-{count}", count + 1
        names.append(name)
    return names


# ---------------------------------------------------------------- rows of logits

ROW_MODES = ("sequence", "token", "masked")


def row_mask(mode: str, attention_mask: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | None:
    """Which logit rows the logit terms compare: None for one row per example (sequence tasks),
    real tokens for token tasks, masked positions (labels != -100) for masked language modelling."""
    if mode == "sequence":
        return None
    if mode == "token":
        return attention_mask.bool()
    if labels is None:
        raise ConfigError("masked-LM distillation needs labels marking the masked positions")
    return labels != IGNORE_INDEX


def select_rows(values: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
    """[B, C] logits stay as they are; [B, L, V] become [N, V] for the selected positions."""
    return values if rows is None else values[rows]


# ---------------------------------------------------------------- running a model

def forward_signals(model, batch: dict[str, torch.Tensor], *, row_mode: str | None, logits: bool,
                    attentions: frozenset[int] | set[int], hidden: frozenset[int] | set[int],
                    as_teacher: bool = False) -> Signals:
    """Run ``model`` on a batch and keep what the losses need.

    Attention maps are averaged over heads; logits are reduced to the rows ``row_mode`` selects. For
    a teacher the logits come back as dense ``LogitTargets``.
    """
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
    output = model(**inputs, output_attentions=bool(attentions), output_hidden_states=bool(hidden))
    mask = batch["attention_mask"]
    labels = batch.get("labels")
    signals = Signals(mask=mask)
    if logits and row_mode is not None:
        rows = row_mask(row_mode, mask, labels)
        selected = select_rows(output.logits, rows)
        signals.logits = LogitTargets(selected) if as_teacher else selected
        if labels is not None:
            signals.labels = select_rows(labels, rows)
    signals.attentions = {i: output.attentions[i].mean(dim=1) for i in attentions}
    signals.hidden = {i: output.hidden_states[i] for i in hidden}
    return signals
