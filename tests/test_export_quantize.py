"""INT8 on tiny fixtures: schemes round-trip through JSON, presets, dynamic and static QDQ, parts kept
in FP32, the sensitivity ranking, and the accuracy gate (which must reject a broken quantization)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime.quantization")

from edgedistill.export.quantize import (  # noqa: E402
    DynamicScheme,
    SchemeError,
    StaticScheme,
    auto_preset,
    classifier_nodes,
    embedding_nodes,
    prepared_model,
    quantizable_matmuls,
    quantize_onnx,
    rank_sensitive_matmuls,
    scheme_from_dict,
    scheme_from_json,
)


@pytest.fixture(scope="module")
def fp32(tmp_path_factory, fixture_texts):
    """A tiny XLM-R sentiment classifier exported to ONNX, with calibration and dev batches."""
    from edgedistill.export.encoding import batches_of, hf_encoder
    from edgedistill.export.onnx_export import export_onnx
    from edgedistill.fixtures import tiny_model

    tiny = tiny_model("xlmr", "sequence-classification", texts=fixture_texts)
    result = export_onnx(tiny.model, tiny.tokenizer, tmp_path_factory.mktemp("fp32") / "model.onnx")
    encode = hf_encoder(tiny.tokenizer, result.inputs, max_length=64)
    return {"path": result.path, "encode": encode, "texts": fixture_texts[:120],
            "calibration": batches_of(encode, fixture_texts[120:184], 8)}


@pytest.mark.parametrize("scheme", [
    DynamicScheme(),
    DynamicScheme(preset="avx2", per_channel=True, keep_fp32=["classifier"], keep_sensitive_matmuls=2),
    StaticScheme(preset="arm64", calibration_method="percentile", exclude_nodes=["x"]),
])
def test_schemes_round_trip_through_json(scheme):
    assert scheme_from_json(scheme.to_json()) == scheme
    assert scheme_from_dict(scheme.to_dict()) == scheme
    assert scheme.to_dict()["reduce_range"] == (scheme.preset in ("avx2", "avx512"))


def test_bad_schemes_are_one_sentence_errors():
    with pytest.raises(SchemeError, match="preset"):
        DynamicScheme(preset="pentium")
    with pytest.raises(SchemeError, match="groups"):
        DynamicScheme(keep_fp32=["attention"])
    with pytest.raises(SchemeError, match="kind"):
        scheme_from_dict({"kind": "fp4"})
    with pytest.raises(SchemeError, match="no settings"):
        scheme_from_dict({"kind": "dynamic", "bits": 4})


def test_auto_preset_follows_cpu_flags():
    assert auto_preset(["avx2", "avx512f", "avx512bw", "avx512_vnni"], "x86_64") == "avx512_vnni"
    assert auto_preset(["avx2", "avx512f", "avx512bw"], "x86_64") == "avx512"
    assert auto_preset(["avx2"], "x86_64") == "avx2"
    assert auto_preset(["asimd", "asimddp"], "aarch64") == "arm64"


def test_graph_parts_are_found(fp32):
    model = prepared_model(fp32["path"])
    assert any("word_embeddings" in name for name in embedding_nodes(model))
    assert {n for n in classifier_nodes(model)} == {"/classifier/dense/Gemm", "/classifier/out_proj/Gemm"}
    assert len(quantizable_matmuls(model)) == 12  # 2 layers x (q, k, v, attention out, FFN in, FFN out)
    assert all(node.name for node in model.graph.node) and not model.graph.value_info


def _logits(path, feeds):
    from edgedistill.export.validate import onnx_session, run_session

    return run_session(onnx_session(path), feeds)["logits"]


@pytest.mark.parametrize("scheme", [DynamicScheme(preset="avx512_vnni"),
                                    DynamicScheme(preset="avx2", per_channel=True),
                                    StaticScheme(preset="avx512_vnni"), StaticScheme(preset="arm64")])
def test_quantized_models_are_smaller_and_close(fp32, tmp_path, scheme):
    result = quantize_onnx(fp32["path"], tmp_path / "int8.onnx", scheme, calibration=fp32["calibration"])
    assert result.size_bytes < 0.75 * fp32["path"].stat().st_size
    feeds = fp32["calibration"][0]
    assert np.abs(_logits(result.path, feeds) - _logits(fp32["path"], feeds)).max() < 0.05
    assert result.scheme == scheme.to_dict()


@pytest.mark.parametrize("method", ["percentile", "entropy"])
def test_histogram_calibration_takes_batches_of_different_lengths(fp32, tmp_path, method):
    from edgedistill.export.encoding import batches_of

    texts = [" ".join(text.split()[: 2 + 3 * i]) for i, text in enumerate(fp32["texts"][:16])]
    calibration = batches_of(fp32["encode"], texts, 4)  # real text, each batch padded to its own length
    assert len({batch["input_ids"].shape[1] for batch in calibration}) > 1
    scheme = StaticScheme(calibration_method=method)
    result = quantize_onnx(fp32["path"], tmp_path / "int8.onnx", scheme, calibration=calibration)
    feeds = fp32["calibration"][0]
    assert np.abs(_logits(result.path, feeds) - _logits(fp32["path"], feeds)).max() < 0.05


def test_parts_kept_in_fp32(fp32, tmp_path):
    import onnx

    scheme = DynamicScheme(keep_fp32=["embeddings", "classifier"], keep_sensitive_matmuls=3)
    result = quantize_onnx(fp32["path"], tmp_path / "int8.onnx", scheme, calibration=fp32["calibration"])
    nodes = {n.name: n.op_type for n in onnx.load(str(result.path)).graph.node}
    # ONNX Runtime turns a Gemm into MatMul + Add; kept in FP32 it stays a float MatMul
    assert nodes.get("/classifier/out_proj/Gemm", nodes.get("/classifier/out_proj/Gemm_MatMul")) in ("Gemm",
                                                                                                     "MatMul")
    assert nodes["/roberta/embeddings/word_embeddings/Gather"] == "Gather"
    kept_matmuls = [n for n in result.fp32_nodes if n.endswith("/MatMul")]
    assert len(kept_matmuls) == 3 and all(nodes[n] == "MatMul" for n in kept_matmuls)
    assert kept_matmuls == [name for name, _ in result.sensitivity[:3]]
    # embeddings in FP32 cost most of the size saving
    assert result.size_bytes > quantize_onnx(fp32["path"], tmp_path / "all.onnx", DynamicScheme()).size_bytes


def test_sensitivity_ranking_finds_a_planted_outlier(fp32):
    from onnx import numpy_helper

    model = prepared_model(fp32["path"])
    target = quantizable_matmuls(model)[4]
    weights = {init.name: init for init in model.graph.initializer}
    w = numpy_helper.to_array(weights[target[2]]).copy()
    w[0, 0] = 200 * np.abs(w).max()  # one outlier ruins per-tensor scales for the whole matrix
    weights[target[2]].CopyFrom(numpy_helper.from_array(w, target[2]))
    ranking = rank_sensitive_matmuls(model, fp32["calibration"], per_channel=False, reduce_range=False)
    assert ranking[0][0] == target[0]


def test_static_needs_calibration(fp32, tmp_path):
    with pytest.raises(SchemeError, match="calibration"):
        quantize_onnx(fp32["path"], tmp_path / "int8.onnx", StaticScheme())


# ------------------------------------------------------------------ the accuracy gate


def _agreement(fp32):
    from edgedistill.export.evaluate import agreement_metric

    return agreement_metric(fp32["path"], fp32["encode"], fp32["texts"], "sequence-classification")


def _broken_quantizer(fp32, broken_schemes):
    """Quantizes properly, except for the listed schemes, whose classifier outputs come out rotated by
    one label: every decision differs from FP32's, whatever the tiny random model predicts."""
    import onnx
    from onnx import numpy_helper

    def quantize(scheme, dest):
        result = quantize_onnx(fp32["path"], dest, scheme, calibration=fp32["calibration"])
        if scheme in broken_schemes:
            model = onnx.load(str(result.path))
            for init in model.graph.initializer:
                values = numpy_helper.to_array(init)
                if "out_proj" in init.name and 3 in values.shape:
                    axis = values.shape.index(3)
                    init.CopyFrom(numpy_helper.from_array(np.roll(values, 1, axis=axis), init.name))
            onnx.save(model, str(result.path))
        return result

    return quantize


