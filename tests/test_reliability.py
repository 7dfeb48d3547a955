"""Bad input at every entry point, through the command line: a non-zero exit, one line on stderr that
names the file or argument and what was wrong, and never a dependency's traceback. One test per row
of docs/reliability.md (rows already covered elsewhere are named there instead)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")

from bundles import rewrite_manifest  # noqa: E402
from cli_support import assert_refused, cli  # noqa: E402

from edgedistill.cli import main  # noqa: E402
from edgedistill.runtime.bundle import MANIFEST_NAME, hash_bundle_files  # noqa: E402


# ------------------------------------------------------------------------------------- fixtures
@pytest.fixture
def bundle_copy(bundle, tmp_path) -> Path:
    dest = tmp_path / "bundle"
    shutil.copytree(bundle, dest)
    return dest


# ------------------------------------------------------------------------------ data files
TSV = ["--data", "tsv", "--text-column", "text", "--label-column", "label"]
GOOD_TRAIN = "text\tlabel\nina son\tpositive\nba kyau\tnegative\n"


@pytest.mark.parametrize("case,content,expected", [
    ("missing", None, "data file {path} does not exist"),
    ("directory", "DIR", "data file {path} is a directory"),
    ("empty", b"",
     "{path}, line 1: expected a header line of tab-separated column names, found an empty file"),
    ("malformed", b"text\tlabel\nina son\tpositive\nonly one field\n",
     "{path}, line 3: expected 2 tab-separated fields (text, label), found 1"),
    ("latin-1", "text\tlabel\ncaf\xe9\tpositive\n".encode("latin-1"),
     "{path}, line 2: expected UTF-8 text, found byte 0xe9"),
])
def test_bad_training_file(tmp_path, case, content, expected):
    path = tmp_path / "train.tsv"
    if content == "DIR":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    assert_refused(cli("check-data", *TSV, "--train", path), expected.format(path=path))


def test_unknown_label_in_dev(tmp_path):
    (tmp_path / "train.tsv").write_text(GOOD_TRAIN)
    (tmp_path / "dev.tsv").write_text("text\tlabel\nx\tpositive\ny\tmixed\n")
    assert_refused(cli("check-data", *TSV, "--train", tmp_path / "train.tsv", "--dev", tmp_path / "dev.tsv"),
                   f"{tmp_path / 'dev.tsv'}, line 3: expected one of the task's labels", "found 'mixed'")


def test_text_file_that_is_not_utf8(model_dir, tmp_path):
    text = tmp_path / "hausa.txt"
    text.write_bytes("Ina son caf\xe9\n".encode("latin-1"))
    assert_refused(cli("trim-vocab", model_dir, tmp_path / "out", "--size", "100", "--text-file", text),
                   f"text file {text} is not UTF-8 text (byte 0xe9")
    assert not (tmp_path / "out").exists()


def test_unreadable_file_is_named_by_the_cli(model_dir, tmp_path, monkeypatch):
    """Root reads through chmod 000, so the refusal of the file system is simulated."""
    text = tmp_path / "secret.txt"
    text.write_text("Ina son ka\n")
    real_read_text = Path.read_text

    def read_text(self, *args, **kwargs):
        if self.name == "secret.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    assert_refused(cli("trim-vocab", model_dir, tmp_path / "out", "--size", "100", "--text-file", text),
                   f"Error: cannot use {text}: Permission denied")


@pytest.mark.parametrize("command", ["finetune", "distill", "prune"])
def test_config_file_that_is_not_utf8(model_dir, tmp_path, command):
    config = tmp_path / "run.toml"
    config.write_bytes("epochs = 1 # caf\xe9\n".encode("latin-1"))
    args = {"finetune": ["finetune", "--config", config],
            "distill": ["distill", config],
            "prune": ["prune", model_dir, tmp_path / "out", "--config", config, "--ffn", "8"]}[command]
    assert_refused(cli(*args), f"config file {config} is not UTF-8 text")


# ------------------------------------------------------------------------------ model directories
def _break_model(model_dir: Path, dest: Path, how: str) -> Path:
    shutil.copytree(model_dir, dest)
    if how == "no config.json":
        (dest / "config.json").unlink()
    elif how == "no weights":
        (dest / "model.safetensors").unlink()
    elif how == "no tokenizer":
        for path in dest.iterdir():
            if path.name in ("tokenizer.json", "sentencepiece.bpe.model"):
                path.unlink()
    elif how == "config.json not JSON":
        (dest / "config.json").write_text("{not json")
    elif how == "corrupt weights":
        (dest / "model.safetensors").write_bytes(b"\x00" * 64)
    elif how == "unknown architecture":
        config = json.loads((dest / "config.json").read_text())
        config.update(model_type="frobnicator", architectures=["FrobnicatorForSequenceClassification"])
        (dest / "config.json").write_text(json.dumps(config))
    elif how == "tokenizer larger than the embedding table":
        from safetensors.torch import load_file, save_file

        weights = load_file(dest / "model.safetensors")
        weights = {k: v[:50].clone() if "word_embeddings" in k else v for k, v in weights.items()}
        save_file(weights, dest / "model.safetensors", metadata={"format": "pt"})
        config = json.loads((dest / "config.json").read_text())
        (dest / "config.json").write_text(json.dumps({**config, "vocab_size": 50}))
    return dest


MODEL_PROBLEMS = {
    "missing": "teacher directory {path} does not exist",
    "no config.json": "teacher directory {path} has no config.json",
    "no weights": "model directory {path} has no weights (looked for model.safetensors",
    "no tokenizer": "model directory {path} has no tokenizer (looked for tokenizer.json",
    "config.json not JSON": "{path}/config.json is not valid JSON",
    "corrupt weights": "could not load teacher from directory {path}: Error while deserializing header",
    "unknown architecture": "could not load teacher from directory {path}: The checkpoint you are trying to "
                            "load has model type `frobnicator` but Transformers does not recognize this "
                            "architecture",
    "tokenizer larger than the embedding table": "the tokenizer in {path} has 802 tokens but the model's "
                                                 "embedding table only 50 rows",
}
MODEL_COMMANDS = {
    "export": lambda m, out: ["export", m, "--out", out],
    "trim-vocab": lambda m, out: ["trim-vocab", m, out, "--size", "100", "--lang", "hau"],
    "finetune": lambda m, out: ["finetune", "--data", "afrisenti", "--lang", "hau", "--model", m,
                                "--out", out],
    "distill": lambda m, out: ["distill", "comet", "--teacher", m, "--out", out],
    "evaluate": lambda m, out: ["evaluate", m, "--data", "afrisenti", "--lang", "hau", "--out", out],
    "prune": lambda m, out: ["prune", m, out, "--ffn", "8", "--lang", "hau"],
    "reduce-hidden": lambda m, out: ["reduce-hidden", m, out, "--size", "8"],
    "teacher": lambda m, out: ["teacher", m, "--out", out],
}


@pytest.mark.parametrize("command", MODEL_COMMANDS)
@pytest.mark.parametrize("problem", MODEL_PROBLEMS)
def test_bad_model_directory(model_dir, tmp_path, data_dir, problem, command):
    path = tmp_path / "model"
    if problem != "missing":
        _break_model(model_dir, path, problem)
    expected = MODEL_PROBLEMS[problem].format(path=path)
    if command == "evaluate":  # evaluate names the model, not a teacher
        expected = expected.replace("could not load teacher from directory", "could not load the model in")
        if problem in ("missing", "no config.json"):
            expected = f"{path} is not a Hugging Face model directory (no config.json)"
    out = tmp_path / "out"
    assert_refused(cli(*MODEL_COMMANDS[command](path, out)), expected)
    assert not out.exists()


def test_bench_names_a_broken_model_directory(model_dir, tmp_path):
    """bench loads each variant in a worker process; the worker's refusal comes back as one line."""
    path = _break_model(model_dir, tmp_path / "model", "no tokenizer")
    assert_refused(cli("bench", f"a={path}", "--rounds", "1", "--out", tmp_path / "bench"),
                   f"Error: variant a failed: TeacherError: model directory {path} has no tokenizer")


