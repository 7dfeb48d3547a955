"""The Android contract: the bundle's string-input model, run as the app runs it (ONNX Runtime with
onnxruntime-extensions, one raw string in, logits out), answers as the Python runtime does on real
sentences from ../shared/data.

The bundles come from the export stage's android target (`edgedistill export --target android`,
through its Python API); where that target is not available the whole module skips and says why.
"""

from __future__ import annotations

import numpy as np
import pytest
from android_bundles import android_bundles, android_export_unavailable, load_demo_script

REASON = android_export_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

LANGUAGES = ("hau", "ibo", "kin", "swa", "yor")
TOKEN_OFFSETS = "token_offsets"


@pytest.fixture(scope="module")
def bundles():
    return android_bundles()


@pytest.fixture(scope="module")
def tweets(data_dir) -> list[str]:
    """The first 12 AfriSenti dev tweets of each language (emoji, @user, URLs and all)."""
    texts = []
    for lang in LANGUAGES:
        lines = (data_dir / "afrisenti" / lang / "dev.tsv").read_text(encoding="utf-8").splitlines()
        texts.extend(line.split("\t")[0] for line in lines[1:13])
    return texts


@pytest.fixture(scope="module")
def ner_sentences(data_dir) -> list[str]:
    """The first 8 MasakhaNER 2.0 dev sentences of each language, tokens joined by spaces."""
    texts = []
    for lang in LANGUAGES:
        sentences, words = [], []
        for line in (data_dir / "masakhaner2" / lang / "dev.txt").read_text(encoding="utf-8").splitlines():
            if line.strip():
                words.append(line.rsplit(" ", 1)[0])
            elif words:
                sentences.append(" ".join(words))
                words = []
            if len(sentences) == 8:
                break
        texts.extend(sentences)
    return texts


def app_session(bundle):
    """The string-input model, loaded as the app loads it."""
    import onnxruntime as ort
    from onnxruntime_extensions import get_library_path

    from edgedistill.runtime.bundle import load_manifest

    manifest = load_manifest(bundle)
    assert manifest.variants.get("string_input_ort", "").endswith(".ort"), manifest.variants
    options = ort.SessionOptions()
    options.register_custom_ops_library(get_library_path())
    options.log_severity_level = 3
    session = ort.InferenceSession(str(bundle / manifest.variants["string_input_ort"]), options,
                                   providers=["CPUExecutionProvider"])
    return manifest, session


def run_one(session, name: str, text: str) -> np.ndarray:
    """One text at a time, as the app calls it."""
    return session.run([name], {session.get_inputs()[0].name: np.array([text], dtype=object)})[0][0]


def same_ids(bundle, predictor, texts: list[str]) -> list[bool]:
    """Whether onnxruntime-extensions' SentencePiece (the graph's tokenizer) gives tokenizer.json's ids.

    The export stage accepts a small share of differences (segmentation ties; it checks at least 99%
    agreement); predictions are compared where the model saw the same tokens.
    """
    tokenize = load_demo_script("make_golden")._graph_tokenizer(bundle / "tokenizer.json")
    prefix = predictor.manifest.input_prefix
    budget = predictor.manifest.max_length - 2
    flags = []
    for text in texts:
        [encoding] = predictor._encode([text])
        flags.append(tokenize(prefix + text)[0][:budget] == encoding.ids[:budget])
    return flags


def test_the_string_model_classifies_like_the_runtime(bundles, tweets):
    from edgedistill.runtime import Predictor
    from edgedistill.runtime.predictor import softmax

    bundle = bundles["sequence-classification"]
    manifest, session = app_session(bundle)
    assert [i.type for i in session.get_inputs()] == ["tensor(string)"]
    predictor = Predictor(bundle)
    expected = predictor.classify(tweets)
    agree = same_ids(bundle, predictor, tweets)
    assert sum(agree) >= 0.95 * len(tweets), f"ids differ on {len(tweets) - sum(agree)} of {len(tweets)}"
    compared = 0
    for text, want, ids_equal in zip(tweets, expected, agree, strict=True):
        probs = softmax(run_one(session, manifest.outputs[0], text).astype(np.float64))
        if not ids_equal:
            continue
        compared += 1
        assert manifest.labels[int(np.argmax(probs))] == want.label, text
        np.testing.assert_allclose(probs, [want.probabilities[label] for label in manifest.labels],
                                   atol=1e-5, err_msg=text)
    assert compared >= 0.95 * len(tweets)
    assert any(ord(ch) > 0xFFFF for text, ok in zip(tweets, agree, strict=True) if ok for ch in text)