def test_gate_rejects_a_broken_quantization_and_reports_what_it_tried(fp32, tmp_path):
    from edgedistill.export.gate import AccuracyGateFailed, escalation_ladder, run_accuracy_gate

    ladder = escalation_ladder(DynamicScheme(), sensitive_matmuls=2)
    assert [s.describe() for s in ladder] == [
        "dynamic, avx512_vnni, per-tensor", "dynamic, avx512_vnni, per-channel",
        "dynamic, avx512_vnni, per-channel, FP32 classifier",
        "dynamic, avx512_vnni, per-channel, FP32 classifier, FP32 2 sensitive MatMuls",
        "dynamic, avx512_vnni, per-channel, FP32 classifier+embeddings, FP32 2 sensitive MatMuls"]
    with pytest.raises(AccuracyGateFailed) as caught:
        run_accuracy_gate(fp32["path"], ladder, _agreement(fp32), tmp_path,
                          quantize=_broken_quantizer(fp32, ladder), max_drop=1.0)
    report = caught.value.report
    assert report.fp32_metric == pytest.approx(100.0)
    assert len(report.attempts) == len(ladder) and report.chosen is None
    assert all(a.metric == 0.0 and a.drop > 1.0 and not a.passed for a in report.attempts)
    assert "tried:" in str(caught.value) and "per-channel" in str(caught.value)
    assert "reject" in report.summary()