# ------------------------------------------------------------------------------------- bundles
def _tamper(bundle: Path, tmp_path: Path, how: str) -> str:
    """Break a copy of a bundle; returns what the refusal must say ({b} is the bundle)."""
    if how == "hash mismatch":
        with (bundle / "tokenizer.json").open("a") as handle:
            handle.write(" ")
        return "bundle {b}: tokenizer.json does not match its SHA-256 in the manifest"
    if how == "truncated model":
        data = (bundle / "model.onnx").read_bytes()
        (bundle / "model.onnx").write_bytes(data[: len(data) // 3])
        return "bundle {b}: model.onnx does not match its SHA-256"
    if how == "missing file":
        (bundle / "model.onnx").unlink()
        return "bundle {b} is missing model.onnx"
    if how == "unknown format version":
        rewrite_manifest(bundle, format_version=7)
        return "bundle {b} has format version 7; this runtime reads version 1"
    if how == "manifest not JSON":
        (bundle / MANIFEST_NAME).write_text("{")
        return "{b}/edgedistill.json is not valid JSON"
    if how == "no manifest":
        (bundle / MANIFEST_NAME).unlink()
        return "bundle {b} has no edgedistill.json"
    if how == "not a directory":
        shutil.rmtree(bundle)
        return "bundle {b} is not a directory"
    if how == "tokenizer larger than the embedding table":
        rewrite_manifest(bundle, vocab_size=100)
        return "bundle {b}: the tokenizer can emit id 801 but the model's embedding table has only 100 rows"
    if how.startswith("manifest path"):
        if how.endswith("symlink"):
            outside = tmp_path / "outside.onnx"
            shutil.copy(bundle / "model.onnx", outside)
            (bundle / "model.onnx").unlink()
            (bundle / "model.onnx").symlink_to(outside)
            return "bundle {b} names the file 'model.onnx', which lies outside the bundle directory"
        evil = "/etc/passwd" if how.endswith("absolute") else "../outside.onnx"
        files = json.loads((bundle / MANIFEST_NAME).read_text())["files"]
        rewrite_manifest(bundle, model_file=evil, files={**files, evil: "0" * 64})
        return f"bundle {{b}} names the file {evil!r}, which " + (
            "is not a plain relative path inside the bundle" if evil.startswith("/") else
            "lies outside the bundle directory")
    return _move_weights_outside(bundle, tmp_path, how)


def _move_weights_outside(bundle: Path, tmp_path: Path, how: str) -> str:
    """ONNX external data: the weights in a side file that lies outside the bundle."""
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(bundle / "model.onnx"))
    onnx.save(model, str(bundle / "model.onnx"), save_as_external_data=True, location="weights.data",
              size_threshold=0)
    secret = tmp_path / "secret.data"
    shutil.move(bundle / "weights.data", secret)
    location = {"external data ../": "../secret.data", "external data absolute": str(secret),
                "external data symlink": "weights.data"}[how]
    if how.endswith("symlink"):
        (bundle / "weights.data").symlink_to(secret)
    else:
        proto = onnx.load(str(bundle / "model.onnx"), load_external_data=False)
        for tensor in proto.graph.initializer:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = location
        onnx.save(proto, str(bundle / "model.onnx"))
    files = ["model.onnx", "tokenizer.json"] + (["weights.data"] if how.endswith("symlink") else [])
    rewrite_manifest(bundle, files=hash_bundle_files(bundle, files) if not how.endswith("symlink")
                     else {**hash_bundle_files(bundle, files[:2]), "weights.data": "0" * 64})
    if how.endswith("symlink"):
        return "bundle {b} names the file 'weights.data', which lies outside the bundle directory"
    return f"bundle {{b}}: model.onnx reads tensor data from {location!r}, which lies outside the bundle"


BUNDLE_PROBLEMS = ["hash mismatch", "truncated model", "missing file", "unknown format version",
                   "manifest not JSON", "no manifest", "not a directory",
                   "tokenizer larger than the embedding table", "manifest path ..", "manifest path absolute",
                   "manifest path symlink", "external data ../", "external data absolute",
                   "external data symlink"]


@pytest.mark.parametrize("problem", BUNDLE_PROBLEMS)
def test_bad_bundle(bundle_copy, tmp_path, problem):
    expected = _tamper(bundle_copy, tmp_path, problem).format(b=bundle_copy)
    assert_refused(cli("predict", bundle_copy, "Ina son ka"), expected)


def test_external_data_outside_is_refused_even_unverified(bundle_copy, tmp_path):
    """--no-verify skips hashes, not the confinement of the files onnxruntime would read."""
    expected = _move_weights_outside(bundle_copy, tmp_path, "external data ../").format(b=bundle_copy)
    assert_refused(cli("predict", bundle_copy, "--no-verify", "x"), expected)


def test_external_data_must_be_hashed(bundle_copy, tmp_path):
    from edgedistill.runtime import BundleError, Predictor

    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(bundle_copy / "model.onnx"))
    onnx.save(model, str(bundle_copy / "model.onnx"), save_as_external_data=True, location="weights.data",
              size_threshold=0)
    rewrite_manifest(bundle_copy, files=hash_bundle_files(bundle_copy, ["model.onnx", "tokenizer.json"]))
    with pytest.raises(BundleError, match="reads tensor data from 'weights.data', which the manifest gives "
                                          "no hash for"):
        Predictor(bundle_copy)
    rewrite_manifest(bundle_copy, files=hash_bundle_files(bundle_copy, ["model.onnx", "tokenizer.json",
                                                                        "weights.data"]))
    assert len(Predictor(bundle_copy).classify(["Ina son ka"])) == 1


