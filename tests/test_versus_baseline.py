"""versus_baseline.py (a study) resamples per-example counts; its scores must be the project's metrics."""

from __future__ import annotations

import numpy as np
import pytest

from edgedistill.tasks.metrics import classification_metrics, entity_metrics

LABELS = ["health", "politics", "sports"]


def test_macro_f1_from_counts_is_the_metric_on_any_resample():
    import versus_baseline as vb

    rng = np.random.default_rng(1)
    gold = list(rng.choice(LABELS, 60))
    predicted = list(rng.choice(LABELS[:2], 60))  # "sports" never predicted: its precision is 0
    counts = vb.example_counts(gold, predicted, "sequence-classification", LABELS)
    for sample in (np.arange(60), rng.integers(0, 60, 60)):
        expected = classification_metrics([gold[i] for i in sample], [predicted[i] for i in sample],
                                          tuple(LABELS))["macro_f1"]
        assert vb.score(counts[sample], "sequence-classification") == pytest.approx(expected)


def test_entity_f1_from_counts_is_seqeval_on_any_resample():
    import versus_baseline as vb

    gold = [["B-PER", "I-PER", "O"], ["O", "B-LOC"], ["B-ORG", "O", "B-PER"], ["O"]]
    predicted = [["B-PER", "I-PER", "O"], ["B-LOC", "O"], ["B-ORG", "O", "O"], ["B-PER"]]
    counts = vb.example_counts(gold, predicted, "token-classification", [])
    for sample in ([0, 1, 2, 3], [2, 2, 0, 3], [1, 3, 3, 1]):
        expected = entity_metrics([gold[i] for i in sample], [predicted[i] for i in sample])["entity_f1"]
        assert vb.score(counts[sample], "token-classification") == pytest.approx(expected)


def test_a_verdict_needs_the_whole_interval_on_one_side_of_zero():
    import versus_baseline as vb

    assert vb.verdict({"observed": 0.011, "interval_5_95": [-0.001, 0.023]}).endswith("tied within noise")
    assert vb.verdict({"observed": 0.075, "interval_5_95": [0.062, 0.088]}) == "+7.5 [+6.2, +8.8] ahead"
    assert vb.verdict({"observed": -0.052, "interval_5_95": [-0.098, -0.005]}).endswith("behind")


def test_predict_split_gives_the_predictions_score_split_scores(model_dir, data_dir):
    from transformers import AutoModelForSequenceClassification

    from edgedistill.tasks import DataSpec, load_task
    from edgedistill.tasks.scoring import predict_split, score_split
    from edgedistill.teachers.tokenizer import load_tokenizer

    task = load_task(DataSpec("afrisenti", language="hau"), splits=("test",))
    examples = task.split("test").examples[:40]
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    tokenizer = load_tokenizer(model_dir)
    gold, predicted = predict_split(model, tokenizer, task, "test", max_length=32, examples=examples)
    assert gold == [e.label for e in examples] and len(predicted) == len(examples)
    scored = score_split(model, tokenizer, task, "test", max_length=32, examples=examples, progress=False)
    assert classification_metrics(gold, predicted, task.labels)["macro_f1"] == scored["macro_f1"]
