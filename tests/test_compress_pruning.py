"""Structured pruning: physically removing heads and neurons equals masking them, and reloads."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from compress_support import hausa, tokenizer_for  # noqa: E402

from edgedistill.compress.importance import ImportanceError, compute_importance, text_batches  # noqa: E402
from edgedistill.compress.pruning import (  # noqa: E402
    PruneConfig,
    PruneError,
    StructuredPruner,
    prune_ffn,
    prune_heads,
)
from edgedistill.config import ConfigError  # noqa: E402
from edgedistill.fixtures import tiny_model  # noqa: E402


@pytest.fixture(scope="module")
def texts(data_dir) -> list[str]:
    return list(hausa("train", 64))


def batch_of(tokenizer, texts):
    return tokenizer(texts[:4], padding=True, truncation=True, max_length=64, return_tensors="pt")


def masked_forward(model, batch, dropped_heads: dict[int, list[int]], dropped_neurons: dict[int, list[int]]):
    """The unpruned model with the given heads' outputs and FFN activations multiplied by zero."""
    handles = []
    for index, layer in enumerate(model.base_model.encoder.layer):
        heads = torch.ones(layer.attention.self.num_attention_heads)
        heads[dropped_heads.get(index, [])] = 0
        neurons = torch.ones(layer.intermediate.dense.out_features)
        neurons[dropped_neurons.get(index, [])] = 0

        def zero_heads(module, inputs, output, mask=heads):
            context = output[0]
            shape = context.shape
            return ((context.view(*shape[:-1], len(mask), -1) * mask[:, None]).view(shape), *output[1:])

        handles.append(layer.attention.self.register_forward_hook(zero_heads))
        handles.append(layer.intermediate.register_forward_hook(lambda m, i, out, mask=neurons: out * mask))
    with torch.no_grad():
        output = model(**batch)[0]
    for handle in handles:
        handle.remove()
    return output


def test_removing_heads_and_neurons_equals_masking_them(texts):
    tiny = tiny_model("bert", "base", tokenizer=tokenizer_for("bert"))
    original = copy.deepcopy(tiny.model)
    head_scores = [torch.tensor([4.0, 1.0, 3.0, 2.0]), torch.tensor([1.0, 2.0, 3.0, 4.0])]
    ffn_scores = [torch.arange(64.0), torch.arange(64.0).flip(0)]
    removed = prune_heads(tiny.model, head_scores, [2, 3])
    prune_ffn(tiny.model, ffn_scores, 40)
    assert removed == {0: [1, 3], 1: [0]}
    dropped_neurons = {0: list(range(24)), 1: list(range(40, 64))}
    batch = batch_of(tiny.tokenizer, texts)
    with torch.no_grad():
        pruned = tiny.model(**batch)[0]
    torch.testing.assert_close(pruned, masked_forward(original, batch, removed, dropped_neurons))
    layer = tiny.model.encoder.layer[0]
    assert layer.attention.self.query.out_features == 2 * 8 and layer.intermediate.dense.out_features == 40


def test_units_with_zero_weights_score_zero_and_go_first(texts):
    tiny = tiny_model("xlmr", "mlm", tokenizer=tokenizer_for("xlmr"))
    layer = tiny.model.roberta.encoder.layer[0]
    with torch.no_grad():
        layer.attention.output.dense.weight[:, 16:24] = 0  # head 2 writes nothing
        layer.intermediate.dense.weight[5] = 0  # neuron 5 reads and writes nothing
        layer.intermediate.dense.bias[5] = 0
        layer.output.dense.weight[:, 5] = 0
    batches = text_batches(tiny.tokenizer, texts, batches=2, batch_size=4, max_length=64)
    scores = compute_importance(tiny.model, tiny.tokenizer, batches)
    assert scores.objective == "mlm" and scores.batches == 2
    assert scores.heads[0][2] == 0 and (scores.heads[0] > 0).sum() == 3
    assert scores.ffn[0][5] == 0 and (scores.ffn[0] > 0).sum() == 63
    assert all(p.grad is None and p.requires_grad for p in tiny.model.parameters())

    result = StructuredPruner(PruneConfig(heads_per_layer=3, ffn_size=63, batches=2, batch_size=4)).prune(
        tiny.model, tiny.tokenizer, texts=texts)
    assert 2 in tiny.model.config.pruned_heads[0]
    assert result.report.details["shape_after"] == {"heads": [3, 3], "ffn": [63, 63]}


