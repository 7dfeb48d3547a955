"""The runtime and `edgedistill predict` under hostile input and honest typos (issue 20, and the bare
string of issue 19): bounded threads and memory, a manifest checked against the model at load, output
and input streams that fail, and input lines split on "\\n" only. Each refusal is one `Error:` line
with exit code 1 (2 for a bad option value), never a traceback."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")

from bundles import rewrite_manifest  # noqa: E402
from test_reliability import assert_refused, cli  # noqa: E402

from edgedistill.cli import main  # noqa: E402
from edgedistill.export.tiny_bundles import write_tiny_bundle  # noqa: E402
from edgedistill.runtime import BundleError, Predictor  # noqa: E402
from edgedistill.runtime.predictor import max_threads  # noqa: E402


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, fixture_texts) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    for head in ("sequence-classification", "token-classification", "base"):
        write_tiny_bundle(root / head, head, fixture_texts)
    return {"classify": root / "sequence-classification", "tag": root / "token-classification",
            "embed": root / "base"}


@pytest.fixture
def copy_of(bundles, tmp_path):
    def make(kind: str = "classify") -> Path:
        dest = tmp_path / f"copy-{kind}"
        shutil.copytree(bundles[kind], dest)
        return dest

    return make


CLI = [sys.executable, "-c", "from edgedistill.cli import main; main()"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def assert_one_error_line(stderr: str, *fragments: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# -------------------------------------------------------------------------------- 1. threads
def test_threads_beyond_the_bound_are_refused_by_the_cli(bundles):
    assert max_threads() == 4 * (os.cpu_count() or 1)
    too_many = max_threads() + 1  # what the old code accepted (100000 took 16.5 GB)
    for value in (str(too_many), "99999999999999999999"):
        error = assert_refused(cli("predict", bundles["classify"], "--threads", value, "x"),
                               "Invalid value for '--threads'", f"at most {max_threads()}", exit_code=2)
        assert value in error
    assert cli("predict", bundles["classify"], "--threads", max_threads(), "x").exit_code == 0


@pytest.mark.parametrize("threads", [max_threads() + 1, 10**20, 0, -3, 2.5, "4", True])
def test_threads_beyond_the_bound_are_refused_by_the_predictor(bundles, threads):
    with pytest.raises(ValueError, match=f"threads must be an integer from 1 to {max_threads()}"):
        Predictor(bundles["classify"], threads=threads)


# ---------------------------------------------------------------------- 2. bounded memory per line
class CountingTokenizer:
    """Wraps the predictor's tokenizer and records the longest string it was asked to encode."""

    def __init__(self, tokenizer):
        self._tokenizer = tokenizer
        self.longest = 0

    def encode_batch(self, texts, **kwargs):
        self.longest = max([self.longest, *map(len, texts)])
        return self._tokenizer.encode_batch(texts, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)


