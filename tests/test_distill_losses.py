"""Every loss term against a hand computation on small tensors, and gradients reaching only the student."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from edgedistill.config import ConfigError  # noqa: E402
from edgedistill.distill.config import (  # noqa: E402
    AttentionTerm,
    HiddenTerm,
    KLTerm,
    LogitMSETerm,
)
from edgedistill.distill.losses import (  # noqa: E402
    AttentionMapLoss,
    DistillationObjective,
    HiddenStateLoss,
    KLDivergenceLoss,
    LabelCrossEntropy,
    LayerCounts,
    LogitMSELoss,
    LogitTargets,
    Signals,
    attention_index,
    hidden_index,
    row_mask,
    select_rows,
)


def softmax(values: list[float]) -> list[float]:
    exps = [math.exp(v) for v in values]
    return [e / sum(exps) for e in exps]


def test_kl_matches_a_hand_computation_times_t_squared():
    student, teacher, t = [1.0, 0.0, -1.0], [2.0, 0.5, 0.0], 2.0
    p = softmax([v / t for v in teacher])
    q = softmax([v / t for v in student])
    expected = t * t * sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))
    loss = KLDivergenceLoss(t)(torch.tensor([student]), LogitTargets(torch.tensor([teacher])))
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_kl_is_zero_for_equal_logits_and_averages_rows():
    logits = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 5.0]])
    assert KLDivergenceLoss(1.0)(logits, LogitTargets(logits.clone())).item() == pytest.approx(0.0, abs=1e-7)
    one = KLDivergenceLoss(1.0)(logits[:1], LogitTargets(torch.tensor([[3.0, 2.0, 1.0]])))
    two = KLDivergenceLoss(1.0)(logits[1:], LogitTargets(torch.tensor([[1.0, 1.0, 1.0]])))
    both = KLDivergenceLoss(1.0)(logits, LogitTargets(torch.tensor([[3.0, 2.0, 1.0], [1.0, 1.0, 1.0]])))
    assert both.item() == pytest.approx((one.item() + two.item()) / 2, rel=1e-6)


def test_top_k_kl_with_the_normaliser_is_the_kl_over_k_entries_and_the_rest():
    """Top-2 of 4 logits: compare over {a, b, rest}, computed by hand."""
    teacher, student, t = [3.0, 1.0, 0.0, -1.0], [2.0, 2.0, 0.0, 0.0], 1.0
    p, q = softmax(teacher), softmax(student)
    p3 = [p[0], p[1], p[2] + p[3]]
    q3 = [q[0], q[1], q[2] + q[3]]
    expected = sum(a * math.log(a / b) for a, b in zip(p3, q3, strict=True))
    targets = LogitTargets(torch.tensor([[3.0, 1.0]]), torch.tensor([[0, 1]]),
                           {1.0: torch.logsumexp(torch.tensor([teacher]), dim=-1)})
    loss = KLDivergenceLoss(t)(torch.tensor([student]), targets)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_top_k_covering_the_whole_vocabulary_equals_dense_kl():
    teacher = torch.tensor([[0.3, -1.0, 2.0], [1.0, 1.5, -0.5]])
    student = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 1.0]])
    dense = KLDivergenceLoss(2.0)(student, LogitTargets(teacher))
    top = teacher.topk(3, dim=-1)
    sparse = KLDivergenceLoss(2.0)(student, LogitTargets(top.values, top.indices,
                                                         {2.0: torch.logsumexp(teacher / 2.0, dim=-1)}))
    assert sparse.item() == pytest.approx(dense.item(), rel=1e-5)


def test_logit_mse_by_hand_dense_and_at_top_k_entries():
    student = torch.tensor([[1.0, 2.0, 3.0]])
    teacher = torch.tensor([[0.0, 2.0, 5.0]])
    assert LogitMSELoss()(student, LogitTargets(teacher)).item() == pytest.approx((1 + 0 + 4) / 3)
    sparse = LogitTargets(torch.tensor([[5.0, 0.0]]), torch.tensor([[2, 0]]))
    assert LogitMSELoss()(student, sparse).item() == pytest.approx((4 + 1) / 2)


def test_label_cross_entropy_ignores_minus_100():
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0], [5.0, 1.0]])
    labels = torch.tensor([0, -100, 1])
    expected = (-math.log(softmax([2.0, 0.0])[0]) - math.log(softmax([5.0, 1.0])[1])) / 2
    assert LabelCrossEntropy()(logits, labels).item() == pytest.approx(expected, rel=1e-6)


def test_attention_loss_averages_heads_outside_and_ignores_padding():
    """Two real tokens and one pad: only the 2x2 block of real (query, key) pairs counts."""
    mask = torch.tensor([[1, 1, 0]])
    student = torch.tensor([[[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [9.0, 9.0, 9.0]]])
    teacher = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]])
    expected = (0.25 + 0.25 + 1.0 + 1.0) / 4
    loss = AttentionMapLoss([(0, 0)])(Signals(mask, attentions={0: student}),
                                      Signals(mask, attentions={0: teacher}))
    assert loss.item() == pytest.approx(expected)


def test_attention_pairs_are_averaged():
    mask = torch.ones(1, 2)
    zeros, ones = torch.zeros(1, 2, 2), torch.ones(1, 2, 2)
    loss = AttentionMapLoss([(0, 0), (1, 1)])(Signals(mask, attentions={0: zeros, 1: zeros}),
                                              Signals(mask, attentions={0: zeros, 1: ones}))
    assert loss.item() == pytest.approx(0.5)


def test_attention_layer_mixture_starts_on_the_stated_teacher_layer():
    module = AttentionMapLoss([(1, 0)], mix_over=3)
    weights = module.mixing.detach().softmax(-1)[0]
    assert int(weights.argmax()) == 1 and float(weights[1]) > 0.9
    assert module.teacher_indices() == {0, 1, 2}


def test_hidden_mse_and_cosine_by_hand_with_padding():
    mask = torch.tensor([[1, 0]])
    student = torch.tensor([[[1.0, 0.0], [7.0, 7.0]]])
    teacher = torch.tensor([[[0.0, 2.0], [0.0, 0.0]]])
    student_signals, teacher_signals = Signals(mask, hidden={0: student}), Signals(mask, hidden={0: teacher})
    mse = HiddenStateLoss([(0, 0)], 2, 2)(student_signals, teacher_signals)
    assert mse.item() == pytest.approx((1 + 4) / 2)
    cosine = HiddenStateLoss([(0, 0)], 2, 2, metric="cosine")(student_signals, teacher_signals)
    assert cosine.item() == pytest.approx(1.0)  # orthogonal vectors


def test_hidden_loss_learns_a_map_only_when_widths_differ():
    assert HiddenStateLoss([(1, 1)], 8, 8).projections is None
    module = HiddenStateLoss([(1, 1)], 4, 6)
    assert module.projections[0].weight.shape == (6, 4)
    with torch.no_grad():
        module.projections[0].weight.copy_(torch.eye(6, 4))
    student = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    teacher = torch.tensor([[[1.0, 2.0, 3.0, 4.0, 1.0, 1.0]]])
    mask = torch.ones(1, 1)
    loss = module(Signals(mask, hidden={1: student}), Signals(mask, hidden={1: teacher}))
    assert loss.item() == pytest.approx(2 / 6)


def test_objective_is_the_weighted_sum_and_reports_each_term():
    counts = LayerCounts(teacher_layers=2, student_layers=1, teacher_width=4, student_width=4)
    terms = [KLTerm(weight=0.5, temperature=2.0), LogitMSETerm(weight=0.25), KLTerm(weight=1.0)]
    objective = DistillationObjective.from_config(terms, counts)
    assert objective.names == ["kl", "logit-mse", "kl-2"]
    student = torch.tensor([[1.0, 0.0]])
    teacher = LogitTargets(torch.tensor([[0.0, 1.0]]))
    mask = torch.ones(1, 1)
    total, parts = objective(Signals(mask, logits=student), Signals(mask, logits=teacher))
    expected = 0.5 * parts["kl"] + 0.25 * parts["logit-mse"] + 1.0 * parts["kl-2"]
    assert total.item() == pytest.approx(expected.item())
    assert parts["logit-mse"].item() == pytest.approx(1.0)


def test_layer_numbers_count_from_one_and_from_the_end():
    assert attention_index(1, 12, "x") == 0 and attention_index(-1, 12, "x") == 11
    assert hidden_index(0, 6, "x") == 0 and hidden_index(-1, 6, "x") == 6 and hidden_index(3, 6, "x") == 3
    with pytest.raises(ConfigError, match="layer 13 does not exist"):
        attention_index(13, 12, "losses[1].layers[0] (teacher)")
    counts = LayerCounts(teacher_layers=4, student_layers=2, teacher_width=8, student_width=4)
    with pytest.raises(ConfigError, match=r"losses\[0\]\.layers\[0\] \(student\)"):
        DistillationObjective.from_config([AttentionTerm(layers=[[4, 3]])], counts)


def test_rows_compared_follow_the_task_kind():
    mask = torch.tensor([[1, 1, 0]])
    labels = torch.tensor([[-100, 7, -100]])
    logits = torch.arange(12.0).reshape(1, 3, 4)
    assert row_mask("sequence", mask, None) is None
    assert select_rows(logits, row_mask("token", mask, None)).shape == (2, 4)
    masked = select_rows(logits, row_mask("masked", mask, labels))
    assert masked.tolist() == [[4.0, 5.0, 6.0, 7.0]]


def test_gradients_reach_the_student_and_the_projection_never_the_teacher():
    from edgedistill.distill.losses import forward_signals
    from edgedistill.distill.students import fresh_student
    from edgedistill.distill.trainer import DistillationModule, freeze
    from edgedistill.fixtures import tiny_model

    teacher = tiny_model("xlmr", "mlm", texts=["a b c d e f g", "h i j k l m"] * 20, vocab_size=60).model
    freeze(teacher)
    torch.manual_seed(0)
    student = fresh_student(teacher, num_layers=1, hidden_size=16, num_heads=2, intermediate_size=32)
    counts = LayerCounts(2, 1, 32, 16)
    terms = [KLTerm(temperature=2.0), AttentionTerm(layers=[[-1, -1]]), HiddenTerm(layers=[[2, 1]])]
    objective = DistillationObjective.from_config(terms, counts)
    needs = objective.needs()
    module = DistillationModule(student, objective, needs, "masked")
    batch = {"input_ids": torch.tensor([[0, 5, 6, 7, 2]]),
             "attention_mask": torch.ones(1, 5, dtype=torch.long),
             "labels": torch.tensor([[-100, 5, -100, 7, -100]])}
    with torch.no_grad():
        teacher_signals = forward_signals(teacher, batch, row_mode="masked", logits=True,
                                          attentions=needs.teacher_attentions, hidden=needs.teacher_hidden,
                                          as_teacher=True)
    output = module(**batch, teacher=teacher_signals)
    output["loss"].backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert not any(p.requires_grad for p in teacher.parameters())
    projection = objective.terms[2].projections[0].weight
    assert projection.grad is not None and projection.grad.abs().sum() > 0
    student_grads = [p.grad for p in student.parameters() if p.requires_grad]
    assert sum(g is not None and bool(g.abs().sum() > 0) for g in student_grads) > len(student_grads) // 2
    assert set(output["parts"]) == {"kl", "attention", "hidden"}
