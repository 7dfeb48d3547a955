"""ONNX export on tiny real-text fixtures: every family and head, both backends, external data,
fusions, and typed validation errors that name the output and the size of the difference."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("optimum.exporters.onnx")

from edgedistill.export.errors import MissingOutput, OutputMismatch, ShapeMismatch  # noqa: E402
from edgedistill.export.onnx_export import (  # noqa: E402
    architecture_config,
    export_onnx,
    fused_operators,
    uses_external_data,
)
from edgedistill.export.validate import compare_outputs, onnx_session, run_session  # noqa: E402


@pytest.fixture(scope="module")
def tiny(fixture_texts):
    from edgedistill.fixtures import tiny_model

    cache = {}

    def build(family: str, head: str):
        if (family, head) not in cache:
            cache[family, head] = tiny_model(family, head, texts=fixture_texts)
        return cache[family, head]

    return build


@pytest.mark.parametrize("family,head,output,inputs", [
    ("xlmr", "sequence-classification", "logits", ["input_ids", "attention_mask"]),
    ("bert", "token-classification", "logits", ["input_ids", "attention_mask", "token_type_ids"]),
    ("bpe", "base", "last_hidden_state", ["input_ids", "attention_mask"]),
])
def test_optimum_export_matches_pytorch_with_dynamic_axes(tiny, tmp_path, family, head, output, inputs):
    model = tiny(family, head)
    result = export_onnx(model.model, model.tokenizer, tmp_path / "model.onnx")
    assert result.backend == "optimum"
    assert result.inputs == inputs and result.outputs == [output]
    assert result.files == ["model.onnx"]
    assert result.validation.max_abs_diff[output] < 1e-4
    # validated on a padded batch of mixed lengths and on one sentence alone: both axes are dynamic
    (batch, seq), (one, seq_one) = result.validation.batch_shapes
    assert batch > 1 and one == 1 and seq != seq_one
    session = onnx_session(result.path)
    assert [i.name for i in session.get_inputs()] == inputs
    assert all(isinstance(dim, str) for i in session.get_inputs() for dim in i.shape)


def test_torch_backend_with_external_data(tiny, tmp_path):
    model = tiny("xlmr", "sequence-classification")
    result = export_onnx(model.model, model.tokenizer, tmp_path / "model.onnx", backend="torch",
                         external_data=True)
    assert result.backend == "torch.onnx"
    assert result.files == ["model.onnx", "model.onnx.data"]
    assert uses_external_data(result.path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "model.onnx.data"]
    assert result.validation.max_abs_diff["logits"] < 1e-4


def test_unregistered_architecture_goes_through_torch_onnx():
    config = architecture_config("some-new-encoder")
    assert not config.optimum
    assert architecture_config("xlm-roberta").inputs == ("input_ids", "attention_mask")


def test_transformer_fusions_are_applied_and_validated(tiny, tmp_path):
    model = tiny("bert", "sequence-classification")
    result = export_onnx(model.model, model.tokenizer, tmp_path / "model.onnx", optimize=True)
    assert result.optimized
    fused = fused_operators(result.path)
    assert fused.get("SkipLayerNormalization") or fused.get("Attention"), fused
    assert result.validation.max_abs_diff["logits"] < 1e-3


def test_broken_export_is_caught_with_output_name_and_size(tiny, tmp_path):
    import onnx
    from onnx import numpy_helper

    from edgedistill.export.encoding import hf_encoder
    from edgedistill.export.torch_model import torch_reference
    from edgedistill.export.validate import encode_batches, validate_onnx_file

    model = tiny("xlmr", "sequence-classification")
    result = export_onnx(model.model, model.tokenizer, tmp_path / "model.onnx")
    graph = onnx.load(str(result.path))
    for init in graph.graph.initializer:
        if "classifier" in init.name and "bias" in init.name:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + 0.5, init.name))
    onnx.save(graph, str(result.path))
    encode = hf_encoder(model.tokenizer, result.inputs, max_length=64)
    batches = encode_batches(encode, ["Ina son ka", "Habari"])
    with pytest.raises(OutputMismatch) as caught:
        validate_onnx_file(torch_reference(model.model, "sequence-classification"), result.path, batches)
    assert caught.value.output == "logits"
    assert caught.value.max_abs_diff == pytest.approx(0.5, abs=1e-3)
    assert "'logits'" in str(caught.value) and "0.5" in str(caught.value)


def test_compare_outputs_typed_errors():
    reference = {"logits": np.zeros((2, 3), np.float32)}
    with pytest.raises(MissingOutput, match="'logits'"):
        compare_outputs(reference, {"other": np.zeros((2, 3))}, {}, artifact="m.onnx")
    with pytest.raises(ShapeMismatch, match=r"\(2, 4\)"):
        compare_outputs(reference, {"logits": np.zeros((2, 4))}, {}, artifact="m.onnx")
    with pytest.raises(OutputMismatch, match="nan|inf"):
        compare_outputs(reference, {"logits": np.full((2, 3), np.nan)}, {}, artifact="m.onnx")
    diffs = compare_outputs(reference, {"logits": np.full((2, 3), 0.01)}, {"logits": 0.1}, artifact="m.onnx")
    assert diffs == {"logits": pytest.approx(0.01)}


def test_session_runs_on_real_text_batches(tiny, tmp_path):
    from edgedistill.export.encoding import hf_encoder

    model = tiny("xlmr", "sequence-classification")
    result = export_onnx(model.model, model.tokenizer, tmp_path / "model.onnx")
    feeds = hf_encoder(model.tokenizer, result.inputs, max_length=32)(["Ọjọ́ ìbí mi 🎉", "a", "b c d"])
    assert run_session(onnx_session(result.path), feeds)["logits"].shape == (3, 3)