# ------------------------------------------------------------------------------- runtime inputs
ODD_TEXTS = {"empty": "", "whitespace": "  \t ", "100,000 characters": "Ina son ka " * 9_091,
             "control characters": "\x00\x01\x07 control \x1b[31m\x7f", "emoji": "😂🔥🇳🇬👩🏽‍💻",
             "mixed scripts": "Hausa ẹ̀ العربية 中文 ελληνικά हिन्दी"}


@pytest.mark.parametrize("name", ODD_TEXTS)
def test_odd_text_gets_a_prediction_from_the_cli(bundle, name):
    result = cli("predict", bundle, "--", ODD_TEXTS[name])
    assert result.exit_code == 0, result.output
    [line] = result.stdout.splitlines()
    answer = json.loads(line)
    assert answer["text"] == ODD_TEXTS[name] and answer["label"] in answer["probabilities"]


def test_bytes_that_are_not_utf8_get_a_prediction(bundle, tmp_path):
    """Lone surrogates from argv, bad bytes from stdin or --file: U+FFFD, a prediction, JSON out."""
    texts = tmp_path / "texts.txt"
    texts.write_bytes(b"Ina son \xff ka\nlafiya\n")
    for result in (cli("predict", bundle, "--file", texts), cli("predict", bundle, "lone \udcff byte"),
                   CliRunner().invoke(main, ["predict", str(bundle)], input=b"Ina son \xff ka\nlafiya\n")):
        assert result.exit_code == 0, (result.output, result.exception)
        first = json.loads(result.stdout.splitlines()[0])
        assert "\ufffd" in first["text"] and first["label"] in first["probabilities"]


