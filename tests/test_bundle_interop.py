"""A bundle opens in the tools users already have: Optimum's ORTModel* classes and transformers'
pipeline(), with the same probabilities as the runtime Predictor (the user adds the input prefix
the manifest states, as the model card says)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("optimum.onnxruntime")

from edgedistill.export.bundle_writer import HF_FILES  # noqa: E402
from edgedistill.runtime import BundleError, Predictor  # noqa: E402
from edgedistill.runtime.bundle import load_manifest  # noqa: E402

TEXTS = ["Ina son wannan waka sosai", "Habari ya asubuhi rafiki", "Ọjọ́ ìbí mi ni òní"]
TOLERANCE = 1e-5


def _save(tiny, folder, task: dict | None = None):
    tiny.save(folder)
    if task:
        (folder / "edgedistill-task.json").write_text(json.dumps(task))
    return folder


@pytest.fixture(scope="module")
def sequence_bundle(tmp_path_factory, fixture_texts):
    """A tiny sentiment classifier whose head is scaled up, so that texts get clearly different
    probabilities (a random tiny head gives ~1/3 to every class, whatever the input)."""
    import torch

    from edgedistill.export.pipeline import export_bundle
    from edgedistill.fixtures import tiny_model

    root = tmp_path_factory.mktemp("interop-seq")
    tiny = tiny_model("xlmr", "sequence-classification", texts=fixture_texts, seed=3)
    with torch.no_grad():
        tiny.model.classifier.dense.weight.mul_(50.0)
        tiny.model.classifier.out_proj.weight.mul_(20.0)
    task = {"kind": "sequence-classification", "labels": ["negative", "neutral", "positive"],
            "text_prefix": "query: ", "max_length": 64}
    export_bundle(str(_save(tiny, root / "model", task)), root / "fp32")
    return root / "fp32"


@pytest.fixture(scope="module")
def token_bundle(tmp_path_factory, fixture_texts):
    """A tiny tagger pushed towards B- tags, so every word is an entity of its own and its score
    depends on the input (the tags' order is then the same under both grouping rules)."""
    import torch

    from edgedistill.export.pipeline import export_bundle
    from edgedistill.fixtures import TOKEN_LABELS, tiny_model

    root = tmp_path_factory.mktemp("interop-tok")
    tiny = tiny_model("xlmr", "token-classification", texts=fixture_texts, seed=4)
    with torch.no_grad():
        tiny.model.classifier.weight.mul_(20.0)
        for index, label in enumerate(TOKEN_LABELS):
            tiny.model.classifier.bias[index] = 6.0 if label.startswith("B-") else -6.0
    export_bundle(str(_save(tiny, root / "model")), root / "fp32")
    return root / "fp32"


def _pipeline_probabilities(bundle, texts: list[str]) -> list[dict[str, float]]:
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer, pipeline

    model = ORTModelForSequenceClassification.from_pretrained(bundle)
    classify = pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(bundle),
                        top_k=None)
    return [{row["label"]: row["score"] for row in rows} for rows in classify(texts)]


def _largest_gap(left: list[dict[str, float]], right: list[dict[str, float]]) -> float:
    return max(abs(a[label] - b[label]) for a, b in zip(left, right, strict=True) for label in a)


def test_the_hugging_face_files_are_written_and_sealed(sequence_bundle, tmp_path):
    import shutil

    manifest = load_manifest(sequence_bundle)
    assert set(HF_FILES) <= set(manifest.files)  # hashed like the model itself
    assert manifest.referenced_files() == ["model.onnx", "tokenizer.json"]  # the runtime's contract as it was
    config = json.loads((sequence_bundle / "config.json").read_text())
    assert config["architectures"] == ["XLMRobertaForSequenceClassification"]
    assert config["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}
    assert json.loads((sequence_bundle / "tokenizer_config.json").read_text())["model_max_length"] == 64
    changed = shutil.copytree(sequence_bundle, tmp_path / "changed")
    (changed / "config.json").write_text(json.dumps({**config, "id2label": {"0": "a", "1": "b", "2": "c"}}))
    with pytest.raises(BundleError, match="config.json does not match its SHA-256"):
        load_manifest(changed)


def test_optimum_and_pipeline_give_the_predictors_probabilities(sequence_bundle):
    prefix = load_manifest(sequence_bundle).input_prefix
    assert prefix == "query: "
    expected = [c.probabilities for c in Predictor(sequence_bundle).classify(TEXTS)]
    assert _largest_gap(_pipeline_probabilities(sequence_bundle, [prefix + t for t in TEXTS]),
                        expected) < TOLERANCE
    # Like with like: without the prefix the model sees other tokens and gives other probabilities.
    assert _largest_gap(_pipeline_probabilities(sequence_bundle, TEXTS), expected) > 1e-3


def test_an_int8_bundle_keeps_the_files_and_still_agrees(sequence_bundle, tmp_path):
    from edgedistill.export.pipeline import DevData, quantize_bundle
    from edgedistill.export.quantize import DynamicScheme

    predicted = [c.label for c in Predictor(sequence_bundle).classify(TEXTS * 4)]
    data = DevData("interop", TEXTS * 4, predicted, TEXTS, "macro_f1")
    manifest, _ = quantize_bundle(sequence_bundle, tmp_path / "int8", [DynamicScheme(preset="avx512_vnni")],
                                  data, max_drop=100.0)
    assert manifest.quantization and set(HF_FILES) <= set(manifest.files)
    prefix = manifest.input_prefix
    # Dynamic INT8 quantizes activations with one scale per batch: the pipeline runs one text at a time,
    # so the Predictor does too.
    expected = [c.probabilities for c in Predictor(tmp_path / "int8", batch_size=1).classify(TEXTS)]
    assert _largest_gap(_pipeline_probabilities(tmp_path / "int8", [prefix + t for t in TEXTS]),
                        expected) < TOLERANCE


def test_token_classification_opens_in_optimum_and_pipeline(token_bundle):
    """Token by token: the pipeline's own word grouping is a heuristic for SentencePiece tokenizers (a
    bare "▁" piece becomes a word of its own), so the Predictor's word scores are compared with the
    pipeline's scores of each word's first token."""
    from optimum.onnxruntime import ORTModelForTokenClassification
    from transformers import AutoTokenizer, pipeline

    prefix = load_manifest(token_bundle).input_prefix
    tokenizer = AutoTokenizer.from_pretrained(token_bundle)
    tag = pipeline("token-classification", model=ORTModelForTokenClassification.from_pretrained(token_bundle),
                   tokenizer=tokenizer, aggregation_strategy="none", ignore_labels=[])
    texts = ["Aliko Dangote ya je Kano jiya", "Rais Samia alienda Dodoma"]
    expected = Predictor(token_bundle).tag(texts)
    assert [len(e) for e in expected] == [len(t.split()) for t in texts]  # every word an entity
    for text, tokens, ours in zip(texts, tag([prefix + t for t in texts]), expected, strict=True):
        word_ids = tokenizer(prefix + text).word_ids()
        first = {index for index, word in enumerate(word_ids) if word is not None
                 and word not in word_ids[:index]}
        theirs = [token for token in tokens if token["index"] in first]
        assert [token["entity"].removeprefix("B-") for token in theirs] == [e.label for e in ours]
        gaps = np.array([token["score"] for token in theirs]) - [e.score for e in ours]
        assert np.abs(gaps).max() < TOLERANCE
