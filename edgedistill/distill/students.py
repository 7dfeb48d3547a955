"""Students made from a teacher: kept teacher layers, a fresh shape, or a narrower copy.

Every student has the teacher's architecture family and head class (BertModel for multilingual-e5,
XLMRobertaForMaskedLM for an XLM-R teacher, the same classifier with the same labels for a fine-tuned
teacher) and the teacher's tokenizer, so token ids, attention-map shapes and labels line up.

* ``student_from_teacher_layers``: keep k of the teacher's layers with their weights (every other,
  the last k, or a list), plus embeddings and head.
* ``fresh_student``: any depth, width, head count and FFN size, randomly initialised, with the
  embedding tables random, copied (same width), or projected onto the teacher embedding table's top
  principal directions.
* ``reduced_student``: the teacher with its hidden size cut by truncation or SVD
  (edgedistill.compress does the cutting).

BERT/mBERT, multilingual-e5 (a BertModel), RoBERTa and XLM-R/AfroXLMR share the layout
``<base>.encoder.layer.<i>``, which is all the layer mapping relies on.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING

import torch

from edgedistill.config import ConfigError
from edgedistill.distill.config import StudentConfig

if TYPE_CHECKING:
    from transformers import PreTrainedModel

LAYER_KEY = re.compile(r"(^|\.)encoder\.layer\.(\d+)\.")
SUPPORTED_MODEL_TYPES = ("bert", "roberta", "xlm-roberta")


def build_student(teacher_model: PreTrainedModel, config: StudentConfig) -> PreTrainedModel:
    """The student ``config`` describes, made from ``teacher_model`` (which is left unchanged)."""
    _check_family(teacher_model)
    if config.init == "teacher-layers":
        chosen = choose_teacher_layers(config.layers, config.num_layers,
                                       teacher_model.config.num_hidden_layers)
        return student_from_teacher_layers(teacher_model, chosen)
    if config.init == "fresh":
        return fresh_student(teacher_model, num_layers=config.num_layers, hidden_size=config.hidden_size,
                             num_heads=config.num_heads, intermediate_size=config.intermediate_size,
                             embeddings=config.embeddings)
    if config.init == "reduce-hidden":
        return reduced_student(teacher_model, config.hidden_size, config.method)
    return pretrained_student(teacher_model, config.path)


def _check_family(model) -> None:
    model_type = getattr(model.config, "model_type", None)
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ConfigError(f"teacher architecture {model_type!r} is not supported for students; "
                                 f"supported: {', '.join(SUPPORTED_MODEL_TYPES)} (BERT, e5, RoBERTa, XLM-R)")


# ---------------------------------------------------------------- (a) kept teacher layers

def choose_teacher_layers(layers: str | list[int], num_layers: int | None, teacher_layers: int) -> list[int]:
    """Teacher layer indices (0-based) to keep, from ``every-other``, ``last`` or 1-based numbers.

    ``every-other`` keeps the 2nd, 4th, ... layer so that the top layer, whose output the head was
    trained on, is always kept (12 -> 6 keeps layers 2, 4, 6, 8, 10, 12).
    """
    if layers == "every-other":
        chosen = list(range(teacher_layers - 1, -1, -2))[::-1]
    elif layers == "last":
        if not num_layers or num_layers > teacher_layers:
            raise ConfigError(f"student.num_layers must be between 1 and the teacher's "
                                     f"{teacher_layers} layers, got {num_layers}")
        chosen = list(range(teacher_layers - num_layers, teacher_layers))
    else:
        bad = [n for n in layers if not 1 <= n <= teacher_layers]
        if bad:
            raise ConfigError(f"student.layers names layer {bad[0]}, but the teacher has layers 1 to "
                                     f"{teacher_layers}")
        chosen = [n - 1 for n in layers]
    if num_layers is not None and len(chosen) != num_layers:
        raise ConfigError(f"student.layers = {layers!r} keeps {len(chosen)} layers but "
                                 f"student.num_layers is {num_layers}")
    return chosen


def student_from_teacher_layers(teacher_model: PreTrainedModel, kept: list[int]) -> PreTrainedModel:
    """A copy of the teacher with only the layers ``kept`` (0-based, in order), weights included."""
    config = copy.deepcopy(teacher_model.config)
    config.num_hidden_layers = len(kept)
    student = _same_class(teacher_model, config)
    position = {teacher_index: student_index for student_index, teacher_index in enumerate(kept)}
    state = {}
    for key, value in teacher_model.state_dict().items():
        match = LAYER_KEY.search(key)
        if match is None:
            state[key] = value.clone()
        elif int(match.group(2)) in position:
            new_key = key[:match.start(2)] + str(position[int(match.group(2))]) + key[match.end(2):]
            state[new_key] = value.clone()
    student.load_state_dict(state, strict=True)
    student.tie_weights()
    return student


def _same_class(teacher_model, config):
    """A new, randomly initialised model of the teacher's class (keeping a missing pooler missing)."""
    config._attn_implementation = teacher_model.config._attn_implementation  # eager when maps are matched
    kwargs = {}
    if hasattr(teacher_model, "pooler"):  # a bare encoder such as BertModel
        kwargs["add_pooling_layer"] = teacher_model.pooler is not None
    return type(teacher_model)(config, **kwargs)


# ---------------------------------------------------------------- (b) a fresh shape