@pytest.mark.parametrize("kind", ["classify", "embed", "tag"])
def test_a_huge_text_is_cut_before_it_is_tokenized(bundles, fixture_texts, kind):
    predictor = Predictor(bundles[kind])
    counting = predictor.tokenizer = CountingTokenizer(predictor.tokenizer)
    sentences = " ".join(fixture_texts) + " "
    huge = sentences * (3 * predictor.read_chars // len(sentences) + 1)
    assert len(huge) > 3 * predictor.read_chars
    getattr(predictor, kind)([huge, "Ina son ka"])
    assert counting.longest <= predictor.read_chars + len(predictor.manifest.input_prefix)


def predict_lines(bundle: Path, lines: list[str]) -> list[dict]:
    result = CliRunner().invoke(main, ["predict", str(bundle)], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    return [json.loads(record) for record in result.stdout.splitlines()]


def test_the_cut_keeps_results_for_texts_within_the_budget(bundles, fixture_texts):
    """classify/embed read 64 characters per token of max_length: far more than max_length tokens.
    `predict` reads only those of a long line, streams the rest into the record, and answers as the API."""
    predictor = Predictor(bundles["classify"])
    assert predictor.read_chars == 64 * predictor.manifest.max_length
    long_text = " ".join(fixture_texts)
    assert predictor.classify([long_text]) == predictor.classify([long_text[: predictor.read_chars]])
    encoded = predictor._encode([long_text[: predictor.read_chars]])[0]
    assert len(encoded.ids) > 10 * predictor.manifest.max_length
    records = predict_lines(bundles["classify"], ["Ina son ka", long_text, "lafiya"])
    assert [r["text"] for r in records] == ["Ina son ka", long_text, "lafiya"]
    assert records[1]["probabilities"] == predictor.classify(long_text).probabilities


def test_tagging_a_text_longer_than_a_block_covers_it_all(bundles, fixture_texts):
    predictor = Predictor(bundles["tag"])
    text = " ".join(fixture_texts) * 6
    assert len(text) > 2 * predictor.read_chars
    entities = predictor.tag([text])[0]
    assert entities and all(text[e.start : e.end] == e.text for e in entities)
    assert max(e.start for e in entities) > 2 * predictor.read_chars - 1000  # the last block is tagged
    blocks = list(predictor.tag_blocks([text[i : i + 999] for i in range(0, len(text), 999)]))
    assert "".join(block for block, _ in blocks) == text
    assert [e for _, found in blocks for e in found] == entities
    records = predict_lines(bundles["tag"], ["Kano", text, "Abuja"])
    assert [r["text"] for r in records] == ["Kano", text, "Abuja"]
    assert records[1]["entities"] == [e.to_dict() for e in entities]


def peak_rss_mb(*args: str, stdin: Path) -> float:
    code = ("import resource, subprocess, sys\n"
            "with open(sys.argv[1], 'rb') as f:\n"
            "    done = subprocess.run(sys.argv[2:], stdin=f, stdout=subprocess.DEVNULL)\n"
            "assert done.returncode == 0, done.returncode\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n")
    out = subprocess.run([sys.executable, "-c", code, str(stdin), *CLI, *args], capture_output=True,
                         text=True, env=ENV, timeout=300, check=True)
    return float(out.stdout)


def test_predict_memory_does_not_grow_with_the_line(bundles, fixture_texts, tmp_path):
    """A 4 MB line costs what a short one does (the old code: about 150x the line, 600 MB)."""
    short, huge = tmp_path / "short.txt", tmp_path / "huge.txt"
    short.write_text("Ina son ka\n", encoding="utf-8")
    text = " ".join(fixture_texts) + " "
    huge.write_text(text * (4_000_000 // len(text)) + "\n", encoding="utf-8")
    baseline = peak_rss_mb("predict", str(bundles["classify"]), stdin=short)
    assert peak_rss_mb("predict", str(bundles["classify"]), stdin=huge) < baseline + 40


# --------------------------------------------------------------------- 3. the manifest, checked at load
MANIFEST_PROBLEMS = {
    "one label more than the model's outputs": ("classify", lambda m: {"labels": [*m["labels"], "extra"]},
                                                "labels"),
    "one label less": ("tag", lambda m: {"labels": m["labels"][:-1]}, "labels"),
    "3-D logits for a sentence task": ("tag", lambda m: {"task": "sequence-classification"}, "task"),
    "2-D logits for a token task": ("classify", lambda m: {"task": "token-classification"}, "task"),
    "no outputs": ("classify", lambda m: {"outputs": []}, "outputs"),
    "outputs not a list": ("classify", lambda m: {"outputs": "logits"}, "outputs"),
    "pad_token_id a string": ("classify", lambda m: {"pad_token_id": "x"}, "pad_token_id"),
    "pad_token_id 10**30": ("classify", lambda m: {"pad_token_id": 10**30}, "pad_token_id"),
    "pad_token_id beyond the vocabulary": ("classify", lambda m: {"pad_token_id": m["vocab_size"]},
                                           "pad_token_id"),
    "pad_token_id negative": ("classify", lambda m: {"pad_token_id": -1}, "pad_token_id"),
    "input_prefix not a string": ("classify", lambda m: {"input_prefix": 5}, "input_prefix"),
    "variants a list": ("classify", lambda m: {"variants": ["x"]}, "variants"),
    "variants naming a number": ("classify", lambda m: {"variants": {"ort": 5}}, "variants"),
    "labels a string": ("classify", lambda m: {"labels": "neg"}, "labels"),
    "labels integers": ("classify", lambda m: {"labels": [1, 2, 3]}, "labels"),
    "labels repeated": ("classify", lambda m: {"labels": [m["labels"][0]] * len(m["labels"])}, "labels"),
    "max_length huge": ("classify", lambda m: {"max_length": 10**9}, "max_length"),
    "vocab_size larger than the model's table": ("classify", lambda m: {"vocab_size": 10**6},
                                                 "vocab_size"),
    "normalize_embeddings a string": ("embed", lambda m: {"normalize_embeddings": "yes"},
                                      "normalize_embeddings"),
    "files not an object": ("classify", lambda m: {"files": ["model.onnx"]}, "files"),
}


def _break(copy_of, problem: str) -> tuple[Path, str]:
    kind, change, key = MANIFEST_PROBLEMS[problem]
    bundle = copy_of(kind)
    manifest = json.loads((bundle / "edgedistill.json").read_text())
    rewrite_manifest(bundle, **change(manifest))
    return bundle, key


@pytest.mark.parametrize("problem", MANIFEST_PROBLEMS)
def test_a_bad_manifest_is_one_sentence_naming_its_key(copy_of, problem):
    bundle, key = _break(copy_of, problem)
    error = assert_refused(cli("predict", bundle, "Ina son ka"), str(bundle))
    assert key in error.split(str(bundle), 1)[1], error
    with pytest.raises(BundleError, match=key):
        Predictor(bundle)  # at load, before any text


def test_a_model_that_fails_at_load_is_one_line_on_stderr(copy_of):
    """onnxruntime's own log of the failed run does not reach the terminal either."""
    bundle, _ = _break(copy_of, "vocab_size larger than the model's table")
    done = subprocess.run([*CLI, "predict", str(bundle), "x"], capture_output=True, text=True, env=ENV,
                          timeout=120)
    assert done.returncode == 1 and not done.stdout
    assert_one_error_line(done.stderr, "vocab_size (1000000)", "indices element out of data bounds")


def test_a_bad_manifest_is_refused_before_any_text(copy_of):
    """Even with no text at all (empty stdin), the bundle is checked."""
    bundle, _ = _break(copy_of, "one label more than the model's outputs")
    assert_refused(CliRunner().invoke(main, ["predict", str(bundle)], input=""), "labels")


# ------------------------------------------------------------------ 4. output and input streams that fail
def test_a_full_disk_on_stdout_is_one_sentence(bundles):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        done = subprocess.run([*CLI, "predict", str(bundles["classify"]), "Ina son ka"], stdout=full,
                              stderr=subprocess.PIPE, text=True, env=ENV, timeout=120)
    assert done.returncode == 1
    assert_one_error_line(done.stderr, "cannot write the predictions to standard output",
                          "No space left on device")


def test_a_closed_stdin_is_one_sentence(bundles):
    done = subprocess.run(["bash", "-c", 'exec "$@" <&-', "bash", *CLI, "predict", str(bundles["classify"])],
                          capture_output=True, text=True, env=ENV, timeout=120)
    assert done.returncode == 1, done.stderr
    assert_one_error_line(done.stderr, "standard input is closed")


# ------------------------------------------------------------------------- 5. lines split on \n only
@pytest.mark.parametrize("source", ["stdin", "file"])
def test_a_lone_carriage_return_does_not_split_a_line(bundles, tmp_path, source):
    data = b"one\rtwo\nthree\r\nfour\n\r\n"
    if source == "file":
        (tmp_path / "in.txt").write_bytes(data)
        result = cli("predict", bundles["classify"], "--file", tmp_path / "in.txt")
    else:
        result = CliRunner().invoke(main, ["predict", str(bundles["classify"])], input=data)
    assert result.exit_code == 0, result.output
    assert [json.loads(r)["text"] for r in result.stdout.splitlines()] == ["one\rtwo", "three", "four", ""]


def test_a_carriage_return_at_a_read_boundary(monkeypatch):
    """A "\\r\\n" that falls between two reads of a long line is still one line end."""
    from edgedistill.runtime import lines

    for head, piece in [(3, 2), (4, 1), (5, 2), (6, 3), (9, 4), (100, 100)]:
        monkeypatch.setattr(lines, "PIECE_CHARS", piece)
        read = [line.head + "".join(line.rest)
                for line in lines.read_lines(io.BytesIO(b"abcd\r\nef\rgh\r\n\r\r\nlast\r"), head)]
        assert read == ["abcd", "ef\rgh", "\r", "last\r"], (head, piece, read)


# --------------------------------------------------------------------------- 6. a bare string
def test_a_bare_string_is_one_text(bundles):
    classifier, tagger, embedder = (Predictor(bundles[k]) for k in ("classify", "tag", "embed"))
    text = "Aliko Dangote ya je Kano"
    assert classifier.classify(text) == classifier.classify([text])[0]
    assert tagger.tag(text) == tagger.tag([text])[0]
    vector = embedder.embed(text)
    assert vector.ndim == 1
    np.testing.assert_allclose(vector, embedder.embed([text])[0])


@pytest.mark.parametrize("value", [b"bytes", 5, None, [b"x"]])
def test_texts_that_are_not_strings_are_refused(bundles, value):
    with pytest.raises(TypeError, match="expected a string or a list of strings"):
        Predictor(bundles["classify"]).classify(value)
