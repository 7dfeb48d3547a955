"""Predict and score one split: the single code path behind every number fine-tuning and
evaluation report. Needs torch; imported lazily by the CLI.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from edgedistill.tasks.encoding import (
    encode_pair_texts,
    encode_text_examples,
    encode_token_examples,
    words_from_predictions,
)
from edgedistill.tasks.metrics import classification_metrics, spearman, tagging_metrics
from edgedistill.tasks.task import SEQUENCE, SIMILARITY, TOKEN, Task, is_bio


def collator_for(kind: str, tokenizer):
    from transformers import DataCollatorForTokenClassification, DataCollatorWithPadding

    if kind == TOKEN:
        return DataCollatorForTokenClassification(tokenizer)
    return DataCollatorWithPadding(tokenizer)


def model_outputs(model, features: list[dict], collator, batch_size: int, description: str = "",
                  pool: bool = False) -> list[np.ndarray]:
    """Logits (or mean-pooled embeddings with ``pool``) per example, unpadded.

    Batches are formed from examples of similar length, which on a CPU is most of the speed.
    """
    model.eval()
    device = next(model.parameters()).device
    left_padded = getattr(collator.tokenizer, "padding_side", "right") == "left"
    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    outputs: list[np.ndarray | None] = [None] * len(features)
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc=description or "predicting", unit="batch", leave=False,
                      disable=not description):
        indices = order[start:start + batch_size]
        batch = collator([{k: v for k, v in features[i].items() if k != "labels"} for i in indices])
        batch = {k: v.to(device) for k, v in batch.items()}
        with torch.no_grad():
            result = model(**batch)
        values = _mean_pool(result.last_hidden_state, batch["attention_mask"]) if pool else result.logits
        for row, index in enumerate(indices):
            length = len(features[index]["input_ids"])
            if values.dim() == 3:
                value = values[row, -length:] if left_padded else values[row, :length]
            else:
                value = values[row]
            outputs[index] = value.float().cpu().numpy()
    return outputs


def _mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


def score_split(model, tokenizer, task: Task, split: str, *, max_length: int, prefix: str = "",
                batch_size: int = 64, examples: list | None = None, progress: bool = True) -> dict:
    """Metrics of ``model`` on one split of ``task`` (all its examples unless ``examples`` given)."""
    examples = task.split(split).examples if examples is None else examples
    description = f"{task.name} {split}" if progress else ""
    if task.kind == SIMILARITY:
        return _score_similarity(model, tokenizer, examples, max_length, prefix, batch_size, description)
    gold, predicted, truncated = _predict(model, tokenizer, task, examples, max_length, prefix, batch_size,
                                          description)
    if task.kind == SEQUENCE:
        return classification_metrics(gold, predicted, task.labels)
    metrics = tagging_metrics(gold, predicted, entities=is_bio(task.labels))
    metrics["words_cut_by_max_length"] = truncated
    return metrics


def predict_split(model, tokenizer, task: Task, split: str, *, max_length: int, prefix: str = "",
                  batch_size: int = 64, examples: list | None = None) -> tuple[list, list]:
    """Gold and predicted labels of one split: a label per text, or a tag list per sentence (per word),
    the very predictions score_split scores (for paired comparisons of two models on the same examples)."""
    examples = task.split(split).examples if examples is None else examples
    gold, predicted, _ = _predict(model, tokenizer, task, examples, max_length, prefix, batch_size, "")
    return gold, predicted


def _predict(model, tokenizer, task: Task, examples: list, max_length: int, prefix: str, batch_size: int,
             description: str) -> tuple[list, list, int]:
    id2label = dict(enumerate(task.labels))
    collator = collator_for(task.kind, tokenizer)
    if task.kind == SEQUENCE:
        encoded = encode_text_examples(examples, tokenizer, None, max_length, prefix)
        logits = model_outputs(model, encoded.features, collator, batch_size, description)
        return [e.label for e in examples], [id2label[int(row.argmax())] for row in logits], 0
    encoded = encode_token_examples(examples, tokenizer, task.label2id, max_length, prefix)
    logits = model_outputs(model, encoded.features, collator, batch_size, description)
    predicted = words_from_predictions([f["labels"] for f in encoded.features],
                                       [row.argmax(-1) for row in logits], encoded.kept_words,
                                       [len(e.tokens) for e in examples], id2label)
    return [list(e.tags) for e in examples], predicted, encoded.truncated_words


def _score_similarity(model, tokenizer, examples, max_length, prefix, batch_size, description) -> dict:
    from transformers import DataCollatorWithPadding

    collator = DataCollatorWithPadding(tokenizer)
    first, second = encode_pair_texts(examples, tokenizer, max_length, prefix)
    base = getattr(model, "base_model", model)
    a = np.stack(model_outputs(base, first.features, collator, batch_size, description, pool=True))
    b = np.stack(model_outputs(base, second.features, collator, batch_size, description, pool=True))
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return {"spearman": spearman(cosine.tolist(), [e.score for e in examples]), "pairs": len(examples)}