# ----------------------------------------------------------------------------- recipes and configs
@pytest.mark.parametrize("args,expected", [
    (["distill", "comet", "--set", "training.epoch=1", "--print-config"],
     "the overridden config: unknown key 'training.epoch'; known keys in [training]: batch_size"),
    (["distill", "comet", "--set", "training.learning_rate=-1", "--print-config"],
     "the overridden config: training.learning_rate must be > 0, got -1.0"),
    (["distill", "{tmp}/absent.toml"], "recipe file {tmp}/absent.toml does not exist"),
    (["distill", "{tmp}/broken.toml"], "{tmp}/broken.toml is not valid TOML"),
    (["finetune", "--config", "{tmp}/unknown-key.toml"],
     "{tmp}/unknown-key.toml: unknown key 'epochz'; known"),
    (["prune", "{model}", "{tmp}/out", "--config", "{tmp}/unknown-key.toml", "--ffn", "8"],
     "{tmp}/unknown-key.toml: unknown key 'data'; known keys: batch_size, batches, ffn_size"),
    (["trim-vocab", "{model}", "{tmp}/out", "--size", "5000", "--lang", "hau"],
     "target size 5,000 is larger than the vocabulary"),
])
def test_bad_recipe_or_config(model_dir, tmp_path, data_dir, args, expected):
    (tmp_path / "broken.toml").write_text("[training\nepochs = 1\n")
    (tmp_path / "unknown-key.toml").write_text(
        f'epochz = 1\noutput_dir = "{tmp_path}/o"\n[data]\ndataset = "afrisenti"\nlanguage = "hau"\n')
    args = [a.format(tmp=tmp_path, model=model_dir) for a in args]
    assert_refused(cli(*args), expected.format(tmp=tmp_path))


