"""android_demo/prepare_assets.py refuses, in one sentence, every bundle the app could not run.

Hand-written bundles (a manifest and placeholder files with correct hashes), so these run without
torch; tests/test_android_contract.py feeds it real exported bundles.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from android_bundles import ROOT, load_demo_script

from edgedistill.runtime.bundle import MANIFEST_NAME, Manifest, seal_bundle

prepare_assets = load_demo_script("prepare_assets")
PrepareError = prepare_assets.PrepareError
ORT_HEADER = b"\x1c\x00\x00\x00ORTM" + b"\x00" * 24


def write_bundle(folder: Path, *, task="sequence-classification", labels=("negative", "neutral", "positive"),
                 variants=None, model_bytes=ORT_HEADER, **fields) -> Path:
    folder.mkdir(parents=True)
    variants = {"string_input_ort": "model.strings.ort"} if variants is None else variants
    files = {"model.onnx": b"onnx", "tokenizer.json": b"{}"}
    files.update({name: model_bytes for name in variants.values()})
    for name, data in files.items():
        (folder / name).write_bytes(data)
    manifest = Manifest(task=task, labels=list(labels), max_length=128, vocab_size=800,
                        inputs=["input_ids", "attention_mask"], outputs=["logits"], variants=variants,
                        pooling="mean" if task == "embedding" else None, **fields)
    seal_bundle(folder, manifest)
    return folder


def refusal(bundle: Path, tmp_path: Path, **kwargs) -> str:
    with pytest.raises(PrepareError) as caught:
        prepare_assets.prepare(bundle, assets=tmp_path / "assets", warn=lambda _: None, **kwargs)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "assets" / "models" / bundle.name).exists()
    return str(caught.value)


def test_refuses_a_tampered_or_unknown_bundle(tmp_path):
    bundle = write_bundle(tmp_path / "b")
    (bundle / "model.strings.ort").write_bytes(ORT_HEADER + b"!")
    assert "does not match its SHA-256" in refusal(bundle, tmp_path)
    future = write_bundle(tmp_path / "future")
    data = json.loads((future / MANIFEST_NAME).read_text())
    (future / MANIFEST_NAME).write_text(json.dumps({**data, "format_version": 2}))
    assert "format version 2" in refusal(future, tmp_path)


def test_refuses_what_the_demo_cannot_show(tmp_path):
    embedding = write_bundle(tmp_path / "e", task="embedding", labels=())
    assert "embedding model; the demo shows labels and entities" in refusal(embedding, tmp_path)
    not_bio = write_bundle(tmp_path / "t", task="token-classification", labels=("O", "PER", "B-LOC"))
    assert "tags ['PER'] that are not BIO" in refusal(not_bio, tmp_path)
    twice = write_bundle(tmp_path / "d", labels=("pos", "neg"))
    data = json.loads((twice / MANIFEST_NAME).read_text())  # a manifest seal_bundle would refuse
    (twice / MANIFEST_NAME).write_text(json.dumps({**data, "labels": ["pos", "pos"]}))
    assert "same label twice" in refusal(twice, tmp_path)


def test_refuses_a_bundle_without_the_string_input_model(tmp_path):
    cpu = write_bundle(tmp_path / "cpu", variants={"ort": "model.ort"})
    message = refusal(cpu, tmp_path)
    assert "no string-input model" in message and "--target android" in message


def test_refuses_a_file_that_is_not_ort_format(tmp_path):
    fake = write_bundle(tmp_path / "fake", model_bytes=b"this is not a model")
    assert "does not start with ORT format's header" in refusal(fake, tmp_path)
    damaged = write_bundle(tmp_path / "damaged", model_bytes=ORT_HEADER)
    assert "header cannot be read" in refusal(damaged, tmp_path)


def test_refuses_a_model_that_does_not_take_a_string(tmp_path):
    pytest.importorskip("onnx")
    if prepare_assets.extensions_library() is None:
        pytest.skip("onnxruntime-extensions is not installed, so prepare_assets cannot load a model")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["input_ids"], ["logits"])], "g",
                              [helper.make_tensor_value_info("input_ids", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    bundle = write_bundle(tmp_path / "ids", variants={"string_input": "model.strings.onnx"},
                          model_bytes=model.SerializeToString())
    assert "the app feeds one string tensor" in refusal(bundle, tmp_path)


def test_checks_the_name_and_does_not_overwrite_by_accident(tmp_path):
    bundle = write_bundle(tmp_path / "b")
    assert "must be letters, digits" in refusal(bundle, tmp_path, name="../escape")
    (tmp_path / "assets" / "models" / "b").mkdir(parents=True)
    with pytest.raises(PrepareError, match="already exists; pass --force"):
        prepare_assets.prepare(bundle, assets=tmp_path / "assets", warn=lambda _: None)


def test_warns_when_the_model_comes_from_a_newer_onnxruntime(tmp_path):
    versions = tmp_path / "libs.versions.toml"
    versions.write_text('[versions]\nagp = "8.7.3"\nonnxruntime = "1.27.0"\n')
    assert prepare_assets.app_onnxruntime_version(versions) == "1.27.0"
    warnings: list[str] = []
    newer = Manifest(task="sequence-classification", labels=["a"], max_length=8, vocab_size=8,
                     inputs=["text"], outputs=["logits"], packages={"onnxruntime": "1.31.1"})
    older = Manifest(**{**newer.__dict__, "packages": {"onnxruntime": "1.27.2"}})
    prepare_assets.check_versions(newer, warnings.append, versions)
    prepare_assets.check_versions(older, warnings.append, versions)
    assert len(warnings) == 1 and "onnxruntime 1.31.1" in warnings[0] and "1.27.0" in warnings[0]


def test_the_app_pins_the_versions_the_readme_names():
    """One place for the ONNX Runtime pins: gradle/libs.versions.toml, which prepare_assets reads."""
    assert prepare_assets.app_onnxruntime_version() is not None
    readme = (ROOT / "android_demo" / "README.md").read_text(encoding="utf-8")
    assert f"onnxruntime-android:{prepare_assets.app_onnxruntime_version()}" in readme


def test_command_line_says_what_is_wrong_in_one_line(tmp_path):
    bundle = write_bundle(tmp_path / "cpu", variants={})
    result = subprocess.run([sys.executable, str(ROOT / "android_demo" / "prepare_assets.py"), str(bundle),
                             "--assets", str(tmp_path / "assets")], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.startswith("error: bundle") and result.stderr.count("\n") == 1, result.stderr
