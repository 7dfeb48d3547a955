"""Tiny fixtures: three tokenizer families, four heads, real text, seconds to build."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edgedistill.fixtures import FAMILIES, HEADS, tiny_model, tiny_tokenizer  # noqa: E402

SLOW_FILES = {"xlmr": ["sentencepiece.bpe.model"], "bert": ["vocab.txt"],
              "bpe": ["vocab.json", "merges.txt"]}
SPECIALS = {"xlmr": {"bos_token_id": 0, "pad_token_id": 1, "eos_token_id": 2, "unk_token_id": 3},
            "bert": {"pad_token_id": 0, "unk_token_id": 1, "cls_token_id": 2, "sep_token_id": 3},
            "bpe": {"bos_token_id": 0, "pad_token_id": 1, "eos_token_id": 2, "unk_token_id": 3}}


@pytest.fixture(scope="module")
def tokenizers(fixture_texts):
    return {family: tiny_tokenizer(family, fixture_texts) for family in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
def test_tokenizer_layout(tokenizers, family):
    tokenizer = tokenizers[family]
    for attribute, expected in SPECIALS[family].items():
        assert getattr(tokenizer, attribute) == expected, attribute
    assert 300 < len(tokenizer) <= 810
    if family == "xlmr":  # fairseq layout: <mask> is the last id
        assert tokenizer.mask_token_id == len(tokenizer) - 1


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("head", HEADS)
def test_every_head_runs_and_round_trips(tokenizers, fixture_texts, tmp_path, family, head):
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    tiny = tiny_model(family, head, tokenizer=tokenizers[family])
    batch = tiny.tokenizer(fixture_texts[:3], padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        out = tiny.model(**batch)
    first = out[0]
    expected_last = {"base": 32, "mlm": len(tiny.tokenizer), "sequence-classification": 3,
                     "token-classification": 9}[head]
    assert first.shape[-1] == expected_last

    folder = tiny.save(tmp_path / f"{family}-{head}")
    for name in SLOW_FILES[family] + ["tokenizer.json", "config.json", "model.safetensors"]:
        assert (folder / name).is_file(), name
    reloaded_config = AutoConfig.from_pretrained(folder)
    model_class = type(tiny.model)
    reloaded = model_class.from_pretrained(folder).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch)[0], first)
    assert AutoTokenizer.from_pretrained(folder)(fixture_texts[0])["input_ids"] == \
        tiny.tokenizer(fixture_texts[0])["input_ids"]
    assert reloaded_config.model_type == {"xlmr": "xlm-roberta", "bert": "bert",
                                          "bpe": "roberta"}[family]
    del AutoModel


def test_xlmr_slow_and_fast_tokenizers_agree(tokenizers, fixture_texts, tmp_path):
    """The SentencePiece model plus the fairseq offset gives the ids tokenizer.json gives."""
    from transformers import XLMRobertaTokenizer

    folder = tmp_path / "tok"
    tokenizers["xlmr"].save_pretrained(folder)
    slow = XLMRobertaTokenizer(vocab_file=str(folder / "sentencepiece.bpe.model"))
    for text in fixture_texts[::25]:
        assert slow(text)["input_ids"] == tokenizers["xlmr"](text)["input_ids"]


def test_same_seed_same_weights(tokenizers):
    a = tiny_model("bert", "mlm", tokenizer=tokenizers["bert"], seed=3)
    b = tiny_model("bert", "mlm", tokenizer=tokenizers["bert"], seed=3)
    for (name, pa), pb in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        torch.testing.assert_close(pa, pb, msg=name)


def test_unknown_family_and_head_are_refused(tokenizers):
    with pytest.raises(ValueError, match="family"):
        tiny_tokenizer("wordlevel", ["a b c"])
    with pytest.raises(ValueError, match="head"):
        tiny_model("bert", "decoder", tokenizer=tokenizers["bert"])