@pytest.mark.parametrize("args,expected", [
    (["quantize", "{tmp}/absent", "--out", "{tmp}/q"], "Invalid value for 'BUNDLE': Directory"),
    (["quantize", "{bundle}", "--out", "{tmp}/q", "--preset", "bogus"], "'bogus' is not one of 'auto'"),
    (["predict", "{bundle}", "--file", "{tmp}/absent.txt"], "Invalid value for '--file'"),
    (["predict", "{bundle}", "--threads", "0", "x"], "Invalid value for '--threads'"),
    (["bench", "a={tmp}/absent"], "variant 'a={tmp}/absent': {tmp}/absent does not exist"),
])
def test_bad_option_values_are_usage_errors(bundle, tmp_path, args, expected):
    args = [a.format(tmp=tmp_path, bundle=bundle) for a in args]
    assert_refused(cli(*args), expected.format(tmp=tmp_path), exit_code=2)


# ------------------------------------------------------------------------------- untrusted files
SOURCE_DIRS = ("edgedistill", "export", "runtime", "benchmarks")


def _python_sources():
    root = Path(__file__).resolve().parents[1]
    for folder in SOURCE_DIRS:
        yield from (root / folder).rglob("*.py")


# The baselines are scikit-learn models, saved with joblib (scikit-learn's documented format). The loads:
# measure.py's, in a child process, of the file the same command wrote seconds before; and the study
# versus_baseline.py's, of the baseline stage a chain run on this machine wrote (never a downloaded file).
REVIEWED_PICKLE = {"edgedistill/baselines/train.py", "edgedistill/baselines/measure.py",
                   "benchmarks/studies/versus_baseline.py"}


def test_no_unsafe_deserialisation_in_the_code():
    """torch.load only with weights_only=True; no pickle; remote code only behind a flag."""
    root = Path(__file__).resolve().parents[1]
    calls = re.compile(r"torch\.load\(([^)]*)\)")
    pickles = re.compile(r"^\s*(import pickle|from pickle|import dill|import joblib)", re.M)
    for path in _python_sources():
        text = path.read_text(encoding="utf-8")
        for match in calls.finditer(text):
            assert "weights_only=True" in match.group(1), f"{path}: {match.group(0)}"
        if path.relative_to(root).as_posix() not in REVIEWED_PICKLE:
            assert not pickles.search(text), path
        assert "allow_pickle=True" not in text, path
        for match in re.finditer(r"trust_remote_code=(\w+)[,)]", text):
            assert match.group(1) in ("trust_remote_code", "False"), f"{path}: {match.group(0)}"


