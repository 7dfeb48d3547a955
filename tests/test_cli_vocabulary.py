"""One command-line vocabulary: the same option name for the same thing in every command (old
spellings still accepted, not shown), --json where a command reports, exit code 1 with one sentence
for every user error (2 stays click's answer to a malformed command line), `python -m edgedistill`,
and a missing extra named before any work starts."""

from __future__ import annotations

import re
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from edgedistill.cli import main
from edgedistill.cli_support import AliasedOption
from edgedistill.runtime.bundle import Manifest, seal_bundle

# (command, option as --help shows it, the older spelling it replaced, its arguments, the parameter, value)
RENAMED = [
    ("quantize", "--lang", "--language", ["hau"], "language", "hau"),
    ("bench", "--max-length", "--seq", ["16"], "seq_len", 16),
    ("bench", "--batch-size", "--batch", ["4"], "batch_size", 4),
    ("export", "--text-prefix", "--prefix", ["query: "], "input_prefix", "query: "),
    ("finetune", "--quiet", "--no-progress", [], "quiet", True),
    ("evaluate", "--quiet", "--no-progress", [], "quiet", True),
]
OLD_NAMES = {old for _, _, old, *_ in RENAMED}
# Commands without --json: predict writes JSON lines already; distill-ablation writes a table file.
WITHOUT_JSON = {"predict", "distill-ablation", "run"}


def _visible_names(option: click.Option) -> set[str]:
    hidden = set(option.aliases) if isinstance(option, AliasedOption) else set()
    return set(option.opts) - hidden


def _options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option)]


@pytest.mark.parametrize("command,new,old,args,name,value", RENAMED)
def test_a_renamed_option_keeps_its_old_spelling_out_of_help(tmp_path, command, new, old, args, name, value):
    cmd = main.commands[command]
    leading = [str(tmp_path)] if command in ("bench", "export", "quantize", "evaluate") else []
    if command in ("export", "quantize"):
        leading += ["--out", str(tmp_path / "out")]
    with cmd.make_context(command, [*leading, old, *args]) as ctx:
        assert ctx.params[name] == value
    shown = CliRunner().invoke(main, [command, "--help"]).output
    assert re.search(rf"{re.escape(new)}\b", shown)
    assert not re.search(rf"{re.escape(old)}(?![\w-])", shown), shown


def test_no_command_shows_an_old_spelling():
    for name, command in main.commands.items():
        for option in _options(command):
            assert not _visible_names(option) & OLD_NAMES, (name, option.opts)


def test_every_reporting_command_has_json():
    lacking = {name for name, command in main.commands.items()
               if not any("--json" in option.opts for option in _options(command))}
    assert lacking <= WITHOUT_JSON
    assert {"bench", "quantize"} <= set(main.commands) - lacking


def test_python_dash_m_edgedistill():
    result = subprocess.run([sys.executable, "-m", "edgedistill", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: edgedistill ") and "quantize" in result.stdout


def _bundle(folder, variants: dict[str, str] | None = None):
    """A bundle as the manifest describes it; quantize must stop before it reads the model."""
    folder.mkdir()
    names = ["model.onnx", "tokenizer.json", *(variants or {}).values()]
    for name in names:
        (folder / name).write_bytes(b"not read")
    manifest = Manifest(task="sequence-classification", labels=["negative", "positive"], max_length=32,
                        vocab_size=100, inputs=["input_ids", "attention_mask"], outputs=["logits"],
                        variants=variants or {},
                        source={"task": {"data": {"dataset": "afrisenti", "language": "hau"}}})
    seal_bundle(folder, manifest)
    return folder


@pytest.mark.parametrize("missing,args,variants", [
    ("onnx", [], None),
    ("onnxruntime_extensions", [], {"string_input_ort": "model.strings.ort"}),
    ("neural_compressor", ["--scheme", "neural-compressor"], None),
])
def test_quantize_names_the_missing_extra_before_any_work(tmp_path, monkeypatch, missing, args, variants):
    monkeypatch.setitem(sys.modules, missing, None)  # as on the device install
    bundle = _bundle(tmp_path / "bundle", variants)
    result = CliRunner().invoke(main, ["quantize", str(bundle), "--out", str(tmp_path / "int8"), *args])
    assert result.exit_code == 1, result.output
    assert result.output == (f"Error: edgedistill quantize needs the [export] extra, and {missing} is not "
                             f"installed: pip install 'edgedistill[export]'\n")
    assert not (tmp_path / "int8").exists()


@pytest.mark.parametrize("args", [
    ["export", "e5-small", "--out", "{out}"],
    ["quantize", "{bundle}", "--out", "{out}"],
    ["teacher", "e5-small", "--out", "{out}"],
])
def test_an_existing_output_is_a_user_error(tmp_path, args):
    bundle, out = _bundle(tmp_path / "bundle"), tmp_path / "taken"
    out.mkdir()
    args = [a.format(bundle=bundle, out=out) for a in args]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert result.output == f"Error: --out {out} already exists; pass --overwrite to replace it\n"
    # A malformed command line stays click's usage error, exit code 2.
    result = CliRunner().invoke(main, [*args, "--no-such-flag"])
    assert result.exit_code == 2 and "No such option '--no-such-flag'" in result.output
