"""Students from each teacher family keep the right teacher weights, or take a fresh shape."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edgedistill.config import ConfigError  # noqa: E402
from edgedistill.distill.config import StudentConfig  # noqa: E402
from edgedistill.distill.students import (  # noqa: E402
    build_student,
    choose_teacher_layers,
    embedding_projection,
    fresh_student,
    head_of,
)
from edgedistill.fixtures import FAMILIES, tiny_model, tiny_tokenizer  # noqa: E402

TEXTS = ["Ina son wannan littafi sosai", "Habari za asubuhi rafiki yangu", "Mo fẹ́ràn ìwé yìí gan-an"] * 30


@pytest.fixture(scope="module")
def tokenizers():
    return {family: tiny_tokenizer(family, TEXTS, vocab_size=120) for family in FAMILIES}


def teacher_of(tokenizers, family: str, head: str = "mlm", layers: int = 4):
    return tiny_model(family, head, tokenizer=tokenizers[family], num_layers=layers, hidden_size=32,
                      num_heads=4, intermediate_size=64).model


def layer_state(model, index: int) -> dict:
    return {k: v for k, v in model.base_model.encoder.layer[index].state_dict().items()}


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("family", FAMILIES)
def test_every_other_layer_keeps_those_teacher_weights(tokenizers, family):
    teacher = teacher_of(tokenizers, family)
    student = build_student(teacher, StudentConfig(init="teacher-layers", layers="every-other"))
    assert type(student) is type(teacher) and student.config.num_hidden_layers == 2
    for student_index, teacher_index in enumerate([1, 3]):
        assert_same_state(layer_state(student, student_index), layer_state(teacher, teacher_index))
    assert_same_state(student.base_model.embeddings.state_dict(), teacher.base_model.embeddings.state_dict())
    student_head = {k: v for k, v in student.state_dict().items() if ".encoder." not in f".{k}"}
    teacher_head = {k: v for k, v in teacher.state_dict().items() if ".encoder." not in f".{k}"}
    assert_same_state(student_head, teacher_head)


def test_last_k_and_explicit_lists(tokenizers):
    teacher = teacher_of(tokenizers, "bert")
    last = build_student(teacher, StudentConfig(init="teacher-layers", layers="last", num_layers=1))
    assert_same_state(layer_state(last, 0), layer_state(teacher, 3))
    chosen = build_student(teacher, StudentConfig(init="teacher-layers", layers=[1, 4]))
    assert_same_state(layer_state(chosen, 0), layer_state(teacher, 0))
    assert_same_state(layer_state(chosen, 1), layer_state(teacher, 3))
    assert choose_teacher_layers("every-other", None, 12) == [1, 3, 5, 7, 9, 11]
    with pytest.raises(ConfigError, match="the teacher has layers 1 to 4"):
        choose_teacher_layers([2, 5], None, 4)
    with pytest.raises(ConfigError, match="keeps 2 layers but student.num_layers is 3"):
        choose_teacher_layers("every-other", 3, 4)


def test_keeping_every_layer_reproduces_the_teacher(tokenizers):
    teacher = teacher_of(tokenizers, "xlmr", head="sequence-classification", layers=2)
    student = build_student(teacher, StudentConfig(init="teacher-layers", layers=[1, 2])).eval()
    batch = tokenizers["xlmr"](TEXTS[:3], return_tensors="pt", padding=True)
    with torch.no_grad():
        assert torch.allclose(student(**batch).logits, teacher(**batch).logits, atol=1e-6)
    assert student.config.id2label == teacher.config.id2label


def test_e5_like_bare_encoder_without_pooler_stays_without_one(tokenizers):
    from transformers import BertModel

    config = teacher_of(tokenizers, "bert", head="base").config
    teacher = BertModel(config, add_pooling_layer=False)
    student = build_student(teacher, StudentConfig(init="teacher-layers", layers="last", num_layers=2))
    assert isinstance(student, BertModel) and student.pooler is None
    assert head_of(student) == "base"


@pytest.mark.parametrize("family", FAMILIES)
def test_fresh_students_take_any_shape(tokenizers, family):
    teacher = teacher_of(tokenizers, family)
    student = fresh_student(teacher, num_layers=1, hidden_size=16, num_heads=2, intermediate_size=24)
    c = student.config
    assert (c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.intermediate_size) == (1, 16, 2, 24)
    assert c.vocab_size == teacher.config.vocab_size and c.model_type == teacher.config.model_type
    assert type(student) is type(teacher)
    assert student.get_output_embeddings().weight is student.get_input_embeddings().weight


def test_projected_embeddings_are_the_teacher_table_on_its_top_directions(tokenizers):
    teacher = teacher_of(tokenizers, "xlmr")
    student = fresh_student(teacher, num_layers=1, hidden_size=8, num_heads=2, embeddings="project")
    table = teacher.get_input_embeddings().weight
    projection = embedding_projection(table, 8)
    assert torch.allclose(student.get_input_embeddings().weight, table @ projection, atol=1e-5)
    assert torch.allclose(projection.T @ projection, torch.eye(8), atol=1e-4)  # orthonormal directions
    kept = ((table @ projection) @ projection.T).pow(2).sum() / table.pow(2).sum()
    random_directions = torch.linalg.qr(torch.randn(32, 8))[0]
    random_kept = ((table @ random_directions) @ random_directions.T).pow(2).sum() / table.pow(2).sum()
    assert kept > random_kept  # the top principal directions keep more of the table than random ones


def test_a_pretrained_bare_encoder_becomes_a_classifier_with_the_teachers_labels(tokenizers, tmp_path):
    encoder = teacher_of(tokenizers, "bert", head="base", layers=1)
    encoder.save_pretrained(tmp_path / "encoder")
    tokenizers["bert"].save_pretrained(tmp_path / "encoder")
    teacher = teacher_of(tokenizers, "bert", head="sequence-classification", layers=2)
    student = build_student(teacher, StudentConfig(init="pretrained", path=str(tmp_path / "encoder")))
    assert type(student) is type(teacher) and student.config.id2label == teacher.config.id2label
    assert_same_state(layer_state(student, 0), layer_state(encoder, 0))


def test_copied_embeddings_need_the_same_width(tokenizers):
    teacher = teacher_of(tokenizers, "bert")
    same = fresh_student(teacher, num_layers=1, embeddings="copy")
    assert torch.equal(same.get_input_embeddings().weight, teacher.get_input_embeddings().weight)
    assert torch.equal(same.base_model.embeddings.position_embeddings.weight,
                       teacher.base_model.embeddings.position_embeddings.weight)
    with pytest.raises(ConfigError, match="use 'project'"):
        fresh_student(teacher, num_layers=1, hidden_size=16, num_heads=2, embeddings="copy")
    with pytest.raises(ConfigError, match="not a multiple"):
        fresh_student(teacher, hidden_size=18)