def test_trust_remote_code_is_off_unless_flagged():
    from edgedistill.teachers import load_teacher

    assert load_teacher.__kwdefaults__["trust_remote_code"] is False
    command = main.commands["teacher"]
    assert command.make_context("teacher", ["some/model"]).params["trust_remote_code"] is False
    flagged = command.make_context("teacher", ["some/model", "--trust-remote-code"])
    assert flagged.params["trust_remote_code"] is True


def test_onnx_scanner_finds_every_external_location(tmp_path):
    """The stdlib reader sees what onnx writes: initializers, node attributes and subgraphs."""
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from edgedistill.runtime.onnx_external import MalformedModel, external_data_locations

    def big(name):
        return numpy_helper.from_array(np.ones((8, 8), np.float32), name)

    branch = helper.make_graph([helper.make_node("Constant", [], ["c"], value=big("k"))], "then", [],
                               [helper.make_tensor_value_info("c", TensorProto.FLOAT, [8, 8])])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"]),
         helper.make_node("If", ["cond"], ["z"], then_branch=branch, else_branch=branch)],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8]),
              helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])], [big("w")])
    model = helper.make_model(graph)
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    assert external_data_locations(path) == []
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=False, size_threshold=0,
              convert_attribute=True)
    assert sorted(external_data_locations(path)) == sorted(p.name for p in tmp_path.iterdir() if p != path)
    assert len(external_data_locations(path)) == 2
    path.write_bytes(b"\x0a\xff\xff\xff\x0f")  # a length far past the end
    with pytest.raises(MalformedModel):
        external_data_locations(path)


# ---------------------------------------------------------------------------------- nothing lost
# Files reviewed for docs/reliability.md: each writes only inside an atomic_directory block (a temporary
# directory renamed at the end) or marks completion with a file written last and atomically.
REVIEWED_WRITERS = {
    "edgedistill/atomic.py", "edgedistill/tasks/finetune.py", "edgedistill/distill/run.py",
    "edgedistill/teachers/e5_small.py", "edgedistill/compress/tokenizer_files.py",
    "edgedistill/compress/models.py", "edgedistill/distill/teacher_cache.py", "export/bundle_writer.py",
    "export/pipeline.py",
    "runtime/bundle.py",  # seal_bundle writes the manifest last: a bundle without a whole one is refused
    # a comparison bundle, whose manifest (written last) marks it whole
    "benchmarks/studies/export_vs_optimum.py",
    # a run's log, streamed as it runs; the table goes through atomic writes
    "benchmarks/studies/results_table.py",
    # a chain stage writes inside OUT/.work/<stage>-<fingerprint>/out, renamed into place when whole
    "edgedistill/chain/runner.py", "edgedistill/chain/report.py", "edgedistill/chain/steps.py",
    "edgedistill/baselines/train.py",  # model and results.json inside atomic_directory's temporary folder
}


def test_artifact_writers_go_through_atomic_writes():
    """A direct write in any other stage module fails: artifacts go through edgedistill.atomic."""
    root = Path(__file__).resolve().parents[1]
    writes = re.compile(r"\.(write_text|write_bytes)\(|open\([^)]*[\"']w|\.savefig\([^)]*path")
    offenders = []
    for path in _python_sources():
        relative = path.relative_to(root).as_posix()
        in_scope = not relative.startswith("benchmarks/arm/")
        if in_scope and relative not in REVIEWED_WRITERS and writes.search(path.read_text(encoding="utf-8")):
            offenders.append(relative)
    assert not offenders, offenders
