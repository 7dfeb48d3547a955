"""The bundle end to end on a tiny fine-tuned-looking model: `edgedistill export` (cpu and android),
`edgedistill quantize` behind the gate, the runtime Predictor on the result, atomic writing, and
one-sentence errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("onnxruntime_extensions")

from edgedistill.cli import main  # noqa: E402
from edgedistill.runtime.bundle import load_manifest  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, fixture_texts):
    """A tiny XLM-R sentiment model saved as fine-tuning leaves it (edgedistill-task.json included)."""
    from edgedistill.fixtures import tiny_model

    folder = tmp_path_factory.mktemp("model") / "afrisenti-hau"
    tiny_model("xlmr", "sequence-classification", texts=fixture_texts).save(folder)
    task = {"kind": "sequence-classification", "labels": ["negative", "neutral", "positive"],
            "text_prefix": "query: ", "max_length": 64, "data": {"dataset": "afrisenti", "language": "hau"}}
    (folder / "edgedistill-task.json").write_text(json.dumps(task))
    return folder


@pytest.fixture(scope="module")
def android_bundle(model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundles") / "hau-fp32"
    result = CliRunner().invoke(main, ["export", str(model_dir), "--out", str(out), "--target", "android",
                                       "--variant", "ort"])
    assert result.exit_code == 0, result.output
    return out


def test_export_writes_a_checked_android_bundle(android_bundle):
    from edgedistill.runtime import Predictor

    manifest = load_manifest(android_bundle)  # every file matches its hash
    assert manifest.task == "sequence-classification"
    assert manifest.labels == ["negative", "neutral", "positive"]
    assert manifest.inputs == ["input_ids", "attention_mask"] and manifest.outputs == ["logits"]
    assert manifest.input_prefix == "query: " and manifest.max_length == 64 and manifest.pad_token_id == 1
    assert manifest.variants == {"ort": "model.ort", "string_input_ort": "model.strings.ort"}
    assert set(manifest.files) == {"model.onnx", "tokenizer.json", "model.ort", "model.strings.ort",
                                   "config.json", "tokenizer_config.json", "special_tokens_map.json"}
    assert manifest.architecture["layers"] == 2 and manifest.parameters["total"] > 0
    assert manifest.metrics["onnx_validation"]["max_abs_diff"]["logits"] < 1e-4
    assert manifest.metrics["tokenizer_graph"]["id_agreement"] >= 0.99
    assert manifest.metrics["ort_validation"]["max_abs_diff"]["logits"] < 1e-3  # model.ort vs model.onnx
    assert manifest.metrics["string_input_ort_validation"]["max_abs_diff"]["logits"] < 1e-3
    assert {"onnxruntime", "torch", "onnx"} <= set(manifest.packages)
    assert manifest.source["task"]["data"] == {"dataset": "afrisenti", "language": "hau"}
    assert manifest.quantization is None
    assert [c.label for c in Predictor(android_bundle).classify(["Ina son ka"])][0] in manifest.labels


def test_string_input_ort_variant_classifies_raw_text(android_bundle):
    from edgedistill.export.validate import onnx_session
    from edgedistill.runtime import Predictor

    session = onnx_session(android_bundle / "model.strings.ort", custom_ops=True)
    texts = ["Allah ya kyauta 🤲", "Ọjọ́ ìbí mi"]
    logits = session.run(None, {"text": np.array(texts, dtype=object)})[0]
    probabilities = [c.probabilities for c in Predictor(android_bundle).classify(texts)]
    expected = np.array([[p[label] for label in ("negative", "neutral", "positive")] for p in probabilities])
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.abs(softmax - expected).max() < 1e-4  # the app and the runtime agree


def test_quantize_passes_the_gate_and_rebuilds_variants(android_bundle, tmp_path):
    from edgedistill.runtime import Predictor

    out, report = tmp_path / "hau-int8", tmp_path / "gate.json"
    result = CliRunner().invoke(main, ["quantize", str(android_bundle), "--out", str(out), "--preset", "avx2",
                                       "--dev-limit", "120", "--report", str(report), "--json"])
    assert result.exit_code == 0, result.output
    manifest = load_manifest(out)
    summary = json.loads(result.stdout)  # --json: the manifest without hashes, the gate's report inside
    assert summary["quantization"] == manifest.quantization and "files" not in summary
    assert summary["metrics"]["gate"]["chosen"] is not None
    assert manifest.quantization["kind"] == "dynamic" and manifest.quantization["preset"] == "avx2"
    assert manifest.quantization["reduce_range"] is True
    dev = manifest.metrics["dev"]
    assert dev["metric"] == "macro_f1" and dev["data"] == "afrisenti-hau" and dev["sentences"] == 120
    assert dev["drop"] <= 1.0
    assert manifest.metrics["size_bytes"]["int8"] < manifest.metrics["size_bytes"]["fp32"]
    assert set(manifest.variants) == {"ort", "string_input_ort"}
    assert json.loads(report.read_text())["chosen"] is not None
    assert len(Predictor(out).classify(["Ina son ka", "Habari"])) == 2
    again = CliRunner().invoke(main, ["quantize", str(out), "--out", str(tmp_path / "twice")])
    assert again.exit_code == 1 and "already quantized" in again.output


def test_gate_failure_writes_nothing_and_says_what_was_tried(android_bundle, tmp_path, monkeypatch):
    import edgedistill.export.gate as gate
    from edgedistill.export.quantize import quantize_onnx
    from edgedistill.export.validate import default_validation_texts
    from edgedistill.runtime import Predictor

    def broken(src, dest, scheme, calibration=None):
        """A deliberately broken quantization: the classifier's outputs come out rotated by one label."""
        import onnx
        from onnx import numpy_helper

        result = quantize_onnx(src, dest, scheme, calibration=calibration)
        model = onnx.load(str(result.path))
        for init in model.graph.initializer:
            values = numpy_helper.to_array(init)
            if "out_proj" in init.name and values.ndim and values.shape[-1] == 3:
                init.CopyFrom(numpy_helper.from_array(np.roll(values, 1, axis=-1), init.name))
        onnx.save(model, str(result.path))
        return result

    # Dev labels are what the FP32 bundle predicts, so the FP32 model is right by construction and the
    # rotated one always wrong, whatever the tiny random model does.
    texts = [t.replace("\t", " ") for t in default_validation_texts(60)]
    labels = [c.label for c in Predictor(android_bundle).classify(texts)]
    dev = tmp_path / "dev.tsv"
    rows = "".join(f"{t}\t{label}\n" for t, label in zip(texts, labels, strict=True))
    dev.write_text("text\tlabel\n" + rows)
    monkeypatch.setattr(gate, "quantize_onnx", broken)
    out = tmp_path / "int8"
    result = CliRunner().invoke(main, ["quantize", str(android_bundle), "--out", str(out), "--data", "tsv",
                                       "--dev", str(dev), "--train", str(dev), "--no-escalate"])
    assert result.exit_code == 1, result.output
    assert "Error: no INT8 scheme kept macro_f1 within 1 point(s)" in result.output
    assert "dynamic" in result.output.splitlines()[-1] and "Traceback" not in result.output
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["dev.tsv"]


