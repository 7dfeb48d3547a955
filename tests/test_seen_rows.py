"""Training only the embedding rows the data uses gives the same model as training the whole matrix."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from edgedistill.fixtures import tiny_model
from edgedistill.seen_rows import SeenRowsEmbedding, seen_rows_only, used_token_ids


@pytest.fixture(scope="module")
def classifier():
    return tiny_model("xlmr", "sequence-classification", vocab_size=300, seed=3)


def _batches(tokenizer, seed: int = 0) -> list[dict]:
    texts = ["sannu da zuwa", "ina kwana lafiya", "na gode sosai", "yaya aiki", "mun gode Allah"]
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for step in range(4):
        chosen = [texts[i] for i in torch.randperm(len(texts), generator=generator)[:3]]
        batch = tokenizer(chosen, padding=True, return_tensors="pt")
        batch["labels"] = torch.tensor([step % 3, (step + 1) % 3, (step + 2) % 3])
        batches.append(dict(batch))
    return batches


def _train(model, batches: list[dict], weight_decay: float) -> None:
    torch.manual_seed(0)  # the same dropout masks for both models
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2,
                                  weight_decay=weight_decay)
    for batch in batches:
        optimizer.zero_grad()
        model(**batch).loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()


def test_training_seen_rows_matches_training_the_whole_matrix(classifier):
    tokenizer = classifier.tokenizer
    batches = _batches(tokenizer)
    features = [{"input_ids": ids[mask.bool()].tolist()} for b in batches
                for ids, mask in zip(b["input_ids"], b["attention_mask"], strict=True)]
    whole, compact = copy.deepcopy(classifier.model), copy.deepcopy(classifier.model)
    before = classifier.model.get_input_embeddings().weight.detach().clone()
    _train(whole, batches, weight_decay=0.0)
    with seen_rows_only(compact, features, tokenizer.pad_token_id) as rows:
        assert isinstance(compact.get_input_embeddings(), SeenRowsEmbedding)
        _train(compact, batches, weight_decay=0.0)
    assert rows == len(used_token_ids(features, tokenizer.pad_token_id)) < before.shape[0]
    assert type(compact.get_input_embeddings()) is nn.Embedding
    assert compact.get_input_embeddings().weight.requires_grad
    expected, got = whole.state_dict(), compact.state_dict()
    assert expected.keys() == got.keys()
    for key, value in expected.items():
        assert torch.allclose(value, got[key], atol=1e-6), key
    trained = compact.get_input_embeddings().weight.detach()
    unused = torch.ones(before.shape[0], dtype=torch.bool)
    unused[used_token_ids(features, tokenizer.pad_token_id)] = False
    assert torch.equal(trained[unused], before[unused])
    assert not torch.equal(trained[~unused], before[~unused])


def test_ids_the_training_data_never_used_read_the_full_matrix(classifier):
    embedding = copy.deepcopy(classifier.model.get_input_embeddings())
    seen = torch.tensor([0, 1, 5, 7])
    compact = SeenRowsEmbedding(embedding, seen)
    with torch.no_grad():
        compact.rows += 1.0
    ids = torch.tensor([[5, 9, 1, 200]])
    out = compact(ids)
    assert torch.allclose(out[0, 0], embedding.weight[5] + 1.0)
    assert torch.allclose(out[0, 1], embedding.weight[9])
    assert torch.allclose(out[0, 3], embedding.weight[200])
    assert compact.weight is embedding.weight and compact.num_embeddings == embedding.num_embeddings


def test_the_padding_row_gets_no_gradient(classifier):
    embedding = copy.deepcopy(classifier.model.get_input_embeddings())
    pad = embedding.padding_idx
    compact = SeenRowsEmbedding(embedding, torch.tensor(sorted({0, pad, 4})))
    compact(torch.tensor([[4, pad, pad]])).sum().backward()
    assert torch.count_nonzero(compact.rows.grad[compact.padding_row]) == 0
    assert torch.count_nonzero(compact.rows.grad[int(compact.lookup[4])]) > 0


def test_the_model_gets_its_embedding_back_when_training_fails(classifier):
    model = copy.deepcopy(classifier.model)
    original = model.get_input_embeddings()
    with pytest.raises(RuntimeError, match="boom"), seen_rows_only(model, [{"input_ids": [0, 5, 2]}], 1):
        raise RuntimeError("boom")
    assert model.get_input_embeddings() is original and original.weight.requires_grad


def test_frozen_or_tied_embeddings_are_left_as_they_are(classifier):
    frozen = copy.deepcopy(classifier.model)
    frozen.get_input_embeddings().weight.requires_grad_(False)
    with seen_rows_only(frozen, [{"input_ids": [0, 5, 2]}], pad_token_id=1) as rows:
        assert rows is None and type(frozen.get_input_embeddings()) is nn.Embedding
    masked_lm = tiny_model("xlmr", "mlm", tokenizer=classifier.tokenizer).model
    with seen_rows_only(masked_lm, [{"input_ids": [0, 5, 2]}], pad_token_id=1) as rows:
        assert rows is None and type(masked_lm.get_input_embeddings()) is nn.Embedding
