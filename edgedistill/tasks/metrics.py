"""The metrics the field reports: macro-F1 (and weighted F1, accuracy) for classification,
entity-level F1 (seqeval, conlleval style) for NER, tag accuracy for POS, Spearman for similarity.
Also the majority-class baseline every result is shown beside.
"""

from __future__ import annotations

from collections import Counter

import numpy as np


def classification_metrics(gold: list[str], predicted: list[str], labels: tuple[str, ...]) -> dict:
    """Accuracy, macro-F1 and weighted F1 over ``labels``, and precision/recall/F1 per label.

    A label that is never predicted has precision 0 (as scikit-learn with zero_division=0).
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    per_label = {label: _label_scores(gold, predicted, label) for label in labels}
    supports = np.array([s["support"] for s in per_label.values()], dtype=float)
    f1s = np.array([s["f1"] for s in per_label.values()])
    return {
        "accuracy": _ratio(sum(g == p for g, p in zip(gold, predicted, strict=True)), len(gold)),
        "macro_f1": float(f1s.mean()) if len(f1s) else 0.0,
        "weighted_f1": float((f1s * supports).sum() / supports.sum()) if supports.sum() else 0.0,
        "examples": len(gold),
        "per_label": per_label,
    }


def _label_scores(gold: list[str], predicted: list[str], label: str) -> dict:
    true_positive = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
    precision = _ratio(true_positive, sum(p == label for p in predicted))
    recall = _ratio(true_positive, sum(g == label for g in gold))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": sum(g == label for g in gold)}


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / denominator if denominator else 0.0


def tagging_metrics(gold: list[list[str]], predicted: list[list[str]], entities: bool) -> dict:
    """Tag accuracy over words; with ``entities``, seqeval's entity precision/recall/F1 too."""
    flat_gold = [tag for sentence in gold for tag in sentence]
    flat_predicted = [tag for sentence in predicted for tag in sentence]
    result = {"accuracy": _ratio(sum(g == p for g, p in zip(flat_gold, flat_predicted, strict=True)),
                                 len(flat_gold)),
              "sentences": len(gold), "words": len(flat_gold)}
    if entities:
        result.update(entity_metrics(gold, predicted))
    return result


def entity_metrics(gold: list[list[str]], predicted: list[list[str]]) -> dict:
    """Entity-level micro precision/recall/F1 and F1 per entity type (seqeval, default mode)."""
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    report = classification_report(gold, predicted, output_dict=True, zero_division=0)
    per_type = {name: {"precision": float(s["precision"]), "recall": float(s["recall"]),
                       "f1": float(s["f1-score"]), "support": int(s["support"])}
                for name, s in report.items() if not name.endswith(" avg")}
    return {"entity_f1": float(f1_score(gold, predicted, zero_division=0)),
            "entity_precision": float(precision_score(gold, predicted, zero_division=0)),
            "entity_recall": float(recall_score(gold, predicted, zero_division=0)),
            "per_type": per_type}


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman rank correlation, ties given their average rank."""
    rank_x, rank_y = _ranks(np.asarray(x, dtype=float)), _ranks(np.asarray(y, dtype=float))
    if rank_x.std() == 0 or rank_y.std() == 0:
        return 0.0
    return float(np.corrcoef(rank_x, rank_y)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    order = values.argsort(kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=float)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def majority_label(train_labels: list[str]) -> str:
    """The most frequent training label (ties: the first in sorted order, for determinism)."""
    counts = Counter(train_labels)
    return max(sorted(counts), key=counts.__getitem__)


def majority_baseline(kind: str, train_labels: list, gold: list, labels: tuple[str, ...]) -> dict:
    """Scores of predicting the most frequent training label (tag) everywhere."""
    if kind == "sequence-classification":
        label = majority_label(train_labels)
        scores = classification_metrics(gold, [label] * len(gold), labels)
    else:
        label = majority_label([tag for sentence in train_labels for tag in sentence])
        predicted = [[label] * len(sentence) for sentence in gold]
        scores = tagging_metrics(gold, predicted, entities=any(t.startswith("B-") for t in labels))
    scores.pop("per_label", None)
    scores.pop("per_type", None)
    return {"label": label, **scores}
