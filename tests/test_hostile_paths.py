"""Careless and hostile paths and recipes, through the command line: an output that is, lies inside or
holds an input is refused even with --overwrite and the input stays as it was; recipe values are
checked when the recipe loads, before anything is written; a writer killed mid-write leaves nothing a
rerun does not clean; export prints no tracer warnings. Exit code 1, one `Error:` line, no traceback."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from cli_support import assert_refused, cli  # noqa: E402

from edgedistill.atomic import OutputExists, atomic_directory  # noqa: E402


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its SHA-256: the same snapshot means the folder is untouched."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def workspace(tmp_path, model_dir, bundle) -> Path:
    """A folder holding a model, a bundle, a recipe and CSV data, copied fresh for each test."""
    import shutil

    shutil.copytree(model_dir, tmp_path / "model")
    shutil.copytree(bundle, tmp_path / "bundle")
    (tmp_path / "data").mkdir()
    for split in ("train", "dev", "test"):
        (tmp_path / "data" / f"{split}.csv").write_text("text,label\nina son,positive\nba kyau,negative\n")
    recipe = 'name = "t"\n[data.task]\ndataset = "afrisenti"\nlanguage = "hau"\n'
    (tmp_path / "recipe.toml").write_text(recipe)
    return tmp_path


CSV = ["--data", "csv", "--train", "data/train.csv", "--dev", "data/dev.csv", "--test", "data/test.csv"]

# (command line run inside the workspace, the input it names, how the output overlaps it)
OVERLAPS = [
    (["export", "model", "--out", "model", "--overwrite"], "model", "is"),
    (["export", "model", "--out", "model/bundle"], "model", "lies inside"),
    (["export", "model", "--out", ".", "--overwrite"], "model", "contains"),
    (["quantize", "bundle", "--out", "bundle", "--overwrite"], "bundle", "is"),
    (["quantize", "bundle", "--out", "int8", "--report", "bundle/model.onnx"], "bundle", "lies inside"),
    (["trim-vocab", "model", "model", "--overwrite", "--size", "100", "--lang", "hau"], "model", "is"),
    (["trim-vocab", "model", "out", "--size", "100", "--text-file", "out/texts.txt"], "out/texts.txt",
     "contains"),
    (["prune", "model", "model/pruned", "--ffn", "8", "--lang", "hau"], "model", "lies inside"),
    (["reduce-hidden", "model", ".", "--overwrite", "--size", "8"], "model", "contains"),
    (["distill", "recipe.toml", "--teacher", "model", "--out", "model", "--overwrite"], "model", "is"),
    (["finetune", *CSV, "--model", "model", "--out", "data", "--overwrite"], "data/train.csv", "contains"),
    (["evaluate", "model", *CSV, "--out", "model/config.json"], "model/config.json", "is"),
    (["baseline", *CSV, "--out", "data/train.csv", "--overwrite"], "data/train.csv", "is"),
    (["teacher", "model", "--out", "model", "--overwrite"], "model", "is"),
    (["run", "recipe.toml", "--teacher", "model", "--out", "."], "model", "contains"),
]


@pytest.mark.parametrize("args, source, relation", OVERLAPS,
                         ids=[" ".join(args[:2]) + f" {relation}" for args, _, relation in OVERLAPS])
def test_an_output_over_an_input_is_refused_even_with_overwrite(workspace, monkeypatch, args, source,
                                                                 relation):
    monkeypatch.chdir(workspace)
    (workspace / "out").mkdir()
    (workspace / "out" / "texts.txt").write_text("Ina son ka\n")
    before = snapshot(workspace)
    message = assert_refused(cli(*args), f" {relation} the input {source}", "even with --overwrite")
    assert "destroy or change that input" in message
    assert snapshot(workspace) == before  # nothing written, nothing removed


# ------------------------------------------------------------------------------ recipe values
RECIPE = """
name = "tiny"
[teacher]
model = "{teacher}"
[teacher.finetune]
{finetune}
[data]
max_train_examples = 16
max_eval_examples = 16
[data.task]
dataset = "afrisenti"
language = "hau"
[training]
max_steps = 1
[student]
num_layers = 1
hidden_size = 16
num_heads = 2
intermediate_size = 32
[[next]]
step = "finetune"
{student_finetune}
"""


@pytest.mark.parametrize("finetune, student_finetune, expected", [
    ('max_train_examples = "many"', "", "teacher.finetune: max_train_examples must be an integer, got str"),
    ("epochs = -1.0", "", "teacher.finetune: epochs must be a number above 0, not -1.0"),
    ("max_train_examples = 16", "warmup_ratio = 2.0",
     "next[0]: warmup_ratio must be a number from 0 to 1, not 2.0"),
])
def test_recipe_values_are_checked_when_it_loads(model_dir, tmp_path, finetune, student_finetune, expected):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(RECIPE.format(teacher=model_dir, finetune=finetune, student_finetune=student_finetune))
    out = tmp_path / "run"
    assert_refused(cli("run", recipe, "--out", out), str(recipe), expected)
    assert not out.exists()  # no .work/01-teacher-* left behind


def test_an_unknown_language_is_refused_before_stage_one(model_dir, tmp_path):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(RECIPE.format(teacher=model_dir, finetune="", student_finetune=""))
    out = tmp_path / "run"
    assert_refused(cli("run", recipe, "--lang", "xyz", "--out", out), "no afrisenti data for language 'xyz'")
    assert not out.exists()


# ------------------------------------------------------------------------------ killed writers
KILLED_WRITER = """
import os, signal, sys, time
from edgedistill.atomic import atomic_directory
with atomic_directory(sys.argv[1], overwrite=True) as tmp:
    (tmp / "half.bin").write_bytes(b"x" * 1000)
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    print("writing", flush=True)
    sys.stdin.readline()  # a live writer: waits until told to go on
