"""Hidden-size reduction: every weight on the hidden axis narrows, the result loads and runs."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from compress_support import hausa, tokenizer_for  # noqa: E402

from edgedistill.compress.hidden import HiddenReduceConfig, HiddenReduceError, HiddenSizeReducer  # noqa: E402
from edgedistill.compress.pruning import prune_heads  # noqa: E402
from edgedistill.fixtures import tiny_model  # noqa: E402


@pytest.fixture(scope="module")
def batch(data_dir):
    return list(hausa("dev", 3))


def run(model, tokenizer, texts):
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        return model(**encoded)[0]


@pytest.mark.parametrize(("family", "head"), [("bert", "mlm"), ("xlmr", "sequence-classification"),
                                              ("bpe", "token-classification")])
def test_truncating_to_the_same_size_changes_nothing(family, head, batch):
    tiny = tiny_model(family, head, tokenizer=tokenizer_for(family))
    expected = run(tiny.model, tiny.tokenizer, batch)
    HiddenSizeReducer(HiddenReduceConfig(hidden_size=32, method="truncate")).reduce(tiny.model)
    assert torch.equal(run(tiny.model, tiny.tokenizer, batch), expected)


@pytest.mark.parametrize("method", ["truncate", "svd"])
@pytest.mark.parametrize(("family", "head"), [("bert", "mlm"), ("xlmr", "sequence-classification")])
def test_every_hidden_weight_narrows_and_the_directory_reloads(family, head, method, batch, tmp_path):
    from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification

    tiny = tiny_model(family, head, tokenizer=tokenizer_for(family))
    source = tiny.save(tmp_path / "source")
    report = HiddenSizeReducer(HiddenReduceConfig(hidden_size=24, method=method)).compress_directory(
        source, tmp_path / "narrow")
    assert report.details["head_size_after"] == 6 and report.parameter_ratio < 0.8
    model_class = AutoModelForMaskedLM if head == "mlm" else AutoModelForSequenceClassification
    reloaded = model_class.from_pretrained(tmp_path / "narrow").eval()
    assert reloaded.config.hidden_size == 24
    for name, param in reloaded.named_parameters():
        assert 32 not in param.shape, name  # nothing on the old hidden axis is left
    output = run(reloaded, tiny.tokenizer, batch)
    assert torch.isfinite(output).all()
    if head == "mlm":
        assert reloaded.get_output_embeddings().weight is reloaded.get_input_embeddings().weight
        assert output.shape[-1] == len(tiny.tokenizer)


def test_svd_keeps_the_top_singular_directions_of_the_embeddings():
    tiny = tiny_model("bert", "base", tokenizer=tokenizer_for("bert"))
    embeddings = tiny.model.get_input_embeddings().weight.detach().double()
    singular = torch.linalg.svdvals(embeddings)
    best = float(singular[:16].square().sum() / singular.square().sum())
    truncated = HiddenSizeReducer(HiddenReduceConfig(hidden_size=16, method="truncate")).reduce(
        copy.deepcopy(tiny.model)).report.details["word_embedding_energy_kept"]
    result = HiddenSizeReducer(HiddenReduceConfig(hidden_size=16, method="svd")).reduce(tiny.model)
    assert result.report.details["word_embedding_energy_kept"] == pytest.approx(best, abs=1e-5)
    assert best > truncated


def test_truncation_slices_layer_norms_and_keeps_the_first_dimensions_of_each_head():
    tiny = tiny_model("bert", "base", tokenizer=tokenizer_for("bert"))
    layer = tiny.model.encoder.layer[0]
    gamma = layer.output.LayerNorm.weight.detach().clone()
    value = layer.attention.self.value.weight.detach().clone()
    HiddenSizeReducer(HiddenReduceConfig(hidden_size=16, method="truncate")).reduce(tiny.model)
    torch.testing.assert_close(layer.output.LayerNorm.weight, gamma[:16])
    kept_rows = [h * 8 + i for h in range(4) for i in range(4)]
    torch.testing.assert_close(layer.attention.self.value.weight, value[kept_rows][:, :16])


def test_a_head_pruned_model_can_be_narrowed_and_reloaded(batch, tmp_path):
    from transformers import AutoModel

    tiny = tiny_model("bert", "base", tokenizer=tokenizer_for("bert"))
    prune_heads(tiny.model, [torch.tensor([1.0, 2.0, 3.0, 4.0])] * 2, [2, 3])
    HiddenSizeReducer(HiddenReduceConfig(hidden_size=16, method="svd")).reduce(tiny.model)
    tiny.model.save_pretrained(tmp_path)
    reloaded = AutoModel.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(run(reloaded, tiny.tokenizer, batch), run(tiny.model, tiny.tokenizer, batch))


def test_impossible_sizes_are_refused():
    tiny = tiny_model("bert", "base", tokenizer=tokenizer_for("bert"))
    with pytest.raises(HiddenReduceError, match="not divisible by the model's 4 attention heads; try 16 "):
        HiddenSizeReducer(HiddenReduceConfig(hidden_size=18)).reduce(tiny.model)
    with pytest.raises(HiddenReduceError, match="larger than the model's hidden size 32"):
        HiddenSizeReducer(HiddenReduceConfig(hidden_size=64)).reduce(tiny.model)