@pytest.mark.parametrize(("family", "head"), [("xlmr", "mlm"), ("bpe", "sequence-classification")])
def test_pruned_directory_reloads_with_the_same_outputs(family, head, texts, tmp_path):
    from transformers import AutoConfig

    tiny = tiny_model(family, head, tokenizer=tokenizer_for(family))
    source = tiny.save(tmp_path / "source")
    config = PruneConfig(heads_per_layer=(3, 2), ffn_size=48, batches=2, batch_size=4)
    report = StructuredPruner(config).compress_directory(source, tmp_path / "pruned", texts)
    assert report.parameters_after["non_embedding"] < report.parameters_before["non_embedding"]
    assert report.details["objective"] == ("mlm" if head == "mlm" else "output")
    assert (tmp_path / "pruned" / "compression-report.json").is_file()

    # A second pruning of the pruned model: head numbers stay those of the original model.
    StructuredPruner(PruneConfig(heads_per_layer=1, batches=1, batch_size=4)).compress_directory(
        tmp_path / "pruned", tmp_path / "pruned-again", texts)
    saved = AutoConfig.from_pretrained(tmp_path / "pruned-again")
    assert [len(saved.pruned_heads[i]) for i in (0, 1)] == [3, 3]
    assert set(saved.pruned_heads[0]) >= set(AutoConfig.from_pretrained(tmp_path / "pruned").pruned_heads[0])
    reloaded = type(tiny.model).from_pretrained(tmp_path / "pruned-again").eval()
    assert [layer.attention.self.num_attention_heads for layer in reloaded.base_model.encoder.layer] == [1, 1]
    batch = batch_of(tiny.tokenizer, texts)
    with torch.no_grad():
        assert reloaded(**batch)[0].shape == tiny.model(**batch)[0].shape


def test_task_objective_uses_the_batches_labels(texts):
    tiny = tiny_model("bert", "sequence-classification", tokenizer=tokenizer_for("bert"))
    batches = [{**batch_of(tiny.tokenizer, texts), "labels": torch.tensor([0, 1, 2, 1])}]
    result = StructuredPruner(PruneConfig(ffn_size=32)).prune(tiny.model, tiny.tokenizer, batches=batches)
    assert result.report.details["objective"] == "task"
    assert tiny.model.config.intermediate_size == 32


def test_impossible_targets_are_refused(texts):
    tiny = tiny_model("bert", "base", tokenizer=tokenizer_for("bert"))

    def prune(**config):
        StructuredPruner(PruneConfig(**config)).prune(tiny.model, tiny.tokenizer, texts=texts)

    with pytest.raises(PruneError, match="layer 0, which has 4"):
        prune(heads_per_layer=5)
    with pytest.raises(PruneError, match="3 entries but the model has 2 layers"):
        prune(heads_per_layer=(1, 1, 1))
    with pytest.raises(PruneError, match="larger than the model's FFN size 64"):
        prune(ffn_size=65)
    with pytest.raises(ImportanceError, match="masked-LM head"):
        prune(ffn_size=8, objective="mlm")


@pytest.mark.parametrize("values", [{}, {"heads_per_layer": 0}, {"ffn_size": 8, "objective": "magic"},
                                    {"ffn_size": 8, "mask_probability": 1.5}, {"ffn_size": 8, "batches": 0}])
def test_invalid_configs_name_the_field(values):
    with pytest.raises(ConfigError):
        PruneConfig(**values)