def test_gate_moves_on_to_the_next_scheme(fp32, tmp_path):
    from edgedistill.export.gate import escalation_ladder, run_accuracy_gate

    ladder = escalation_ladder(DynamicScheme())
    model, report = run_accuracy_gate(fp32["path"], ladder, _agreement(fp32), tmp_path,
                                      quantize=_broken_quantizer(fp32, ladder[:1]), max_drop=1.0)
    assert report.chosen == 1 and report.attempts[1].passed and not report.attempts[0].passed
    assert model.scheme["per_channel"] is True
    assert report.as_dict()["attempts"][0]["scheme"]["kind"] == "dynamic"


def _decisions_metric(decisions_by_name: dict[str, list[int]], gold: list[int]):
    """An accuracy callback with the resampling protocol of export.evaluate.classification_metric,
    answering fixed decisions per model file name (fp32: the FP32 model)."""
    def decisions(path):
        return np.array(decisions_by_name.get(Path(path).parent.name, decisions_by_name["fp32"]))

    def score(predicted, indices=None):
        chosen = range(len(gold)) if indices is None else indices
        return 100.0 * float(np.mean([predicted[i] == gold[i] for i in chosen]))

    def evaluate(path):
        return score(decisions(path))

    evaluate.metric_name, evaluate.decisions, evaluate.score = "accuracy", decisions, score
    return evaluate


def _file_quantizer(fp32):
    from edgedistill.export.quantize import QuantizedModel

    def quantize(scheme, dest):
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(fp32["path"].read_bytes())
        return QuantizedModel(dest, [dest.name], scheme.to_dict(), [], dest.stat().st_size)

    return quantize


@pytest.mark.parametrize("strict", [False, True])
def test_gate_tells_a_real_drop_from_the_noise_of_a_small_dev_set(fp32, tmp_path, strict):
    from edgedistill.export.gate import AccuracyGateFailed, run_accuracy_gate

    gold = [i % 2 for i in range(20)]
    one_flipped = [1 - g if i == 0 else g for i, g in enumerate(gold)]  # 95%: 5 points, one example
    half_flipped = [1 - g if i % 2 else g for i, g in enumerate(gold)]  # 50%: a real loss
    evaluate = _decisions_metric({"fp32": gold, "attempt-1": half_flipped, "attempt-2": one_flipped}, gold)
    ladder = [DynamicScheme(), DynamicScheme(per_channel=True)]
    if strict:
        with pytest.raises(AccuracyGateFailed) as caught:
            run_accuracy_gate(fp32["path"], ladder, evaluate, tmp_path, quantize=_file_quantizer(fp32),
                              max_drop=1.0, strict=True)
        report = caught.value.report
        assert [a.passed for a in report.attempts] == [False, False]
    else:
        _, report = run_accuracy_gate(fp32["path"], ladder, evaluate, tmp_path,
                                      quantize=_file_quantizer(fp32), max_drop=1.0)
        assert report.chosen == 1 and report.attempts[1].within_noise
        assert report.attempts[1].drop == pytest.approx(5.0) and report.attempts[1].drop_interval[0] <= 1.0
        assert "PASS (within the noise of the dev set)" in report.summary()
    assert report.dev_examples == 20
    broken = report.attempts[0]
    assert broken.drop == pytest.approx(50.0) and broken.drop_interval[0] > 1.0 and not broken.within_noise