def fresh_student(teacher_model: PreTrainedModel, *, num_layers: int | None = None,
                  hidden_size: int | None = None, num_heads: int | None = None,
                  intermediate_size: int | None = None, embeddings: str = "random") -> PreTrainedModel:
    """A randomly initialised model of the teacher's family and head with a new shape."""
    teacher_config = teacher_model.config
    hidden_size = hidden_size or teacher_config.hidden_size
    num_heads = num_heads or teacher_config.num_attention_heads
    if hidden_size % num_heads:
        raise ConfigError(f"student.hidden_size {hidden_size} is not a multiple of the "
                                 f"{num_heads} heads; set student.num_heads")
    values = teacher_config.to_dict()
    values.update(num_hidden_layers=num_layers or teacher_config.num_hidden_layers, hidden_size=hidden_size,
                  num_attention_heads=num_heads,
                  intermediate_size=intermediate_size or teacher_config.intermediate_size)
    config = type(teacher_config).from_dict(values)
    student = _same_class(teacher_model, config)
    if embeddings == "copy":
        copy_embeddings(teacher_model, student)
    elif embeddings == "project":
        project_embeddings(teacher_model, student)
    return student


EMBEDDING_TABLES = ("word_embeddings", "position_embeddings", "token_type_embeddings")


def copy_embeddings(teacher_model: PreTrainedModel, student: PreTrainedModel) -> None:
    """Copy the embedding tables and their LayerNorm (needs the same width), and an MLM head if any."""
    teacher_width, student_width = teacher_model.config.hidden_size, student.config.hidden_size
    if teacher_width != student_width:
        raise ConfigError(f"student.embeddings = 'copy' needs the teacher's width ({teacher_width}); "
                                 f"the student has {student_width}: use 'project'")
    source, target = teacher_model.base_model.embeddings, student.base_model.embeddings
    with torch.no_grad():
        for name in (*EMBEDDING_TABLES, "LayerNorm"):
            target_module = getattr(target, name)
            source_module = getattr(source, name)
            for param_name, param in target_module.named_parameters():
                param.copy_(getattr(source_module, param_name))
    _copy_mlm_head(teacher_model, student)
    student.tie_weights()


def _copy_mlm_head(teacher_model, student) -> None:
    for attribute in ("lm_head", "cls"):  # RoBERTa/XLM-R and BERT masked-LM heads
        if hasattr(teacher_model, attribute) and hasattr(student, attribute):
            source = dict(getattr(teacher_model, attribute).named_parameters())
            with torch.no_grad():
                for name, param in getattr(student, attribute).named_parameters():
                    if name in source and source[name].shape == param.shape:
                        param.copy_(source[name])


def embedding_projection(word_embeddings: torch.Tensor, width: int) -> torch.Tensor:
    """[H_teacher, width]: the top ``width`` principal directions (right singular vectors) of the table."""
    table = word_embeddings.detach().double()
    gram = table.T @ table
    eigenvalues, eigenvectors = torch.linalg.eigh(gram)
    order = eigenvalues.argsort(descending=True)[:width]
    return eigenvectors[:, order].to(word_embeddings.dtype)


def project_embeddings(teacher_model: PreTrainedModel, student: PreTrainedModel) -> None:
    """Fill the student's embedding tables with the teacher's, projected to the student's width.

    One projection (the word table's top principal directions) serves the word, position and
    token-type tables, so their sums stay in one space; the LayerNorm after them starts fresh.
    """
    teacher_width, student_width = teacher_model.config.hidden_size, student.config.hidden_size
    if student_width > teacher_width:
        raise ConfigError(f"student.embeddings = 'project' needs a student no wider than the teacher "
                                 f"({teacher_width}); the student has {student_width}")
    source, target = teacher_model.base_model.embeddings, student.base_model.embeddings
    projection = embedding_projection(source.word_embeddings.weight, student_width)
    with torch.no_grad():
        for name in EMBEDDING_TABLES:
            if hasattr(source, name) and hasattr(target, name):
                table = getattr(source, name).weight
                getattr(target, name).weight.copy_(table @ projection)
    student.tie_weights()


# ---------------------------------------------------------------- (c) a narrower copy, and as-is

def reduced_student(teacher_model: PreTrainedModel, hidden_size: int, method: str) -> PreTrainedModel:
    """The teacher with its hidden size cut to ``hidden_size`` by ``method`` (svd or truncate).

    The cutting itself is edgedistill.compress's hidden-size reduction, applied to a copy.
    """
    from edgedistill.compress.hidden import HiddenReduceConfig, HiddenSizeReducer

    student = copy.deepcopy(teacher_model)
    for param in student.parameters():
        param.requires_grad_(True)  # the copy of a frozen teacher trains
    return HiddenSizeReducer(HiddenReduceConfig(hidden_size=hidden_size, method=method)).reduce(student).model


def pretrained_student(teacher_model: PreTrainedModel, path: str) -> PreTrainedModel:
    """The model at ``path``, loaded with the teacher's head class (and labels, for a classifier).

    A bare encoder (e.g. a task-agnostic student) gets a new classification head this way.
    """
    from edgedistill.teachers import load_teacher

    head = head_of(teacher_model)
    kwargs = {"attn_implementation": teacher_model.config._attn_implementation}
    if head in ("sequence-classification", "token-classification"):
        config = teacher_model.config
        kwargs.update(num_labels=config.num_labels, id2label=config.id2label, label2id=config.label2id,
                      ignore_mismatched_sizes=True)
    student = load_teacher(path, head=head, **kwargs).model
    _check_family(student)
    student.train()
    return student


HEAD_SUFFIXES = {"ForMaskedLM": "mlm", "ForSequenceClassification": "sequence-classification",
                 "ForTokenClassification": "token-classification"}


def head_of(model) -> str:
    """``base``, ``mlm``, ``sequence-classification`` or ``token-classification`` from the class name."""
    name = type(model).__name__
    return next((head for suffix, head in HEAD_SUFFIXES.items() if name.endswith(suffix)), "base")
