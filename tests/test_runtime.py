"""The torch-free runtime: same answers as PyTorch, refusals in one sentence, any text accepted."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bundles import rewrite_manifest  # noqa: E402

from edgedistill.export.tiny_bundles import write_tiny_bundle  # noqa: E402
from edgedistill.runtime import BundleError, Predictor  # noqa: E402
from edgedistill.runtime.predictor import clean_text  # noqa: E402

ODD_INPUTS = ["", "   ", "\t\n", "x" * 100_000, "\x00\x01\x07 control \x1b[31m",
              "lone \ud800 surrogate", "emoji 😂🔥🇳🇬 only", "Hausa و العربية 中文 mixed ẹ̀ scripts",
              "@user https://t.co/abc #tag"]


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, fixture_texts):
    root = tmp_path_factory.mktemp("bundles")
    made = {}
    for head in ("sequence-classification", "token-classification", "base"):
        model, tokenizer = write_tiny_bundle(root / head, head, fixture_texts)
        made[head] = (root / head, model, tokenizer)
    return made


def torch_outputs(model, tokenizer, texts, max_length=32):
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length,
                      return_tensors="pt")
    with torch.no_grad():
        return model(**batch)[0].numpy(), batch["attention_mask"].numpy()


def test_classify_matches_pytorch(bundles, fixture_texts):
    folder, model, tokenizer = bundles["sequence-classification"]
    texts = fixture_texts[:20]
    results = Predictor(folder, batch_size=4).classify(texts)
    logits, _ = torch_outputs(model, tokenizer, texts)
    expected = torch.softmax(torch.from_numpy(logits), -1).numpy()
    got = np.array([[r.probabilities[label] for label in ("negative", "neutral", "positive")]
                    for r in results])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert [r.label for r in results] == [("negative", "neutral", "positive")[i]
                                          for i in expected.argmax(1)]


def test_embed_matches_pytorch_mean_pooling(bundles, fixture_texts):
    folder, model, tokenizer = bundles["base"]
    texts = fixture_texts[:7]
    got = Predictor(folder).embed(texts)
    states, mask = torch_outputs(model, tokenizer, texts)
    pooled = (states * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    np.testing.assert_allclose(got, pooled, atol=1e-5)


def test_tag_offsets_point_into_the_text(bundles, fixture_texts):
    folder, _, _ = bundles["token-classification"]
    texts = fixture_texts[:10]
    for text, entities in zip(texts, Predictor(folder).tag(texts), strict=True):
        for entity in entities:
            assert text[entity.start : entity.end] == entity.text
            assert entity.label in {"PER", "ORG", "LOC", "DATE"}


def test_tagging_a_long_text_covers_every_token(bundles, fixture_texts):
    """Windows overlap and every token gets exactly one prediction, in order."""
    folder, _, _ = bundles["token-classification"]
    predictor = Predictor(folder)
    long_text = " ".join(fixture_texts[:6])
    [encoding] = predictor._encode([long_text])
    n_tokens = len(encoding.ids)
    assert n_tokens > 3 * predictor.manifest.max_length
    merged = predictor.token_probabilities(long_text)
    assert len(merged) == n_tokens
    assert [offsets for _, offsets, _ in merged] == encoding.offsets
    entities = predictor.tag([long_text])[0]
    assert all(long_text[e.start : e.end] == e.text for e in entities)


def test_windows_and_raw_outputs_are_what_classify_runs(bundles, fixture_texts):
    """The public view of what the model sees (make_golden.py and the arm64 check rely on it)."""
    from edgedistill.runtime.predictor import softmax

    folder, _, _ = bundles["sequence-classification"]
    predictor = Predictor(folder)
    long_text = " ".join(fixture_texts[:6])
    [(start, encoding)] = predictor.windows(long_text)  # cut to max_length, as classify cuts it
    assert start == 0 and len(encoding.ids) == predictor.manifest.max_length
    [logits] = predictor.raw_outputs([encoding])
    expected = predictor.classify(long_text)
    np.testing.assert_allclose(softmax(logits.astype(np.float64)),
                               [expected.probabilities[label] for label in predictor.manifest.labels],
                               atol=1e-6)


def test_short_text_tags_equal_whether_alone_or_batched(bundles, fixture_texts):
    folder, _, _ = bundles["token-classification"]
    predictor = Predictor(folder, batch_size=3)
    together = predictor.tag(fixture_texts[:9])
    alone = [predictor.tag([t])[0] for t in fixture_texts[:9]]
    assert together == alone


@pytest.mark.parametrize("text", ODD_INPUTS)
def test_any_text_gets_a_prediction(bundles, text):
    for head in ("sequence-classification", "token-classification", "base"):
        predictor = Predictor(bundles[head][0])
        if head == "sequence-classification":
            [result] = predictor.classify([text])
            assert abs(sum(result.probabilities.values()) - 1) < 1e-6
        elif head == "token-classification":
            assert isinstance(predictor.tag([text])[0], list)
        else:
            assert np.isfinite(predictor.embed([text])).all()


@pytest.mark.parametrize("head", ["sequence-classification", "token-classification"])
def test_eight_threads_give_the_sequential_results(bundles, fixture_texts, head):
    """One Predictor, 8 threads x 500 requests: exactly what sequential calls give, and no errors."""
    predictor = Predictor(bundles[head][0], threads=1)
    run = predictor.classify if head == "sequence-classification" else predictor.tag
    texts = fixture_texts[:50]
    sequential = {text: run([text])[0] for text in texts}
    got: list[list] = [[] for _ in range(8)]
    errors: list = []

    def worker(k: int) -> None:
        try:
            for i in range(500):
                text = texts[(7 * i + k) % len(texts)]  # each thread in its own order
                got[k].append((text, run([text])[0]))
        except Exception as exc:  # noqa: BLE001 - any failure in a thread fails the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and not any(thread.is_alive() for thread in threads)
    assert sum(len(results) for results in got) == 8 * 500
    for results in got:
        for text, result in results:
            assert result == sequential[text]


# ----------------------------------------------------------------------------- refusals
@pytest.fixture
def copy_of(bundles, tmp_path):
    def make(head="sequence-classification"):
        dest = tmp_path / "copy"
        shutil.copytree(bundles[head][0], dest)
        return dest
    return make


def test_tampered_file_is_refused(copy_of):
    bundle = copy_of()
    with (bundle / "tokenizer.json").open("a") as handle:
        handle.write(" ")
    with pytest.raises(BundleError, match="tokenizer.json does not match its SHA-256"):
        Predictor(bundle)


def test_truncated_model_is_refused(copy_of):
    bundle = copy_of()
    data = (bundle / "model.onnx").read_bytes()
    (bundle / "model.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="model.onnx does not match"):
        Predictor(bundle)


def test_unreadable_model_with_matching_hash_is_one_sentence(copy_of):
    from edgedistill.runtime.bundle import hash_bundle_files

    bundle = copy_of()
    (bundle / "model.onnx").write_bytes(b"not an onnx model")
    rewrite_manifest(bundle, files=hash_bundle_files(bundle, ["model.onnx", "tokenizer.json"]))
    with pytest.raises(BundleError, match="onnxruntime cannot load model.onnx"):
        Predictor(bundle)


def test_unknown_format_version_is_refused(copy_of):
    bundle = copy_of()
    rewrite_manifest(bundle, format_version=99)
    with pytest.raises(BundleError, match="format version 99"):
        Predictor(bundle)


@pytest.mark.parametrize("evil", ["../outside.onnx", "/etc/passwd", "sub/../../x"])
def test_paths_outside_the_bundle_are_refused(copy_of, evil):
    bundle = copy_of()
    rewrite_manifest(bundle, model_file=evil, files={evil: "0" * 64, "tokenizer.json": "0" * 64})
    with pytest.raises(BundleError, match="outside the bundle|not a plain relative path"):
        Predictor(bundle)


def test_tokenizer_larger_than_embedding_table_is_refused(copy_of):
    bundle = copy_of()
    rewrite_manifest(bundle, vocab_size=100)
    with pytest.raises(BundleError, match="can emit id .* only 100 rows"):
        Predictor(bundle, verify=False)


def test_missing_manifest_and_wrong_task(copy_of, bundles, tmp_path):
    with pytest.raises(BundleError, match="has no edgedistill.json"):
        Predictor(tmp_path)
    with pytest.raises(BundleError, match="not a directory"):
        Predictor(tmp_path / "absent")
    with pytest.raises(BundleError, match="cannot tag text"):
        Predictor(bundles["sequence-classification"][0]).tag(["x"])
    bundle = copy_of()
    rewrite_manifest(bundle, task="translation")
    with pytest.raises(BundleError, match="task 'translation'"):
        Predictor(bundle)
    rewrite_manifest(bundle, task="sequence-classification", surprise=1)
    with pytest.raises(BundleError, match="unknown keys"):
        Predictor(bundle)


# ----------------------------------------------------------------------------- the CLI
def test_predict_writes_json_lines(bundles, fixture_texts):
    import json

    from click.testing import CliRunner

    from edgedistill.cli import main

    folder = bundles["sequence-classification"][0]
    result = CliRunner().invoke(main, ["predict", str(folder), fixture_texts[0], "emoji 😂"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["text"] for line in lines] == [fixture_texts[0], "emoji 😂"]
    assert {"label", "score", "probabilities"} <= set(lines[0])
    tagged = CliRunner().invoke(main, ["predict", str(bundles["token-classification"][0])],
                                input="\n".join(fixture_texts[:3]) + "\n")
    assert tagged.exit_code == 0 and len(tagged.output.splitlines()) == 3
    assert "entities" in json.loads(tagged.output.splitlines()[0])


def test_predict_on_a_broken_bundle_is_one_line(copy_of):
    from click.testing import CliRunner

    from edgedistill.cli import main

    bundle = copy_of()
    rewrite_manifest(bundle, format_version=2)
    result = CliRunner().invoke(main, ["predict", str(bundle), "x"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: bundle {bundle} has format version 2; this runtime reads version 1 "
        "(upgrade edgedistill or re-export the bundle)"]


def test_predict_works_with_torch_unimportable(bundles):
    from test_base_install import run_blocked

    folder = bundles["token-classification"][0]
    result = run_blocked(
        "from edgedistill.cli import main\n"
        f"try:\n    main(['predict', {str(folder)!r}, 'Aliko Dangote ya je Kano'])\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "leaked = [m for m in sys.modules if m.split('.')[0] in HEAVY]\n"
        "assert not leaked, leaked\n")
    assert result.returncode == 0, result.stderr
    assert '"entities"' in result.stdout


def test_random_unicode_never_crashes_the_runtime(bundles):
    """Property: any Python string (surrogates, controls, any plane) gets a prediction."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    classifier = Predictor(bundles["sequence-classification"][0])
    tagger = Predictor(bundles["token-classification"][0])

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.text(alphabet=st.characters(exclude_categories=()), max_size=300), min_size=1,
                    max_size=4))
    def check(texts):
        for result in classifier.classify(texts):
            assert abs(sum(result.probabilities.values()) - 1) < 1e-6
        for text, entities in zip(texts, tagger.tag(texts), strict=True):
            clean = clean_text(text)
            assert all(clean[e.start : e.end] == e.text for e in entities)

    check()