"""


def partials(folder: Path, name: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{name}."))


def test_a_rerun_cleans_what_a_killed_writer_left_and_never_a_live_writers_folder(tmp_path):
    dest = tmp_path / "bundle"
    script = textwrap.dedent(KILLED_WRITER)
    live = subprocess.Popen([sys.executable, "-c", script, str(dest), "wait"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert live.stdout.readline().strip() == "writing"
        killed = subprocess.run([sys.executable, "-c", script, str(dest), "kill"], capture_output=True)
        assert killed.returncode == -signal.SIGKILL
        assert len(partials(tmp_path, "bundle")) == 2  # the killed writer left the live one alone
        [live_partial] = [name for name in partials(tmp_path, "bundle") if f"-{live.pid}." in name]
        with atomic_directory(dest, overwrite=True) as tmp:
            (tmp / "whole.bin").write_bytes(b"y")
        assert partials(tmp_path, "bundle") == [live_partial]  # the killed one is gone, the live one kept
    finally:
        live.communicate("go\n", timeout=60)
    assert live.returncode == 0 and partials(tmp_path, "bundle") == []


def test_export_after_a_killed_export_leaves_no_partial_folder(model_dir, tmp_path):
    dest = tmp_path / "bundle"
    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLED_WRITER), str(dest), "kill"])
    assert killed.returncode == -signal.SIGKILL and partials(tmp_path, "bundle")
    result = cli("export", model_dir, "--out", dest)
    assert result.exit_code == 0, result.output
    assert partials(tmp_path, "bundle") == [] and (dest / "edgedistill.json").is_file()


def test_a_writer_that_finds_its_destination_written_meanwhile_names_the_option(tmp_path):
    """The commands check --out first; a concurrent run can write it before the writer starts."""
    from edgedistill.export.bundle_writer import bundle_directory
    from edgedistill.export.errors import ExportError

    (tmp_path / "bundle").mkdir()
    with pytest.raises(OutputExists, match="pass --overwrite"), atomic_directory(tmp_path / "bundle"):
        pass
    with pytest.raises(ExportError, match="pass --overwrite"), bundle_directory(tmp_path / "bundle"):
        pass
    assert partials(tmp_path, "bundle") == []


def test_the_pid_in_a_partial_name_is_this_process(tmp_path):
    with atomic_directory(tmp_path / "model") as tmp:
        assert tmp.name.startswith(f".model.partial-{os.getpid()}.")


# ------------------------------------------------------------------------------ export's output
def test_export_prints_no_tracer_warning(model_dir, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = cli("export", model_dir, "--out", tmp_path / "bundle")
    assert result.exit_code == 0, result.output
    assert not [w for w in caught if issubclass(w.category, torch.jit.TracerWarning)]
    assert "TracerWarning" not in result.output