def test_a_crash_while_writing_leaves_no_bundle(model_dir, tmp_path, monkeypatch):
    import edgedistill.export.pipeline as pipeline

    def crash(directory, manifest):
        raise RuntimeError("killed while writing the manifest")

    monkeypatch.setattr(pipeline, "finish_bundle", crash)
    with pytest.raises(RuntimeError):
        pipeline.export_bundle(str(model_dir), tmp_path / "bundle")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args,message", [
    (["export", "no/such/model", "--out", "{tmp}/b"], "does not exist"),
    (["quantize", "{model}", "--out", "{tmp}/q"], "edgedistill.json"),  # a model directory, not a bundle
    (["export", "{model}", "--out", "{tmp}/b", "--backend", "optimum", "--variant", "nothing"], "nothing"),
])
def test_bad_input_is_one_line_without_a_traceback(model_dir, tmp_path, args, message):
    args = [a.format(tmp=tmp_path, model=model_dir) for a in args]
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (1, 2)
    assert message in result.output and "Traceback" not in result.output


def test_quantize_without_dev_data_asks_for_it(android_bundle, tmp_path):
    manifest = json.loads((android_bundle / "edgedistill.json").read_text())
    copy = tmp_path / "bundle"
    copy.mkdir()
    for name in manifest["files"]:
        (copy / name).write_bytes((android_bundle / name).read_bytes())
    manifest["source"]["task"] = {}
    (copy / "edgedistill.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(main, ["quantize", str(copy), "--out", str(tmp_path / "q")])
    assert result.exit_code == 1 and "--data" in result.output


def test_external_data_bundle_runs_and_quantizes(model_dir, tmp_path):
    """Weights in model.onnx.data (as beyond 2 GB): hashed, loaded by the runtime, quantized."""
    from edgedistill.export.gate import escalation_ladder
    from edgedistill.export.pipeline import ExportOptions, dev_data, export_bundle, quantize_bundle
    from edgedistill.export.quantize import DynamicScheme
    from edgedistill.runtime import Predictor

    fp32 = export_bundle(str(model_dir), tmp_path / "fp32", ExportOptions(external_data=True))
    assert {"model.onnx", "model.onnx.data"} <= set(fp32.files)
    data = dev_data(fp32.source["task"]["data"], fp32.task, fp32.labels, limit=40)
    ladder = escalation_ladder(DynamicScheme())
    int8, report = quantize_bundle(tmp_path / "fp32", tmp_path / "int8", ladder, data)
    assert "model.onnx.data" in int8.files and report.chosen is not None
    for bundle in ("fp32", "int8"):
        assert len(Predictor(tmp_path / bundle).classify(["Ina son ka"])) == 1
