"""TorchScript, ORT format and the tokenizer-in-graph variant on tiny fixtures and real sentences."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime_extensions")

from edgedistill.export.validate import default_validation_texts, onnx_session, run_session  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory, fixture_texts):
    """Tiny XLM-R (SentencePiece) and BERT (WordPiece) classifiers: HF objects, ONNX file, tokenizer.json."""
    from edgedistill.export.onnx_export import export_onnx
    from edgedistill.fixtures import tiny_model

    result = {}
    for family, head in (("xlmr", "sequence-classification"), ("bert", "token-classification")):
        folder = tmp_path_factory.mktemp(family)
        tiny = tiny_model(family, head, texts=fixture_texts)
        tiny.tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"))
        export_onnx(tiny.model, tiny.tokenizer, folder / "model.onnx", max_length=64)
        result[family] = {"tiny": tiny, "dir": folder}
    return result


def test_torchscript_reproduces_the_model_on_other_shapes(exported, tmp_path):
    import torch

    from edgedistill.export.torchscript import export_torchscript

    tiny = exported["xlmr"]["tiny"]
    path, inputs, report = export_torchscript(tiny.model, tiny.tokenizer, tmp_path / "model.pt",
                                              max_length=64)
    assert inputs == ["input_ids", "attention_mask"]
    assert report.max_abs_diff["logits"] < 1e-4
    assert [shape[0] for shape in report.batch_shapes] == [report.sentences - 1, 1]
    loaded = torch.jit.load(str(path))
    ids = torch.tensor([[0, 10, 11, 12, 2]])
    assert loaded(ids, torch.ones_like(ids)).shape == (1, 3)


def test_ort_format_runs_like_the_onnx_file(exported, tmp_path):
    from edgedistill.export.encoding import hf_encoder
    from edgedistill.export.ort_format import convert_to_ort

    folder, tiny = exported["xlmr"]["dir"], exported["xlmr"]["tiny"]
    path = convert_to_ort(folder / "model.onnx", tmp_path / "model.ort")
    assert path.read_bytes()[4:8] == b"ORTM"  # the flatbuffer identifier of ORT-format models
    feeds = hf_encoder(tiny.tokenizer, ["input_ids", "attention_mask"], max_length=64)(
        default_validation_texts(6))
    expected = run_session(onnx_session(folder / "model.onnx"), feeds)["logits"]
    assert np.abs(run_session(onnx_session(path), feeds)["logits"] - expected).max() < 1e-4


def test_sentencepiece_rebuilt_from_tokenizer_json_matches(exported):
    import sentencepiece as spm

    from edgedistill.export.tokenizer_graph import sentencepiece_model_from_tokenizer_json

    folder, tiny = exported["xlmr"]["dir"], exported["xlmr"]["tiny"]
    data = json.loads((folder / "tokenizer.json").read_text())
    processor = spm.SentencePieceProcessor(model_proto=sentencepiece_model_from_tokenizer_json(data))
    for text in default_validation_texts(40):
        fairseq = [{0: 3, 1: 0, 2: 2}.get(i, i + 1) for i in processor.encode(text)]
        assert [0, *fairseq, 2] == tiny.tokenizer(text)["input_ids"], text


def test_string_input_model_gives_the_same_ids_and_logits(exported, tmp_path):
    from edgedistill.export.tokenizer_graph import TEXT_INPUT, check_tokenizer_graph, string_input_model

    folder = exported["xlmr"]["dir"]
    texts = [*default_validation_texts(120), "", "x" * 400, "Ọjọ́ ìbí mi 🎉🎉"]
    path = string_input_model(folder / "model.onnx", folder / "tokenizer.json", tmp_path / "s.onnx",
                              max_length=64, prefix="query: ")
    check = check_tokenizer_graph(path, folder / "model.onnx", folder / "tokenizer.json", texts,
                                  max_length=64, prefix="query: ", min_agreement=0.98)
    assert check.id_agreement >= 0.98 and check.max_abs_diff < 1e-4
    session = onnx_session(path, custom_ops=True)
    logits = session.run(None, {TEXT_INPUT: np.array(["Ina son ka", "", "x" * 400], dtype=object)})[0]
    assert logits.shape == (3, 3) and np.all(np.isfinite(logits))


def test_wordpiece_graph_reports_where_it_differs(exported, tmp_path):
    from edgedistill.export.errors import TokenizerMismatch
    from edgedistill.export.tokenizer_graph import check_tokenizer_graph, string_input_model

    folder = exported["bert"]["dir"]
    path = string_input_model(folder / "model.onnx", folder / "tokenizer.json", tmp_path / "s.onnx",
                              max_length=64)
    plain = ["Ina son wannan waka sosai.", "Serikali imetangaza mpango mpya wa elimu bure."]
    check = check_tokenizer_graph(path, folder / "model.onnx", folder / "tokenizer.json", plain,
                                  max_length=64)
    assert check.id_agreement == 1.0 and check.max_abs_diff < 1e-4
    # Hugging Face makes a word with an emoji glued to it one [UNK]; the extensions' BertTokenizer splits
    # the emoji off. The check says so instead of hiding it.
    with pytest.raises(TokenizerMismatch, match="different ids"):
        check_tokenizer_graph(path, folder / "model.onnx", folder / "tokenizer.json",
                              ["gimbiyar👑👑 Uwa", "pls🙏🙏"], max_length=64)


def test_byte_level_bpe_is_refused_clearly(tmp_path, fixture_texts):
    from edgedistill.export.errors import ExportError
    from edgedistill.export.tokenizer_graph import tokenizer_graph
    from edgedistill.fixtures import tiny_tokenizer

    tokenizer = tiny_tokenizer("bpe", fixture_texts[:100], vocab_size=300)
    tokenizer.backend_tokenizer.save(str(tmp_path / "t.json"))
    with pytest.raises(ExportError, match="BPE"):
        tokenizer_graph(tmp_path / "t.json", max_length=64)


def test_token_classifier_string_model_reports_token_offsets(tmp_path, fixture_texts):
    """An app places entities with ``token_offsets``: each token's UTF-8 start in the prefixed text."""
    from tokenizers import Tokenizer

    from edgedistill.export.onnx_export import export_onnx
    from edgedistill.export.tokenizer_graph import TEXT_INPUT, TOKEN_OFFSETS, string_input_model
    from edgedistill.fixtures import tiny_model

    tiny = tiny_model("xlmr", "token-classification", texts=fixture_texts)
    tiny.tokenizer.backend_tokenizer.save(str(tmp_path / "tokenizer.json"))
    export_onnx(tiny.model, tiny.tokenizer, tmp_path / "model.onnx", max_length=16)
    path = string_input_model(tmp_path / "model.onnx", tmp_path / "tokenizer.json", tmp_path / "s.onnx",
                              max_length=16, prefix="query: ", token_offsets=True)
    session = onnx_session(path, custom_ops=True)
    assert [o.name for o in session.get_outputs()] == ["logits", TOKEN_OFFSETS]
    texts = ["Ọjọ́ ìbí mi 🎉 Kano", "Ina son wannan waka sosai a Abuja da Kano kuma a Legas yau da gobe"]
    logits, offsets = session.run(None, {TEXT_INPUT: np.array(texts, dtype=object)})
    assert offsets.shape == logits.shape[:2] and offsets.dtype == np.int64
    reference = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    for row, text in zip(offsets, texts, strict=True):
        prefixed = "query: " + text
        encoding = reference.encode(prefixed)
        real = row[row >= 0]
        assert row[0] == -1 and len(real) == min(len(encoding.ids), 16) - 2  # truncated to 16 tokens
        # a "▁word" piece starts at the space before the word: bytes, not characters, count
        starts = [len(prefixed[:start].encode()) for start, _ in encoding.offsets[1:-1]]
        assert all(abs(int(a) - b) <= 1 for a, b in zip(real, starts, strict=False)), (real, starts)
    assert offsets[0, -1] == -1  # the shorter text is padded with -1