def test_the_string_model_tags_like_the_runtime(bundles, ner_sentences, tweets):
    """Same token logits as the runtime, so the same tags; placed with the runtime's token spans they
    give exactly the runtime's entities (the app places them from the graph's offsets instead, see
    test_the_token_model_reports_where_tokens_start)."""
    from edgedistill.runtime import Predictor
    from edgedistill.runtime.predictor import softmax

    bundle = bundles["token-classification"]
    manifest, session = app_session(bundle)
    predictor = Predictor(bundle)
    one_window = [len(predictor.windows(text)) == 1 for text in ner_sentences + tweets[::3]]
    texts = [t for t, fits in zip(ner_sentences + tweets[::3], one_window, strict=True) if fits]
    assert len(texts) >= 30
    agree = same_ids(bundle, predictor, texts)
    assert sum(agree) >= 0.95 * len(texts)
    for text, ids_equal in zip(texts, agree, strict=True):
        graph = run_one(session, manifest.outputs[0], text)
        if not ids_equal:
            continue
        [(_, window)] = predictor.windows(text)
        [runtime] = predictor.raw_outputs([window])
        assert graph.shape == runtime.shape, text  # <s> tokens </s>: the graph adds the same specials
        np.testing.assert_allclose(graph, runtime, atol=1e-4, err_msg=text)
        content = [i for i, special in enumerate(window.special_tokens_mask) if not special]
        probs = softmax(graph.astype(np.float64))
        tokens = [(window.word_ids[i], window.offsets[i], probs[i]) for i in content]
        got = predictor._entities(text, tokens, len(manifest.input_prefix))
        [want] = predictor.tag([text])
        assert [(e.label, e.text, e.start, e.end) for e in got] == \
            [(e.label, e.text, e.start, e.end) for e in want], text
        np.testing.assert_allclose([e.score for e in got], [e.score for e in want], atol=1e-5, err_msg=text)


def test_the_token_model_reports_where_tokens_start(bundles, ner_sentences):
    """The app places entities from a `token_offsets` output (UTF-8 start of each token, -1 for <s>,
    </s> and padding; see TokenAlignment.java) that the export stage writes for string-input taggers."""
    bundle = bundles["token-classification"]
    _, session = app_session(bundle)
    outputs = [o.name for o in session.get_outputs()]
    assert TOKEN_OFFSETS in outputs, f"the android tagger has no {TOKEN_OFFSETS!r} output: {outputs}"
    tokenize = load_demo_script("make_golden")._graph_tokenizer(bundle / "tokenizer.json")
    for text in ner_sentences:
        starts = run_one(session, TOKEN_OFFSETS, text)
        assert starts[0] == -1 and starts[-1] == -1, text
        assert starts[1:-1].tolist() == tokenize(text)[1][: len(starts) - 2], text


def test_prepare_assets_takes_the_exported_bundles(bundles, tmp_path):
    prepare_assets = load_demo_script("prepare_assets")
    from edgedistill.runtime.bundle import load_manifest, sha256_file

    warnings: list[str] = []
    for task, bundle in bundles.items():
        dest = prepare_assets.prepare(bundle, name=f"tiny-{task}", assets=tmp_path, warn=warnings.append)
        manifest = load_manifest(dest, verify=False)
        model = manifest.variants["string_input_ort"]
        assert sorted(p.name for p in dest.iterdir()) == sorted(["edgedistill.json", model])
        assert sha256_file(dest / model) == manifest.files[model]
    _, session = app_session(bundles["token-classification"])
    has_offsets = TOKEN_OFFSETS in [o.name for o in session.get_outputs()]
    assert any(TOKEN_OFFSETS in w for w in warnings) != has_offsets, warnings