def test_entity_spans_drop_the_metaspace_and_keep_combining_accents():
    text = "Ọba o\u0300 lọ sí Kano"  # "ò" written as "o" + U+0300
    start = text.index("Kano") - 1  # SentencePiece offsets include the space before a word
    entity = Predictor._entity(text, ["LOC", start, len(text), [0.9]])
    assert (entity.text, entity.start) == ("Kano", text.index("Kano"))
    o = text.index("o\u0300")
    accented = Predictor._entity(text, ["PER", o - 1, o + 1, [0.5, 0.7]])
    assert accented.text == "o\u0300" and accented.score == pytest.approx(0.6)


def test_tag_entities_never_start_or_end_with_space(bundles, fixture_texts):
    folder, _, _ = bundles["token-classification"]
    for entities in Predictor(folder).tag(fixture_texts[:30]):
        for entity in entities:
            assert entity.text == entity.text.strip() or not entity.text.strip()


def test_a_dynamic_int8_bundle_runs_each_text_alone_unless_told(bundles, tmp_path):
    from edgedistill.runtime import Predictor

    fp32 = bundles["sequence-classification"][0]
    dynamic = shutil.copytree(fp32, tmp_path / "int8")
    rewrite_manifest(dynamic, quantization={"kind": "dynamic", "preset": "avx512_vnni", "per_channel": True})
    assert Predictor(dynamic).batch_size == 1  # per-batch activation scales: a text's scores would move
    assert Predictor(dynamic, batch_size=8).batch_size == 8
    assert Predictor(fp32).batch_size == 16