def test_classification_metric_scores_resamples_of_its_own_decisions(fp32):
    from edgedistill.export.evaluate import classification_metric

    gold = ["negative", "neutral", "positive"] * 10
    labels = ["negative", "neutral", "positive"]
    evaluate = classification_metric(fp32["encode"], fp32["texts"][:30], gold, labels, metric="accuracy")
    decisions = evaluate.decisions(fp32["path"])
    assert evaluate(fp32["path"]) == evaluate.score(decisions)
    assert evaluate.score(decisions, [0, 0, 0]) == (100.0 if decisions[0] == 0 else 0.0)


def test_gate_records_a_scheme_that_cannot_be_applied(fp32, tmp_path):
    from edgedistill.export.gate import AccuracyGateFailed, run_accuracy_gate

    with pytest.raises(AccuracyGateFailed) as caught:  # static without calibration fails to quantize
        run_accuracy_gate(fp32["path"], [StaticScheme()], _agreement(fp32), tmp_path)
    assert "calibration" in caught.value.report.attempts[0].error


def test_neural_compressor_path_exports_a_small_qdq_model(fp32, tmp_path, fixture_texts):
    pytest.importorskip("neural_compressor")
    import onnx

    from edgedistill.export.encoding import batches_of, hf_encoder
    from edgedistill.export.neural_compressor import quantize_with_neural_compressor
    from edgedistill.export.quantize import NeuralCompressorScheme
    from edgedistill.fixtures import tiny_model

    with pytest.raises(SchemeError, match="every Linear"):
        NeuralCompressorScheme(keep_fp32=["classifier"])
    scheme = NeuralCompressorScheme(per_channel=True, calibration_size=32)
    assert scheme_from_json(scheme.to_json()) == scheme
    tiny = tiny_model("xlmr", "sequence-classification", texts=fixture_texts)  # the model behind fp32
    calibration = batches_of(hf_encoder(tiny.tokenizer, ["input_ids", "attention_mask"], max_length=64),
                             fixture_texts[120:152], 8)
    result = quantize_with_neural_compressor(tiny.model, "sequence-classification",
                                             ["input_ids", "attention_mask"], calibration,
                                             tmp_path / "inc.onnx", scheme)
    graph = onnx.load(str(result.path)).graph
    assert not any(n.op_type == "QuantizeLinear" and n.input[0].endswith(".weight") for n in graph.node)
    assert sum(i.data_type == onnx.TensorProto.INT8 for i in graph.initializer) >= 12  # folded weights
    assert result.size_bytes < fp32["path"].stat().st_size
    feeds = calibration[0]
    assert np.abs(_logits(result.path, feeds) - _logits(fp32["path"], feeds)).max() < 0.05


def test_the_gate_scores_a_dynamic_int8_model_one_text_at_a_time(fp32, tmp_path):
    from edgedistill.export.evaluate import predict, quantizes_activations_per_batch

    int8 = quantize_onnx(fp32["path"], tmp_path / "int8.onnx", DynamicScheme()).path
    assert quantizes_activations_per_batch(int8) and not quantizes_activations_per_batch(fp32["path"])
    texts = fp32["texts"][:12]
    alone = [predict(int8, fp32["encode"], [text])[0] for text in texts]
    together = predict(int8, fp32["encode"], texts, batch_size=12)
    assert all(np.array_equal(a, b) for a, b in zip(alone, together, strict=True))
