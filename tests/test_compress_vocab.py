"""Vocabulary trimming on tiny models of all three tokenizer families, with real sentences."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from compress_support import SLOW_FILES, hausa, real_sentences, tokenizer_for  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from edgedistill.compress.models import UnsupportedModel  # noqa: E402
from edgedistill.compress.tokenizer_files import read_tokenizer_model  # noqa: E402
from edgedistill.compress.vocab import (  # noqa: E402
    VocabTrimConfig,
    VocabTrimError,
    VocabularyTrimmer,
    choose_vocabulary,
)
from edgedistill.fixtures import FAMILIES, tiny_model  # noqa: E402

# Of about 800 tokens in each tiny vocabulary; byte-level BPE must keep its 256 byte tokens and every
# merge input, so it needs more to keep all of the counted text's tokens.
SIZE = {"xlmr": 400, "bert": 500, "bpe": 650}


@pytest.fixture(scope="module")
def counted(data_dir) -> list[str]:
    return list(hausa("train", 100))


@pytest.fixture(scope="module", params=FAMILIES)
def trimmed(request, counted, tmp_path_factory):
    """An MLM model of one family, a copy of it, and the result of trimming it to SIZE tokens."""
    family = request.param
    tiny = tiny_model(family, "mlm", tokenizer=tokenizer_for(family))
    original = copy.deepcopy(tiny.model)
    result = VocabularyTrimmer(VocabTrimConfig(target_size=SIZE[family])).trim(
        tiny.model, tiny.tokenizer, counted, eval_texts=list(hausa("dev", 100)),
        workdir=tmp_path_factory.mktemp(f"{family}-tokenizer"))
    return family, tiny.tokenizer, original, result


def fully_kept(tokenizer, kept_ids, texts):
    kept = set(kept_ids)
    return [t for t in texts if set(tokenizer(t, truncation=True)["input_ids"]) <= kept]


def test_special_tokens_keep_their_ids(trimmed):
    family, old, _, result = trimmed
    new = result.tokenizer
    for name in ("bos_token", "pad_token", "eos_token", "unk_token", "cls_token", "sep_token"):
        token = getattr(old, name)
        if token is not None:
            assert new.convert_tokens_to_ids(token) == old.convert_tokens_to_ids(token), name
    assert result.model.config.pad_token_id == old.pad_token_id
    if family == "xlmr":  # fairseq layout: <pad> = 1 for position ids, <mask> last
        assert new.pad_token_id == 1
        assert new.mask_token_id == len(new) - 1


def test_every_id_the_tokenizer_can_emit_is_an_embedding_row(trimmed):
    family, _, _, result = trimmed
    rows = result.model.get_input_embeddings().weight.shape[0]
    assert len(result.tokenizer) == rows == SIZE[family] == result.model.config.vocab_size
    assert max(result.tokenizer.get_vocab().values()) < rows
    for text in real_sentences():
        assert max(result.tokenizer(text)["input_ids"]) < rows
    decoder = result.model.get_output_embeddings()
    assert decoder.weight.shape[0] == rows and decoder.bias.shape[0] == rows


@settings(max_examples=30, deadline=None)
@given(text=st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=120))
def test_property_any_text_gets_ids_inside_the_embedding_table(trimmed, text):
    """Whatever the text (any script, controls, emoji), every id is a row and specials stay specials."""
    _, old, _, result = trimmed
    rows = result.model.get_input_embeddings().weight.shape[0]
    ids = result.tokenizer(text)["input_ids"]
    assert all(0 <= i < rows for i in ids)
    for name in ("cls_token", "sep_token", "bos_token", "eos_token"):
        token = getattr(old, name)
        if token is not None and token in old.convert_ids_to_tokens(old(text)["input_ids"]):
            assert token in result.tokenizer.convert_ids_to_tokens(ids), name


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_property_kept_text_round_trips_as_before(trimmed, counted, data):
    """Text made of words whose pieces were kept tokenizes to the same pieces and decodes the same."""
    _, old, _, result = trimmed
    words = sorted({word for text in counted for word in text.split()})
    text = " ".join(data.draw(st.lists(st.sampled_from(words), min_size=1, max_size=12)))
    old_ids = old(text)["input_ids"]
    new_ids = result.tokenizer(text)["input_ids"]
    assert [result.kept.ids[i] for i in new_ids] == old_ids
    assert result.tokenizer.convert_ids_to_tokens(new_ids) == old.convert_ids_to_tokens(old_ids)
    assert result.tokenizer.decode(new_ids, skip_special_tokens=True) == old.decode(old_ids,
                                                                                   skip_special_tokens=True)


def test_same_outputs_on_text_whose_tokens_were_kept(trimmed, counted):
    _, old, original, result = trimmed
    texts = fully_kept(old, result.kept.ids, counted)
    assert len(texts) == len(counted)  # the target size keeps every token of the counted text
    texts = texts[:8]
    kept = torch.tensor(result.kept.ids)
    before = old(texts, padding=True, truncation=True, return_tensors="pt")
    after = result.tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    assert torch.equal(kept[after["input_ids"]], before["input_ids"])
    with torch.no_grad():
        logits_before = original(**before).logits[..., kept]
        logits_after = result.model(**after).logits
    torch.testing.assert_close(logits_after, logits_before, rtol=0, atol=1e-5)


def test_saved_directory_loads_and_slow_and_fast_tokenizers_agree(trimmed, tmp_path):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    family, _, _, result = trimmed
    result.model.save_pretrained(tmp_path)
    result.tokenizer.save_pretrained(tmp_path)
    for name in SLOW_FILES[family]:
        assert (tmp_path / name).is_file(), name
    fast = AutoTokenizer.from_pretrained(tmp_path)
    slow = AutoTokenizer.from_pretrained(tmp_path, use_fast=False)
    assert not slow.is_fast and len(slow) == len(fast) == SIZE[family]
    for text in real_sentences():
        assert slow(text)["input_ids"] == fast(text)["input_ids"], text
    reloaded = AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    batch = fast(real_sentences()[:3], padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, result.model(**batch).logits)
    assert reloaded.get_output_embeddings().weight is reloaded.get_input_embeddings().weight


def test_report_counts_parameters_coverage_and_fallback(trimmed):
    family, _, _, result = trimmed
    report = result.report.to_dict()
    assert report["parameters_after"]["word_embeddings"] == SIZE[family] * 32
    assert report["parameters_after"]["total"] < report["parameters_before"]["total"]
    details = report["details"]
    assert details["tokenizer_family"] == {"xlmr": "unigram", "bert": "wordpiece", "bpe": "bpe"}[family]
    assert details["vocabulary_after"] == SIZE[family]
    assert details["kept_token_coverage"] == 1
    assert details["fallback_on_counted_text"]["texts_unchanged"] == 1
    held_out = details["fallback_on_held_out_text"]
    assert held_out["texts"] == 100 and held_out["length_ratio"] >= 1
    assert 0 <= held_out["texts_unchanged"] <= 1


def test_untied_decoder_rows_and_bias_are_gathered(counted):
    tiny = tiny_model("bert", "mlm", tokenizer=tokenizer_for("bert"))
    decoder = tiny.model.get_output_embeddings()
    decoder.weight = torch.nn.Parameter(torch.randn_like(decoder.weight))
    tiny.model.config.tie_word_embeddings = False
    with torch.no_grad():
        decoder.bias.copy_(torch.arange(decoder.bias.shape[0], dtype=torch.float32))
    old_weight = decoder.weight.detach().clone()
    result = VocabularyTrimmer(VocabTrimConfig(target_size=500)).trim(tiny.model, tiny.tokenizer, counted)
    new_decoder = result.model.get_output_embeddings()
    kept = torch.tensor(result.kept.ids)
    assert new_decoder.weight is not result.model.get_input_embeddings().weight
    torch.testing.assert_close(new_decoder.weight, old_weight[kept])
    torch.testing.assert_close(new_decoder.bias, kept.float())
    assert result.model.cls.predictions.bias is new_decoder.bias


@pytest.mark.parametrize("family", FAMILIES)
def test_coverage_threshold_picks_the_smallest_vocabulary_that_covers(family, counted):
    tokenizer = tokenizer_for(family)
    kept = choose_vocabulary(tokenizer, counted, VocabTrimConfig(target_size=None, coverage=0.9))
    assert kept.token_coverage() >= 0.9
    assert len(kept.ids) < len(tokenizer)


@pytest.mark.parametrize("family", FAMILIES)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(min_value=300, max_value=780), keep_characters=st.booleans())
def test_any_target_size_gives_that_many_tokens_with_specials_and_bpe_merge_inputs(
        family, counted, size, keep_characters):
    tokenizer = tokenizer_for(family)
    config = VocabTrimConfig(target_size=size, keep_characters=keep_characters)
    kept = choose_vocabulary(tokenizer, counted, config)
    assert len(kept.ids) == size and kept.ids == sorted(set(kept.ids))
    assert set(tokenizer.all_special_ids) <= set(kept.ids)
    parsed = read_tokenizer_model(tokenizer)
    if family == "bpe":  # every kept token can still be built from kept tokens
        vocab = tokenizer.get_vocab()
        kept_tokens = {tokenizer.convert_ids_to_tokens(i) for i in kept.ids}
        first_merge = {}
        for left, right in reversed(parsed.merges()):
            first_merge[parsed.merge_result(left, right)] = (left, right)
        for token in kept_tokens:
            assert all(part in kept_tokens for part in first_merge.get(token, ())), token
        assert len(vocab) > size


def test_target_larger_than_vocabulary_is_refused(counted):
    tiny = tiny_model("xlmr", "base", tokenizer=tokenizer_for("xlmr"))
    with pytest.raises(VocabTrimError, match="larger than the vocabulary"):
        VocabularyTrimmer(VocabTrimConfig(target_size=5000)).trim(tiny.model, tiny.tokenizer, counted)


def test_tokenizer_larger_than_the_embedding_table_is_refused(counted):
    tiny = tiny_model("bert", "base", tokenizer=tokenizer_for("bert"))
    tiny.model.resize_token_embeddings(100)
    with pytest.raises(VocabTrimError, match="embedding table only 100 rows"):
        VocabularyTrimmer(VocabTrimConfig(target_size=50)).trim(tiny.model, tiny.tokenizer, counted)


def test_unknown_architecture_is_refused(counted):
    from transformers import DistilBertConfig, DistilBertModel

    model = DistilBertModel(DistilBertConfig(vocab_size=800, dim=32, n_layers=1, n_heads=2, hidden_dim=64))
    with pytest.raises(UnsupportedModel, match="distilbert"):
        VocabularyTrimmer().trim(model, tokenizer_for("bert"), counted)
