"""The compression configs round-trip, the package imports without torch, and the commands work."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from edgedistill.cli import main
from edgedistill.compress.hidden import HiddenReduceConfig
from edgedistill.compress.pruning import PruneConfig
from edgedistill.compress.vocab import VocabTrimConfig
from edgedistill.config import ConfigError

vocab_configs = st.builds(
    VocabTrimConfig,
    target_size=st.integers(1, 300_000),
    keep_characters=st.booleans(), fill=st.booleans(),
    keep_tokens=st.lists(st.text(min_size=1, max_size=5), max_size=3).map(tuple),
) | st.builds(VocabTrimConfig, target_size=st.none(), coverage=st.floats(0.01, 1.0))
prune_configs = st.builds(
    PruneConfig,
    heads_per_layer=st.none() | st.integers(1, 16)
    | st.lists(st.integers(1, 16), min_size=1, max_size=4).map(tuple),
    ffn_size=st.integers(1, 4096), objective=st.sampled_from(["auto", "mlm", "task", "output"]),
    batches=st.integers(1, 64), mask_probability=st.floats(0.01, 0.99), seed=st.integers(0, 2**31))
hidden_configs = st.builds(HiddenReduceConfig, hidden_size=st.integers(1, 1024),
                           method=st.sampled_from(["truncate", "svd"]))


@settings(max_examples=60, deadline=None)
@given(config=vocab_configs | prune_configs | hidden_configs)
def test_configs_round_trip_through_json_and_toml(config):
    kind = type(config)
    assert kind.from_json(config.to_json()) == config
    assert kind.from_toml(config.to_toml()) == config


def test_config_files_refuse_unknown_keys_and_bad_values(tmp_path):
    path = tmp_path / "trim.toml"
    path.write_text("target_size = 40000\ntarget_sise = 1\n")
    with pytest.raises(ConfigError, match="unknown key.*target_sise"):
        VocabTrimConfig.load(path)
    path.write_text("target_size = 20000\ncoverage = 0.9\n")
    with pytest.raises(ConfigError, match="exactly one of target_size and coverage"):
        VocabTrimConfig.load(path)
    with pytest.raises(ConfigError, match="method must be one of"):
        HiddenReduceConfig.from_json('{"method": "pca"}')


def test_the_package_and_its_commands_import_without_torch():
    code = ("import sys, edgedistill.compress, edgedistill.compress.commands, edgedistill.compress.pruning, "
            "edgedistill.compress.vocab, edgedistill.compress.hidden\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')]\n"
            "assert not heavy, heavy\n"
            "assert edgedistill.compress.PruneConfig(ffn_size=8).ffn_size == 8\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def model_dirs(data_dir, tmp_path_factory):
    pytest.importorskip("torch")
    from compress_support import tokenizer_for

    from edgedistill.fixtures import tiny_model

    folder = tmp_path_factory.mktemp("cli-models")
    return {family: tiny_model(family, "mlm", tokenizer=tokenizer_for(family)).save(folder / family)
            for family in ("xlmr", "bert")}


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_trim_vocab_from_a_text_file_writes_a_model_and_report(model_dirs, tmp_path):
    from compress_support import hausa

    text_file = tmp_path / "hausa.txt"
    text_file.write_text("\n".join(hausa("train", 100)), encoding="utf-8")
    out = tmp_path / "trimmed"
    result = invoke("trim-vocab", model_dirs["xlmr"], out, "--text-file", text_file, "--size", 400, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["details"]["vocabulary_after"] == 400
    assert json.loads((out / "compression-report.json").read_text())["operation"] == "trim-vocab"
    assert (out / "sentencepiece.bpe.model").is_file()


def test_chained_commands_keep_the_history(model_dirs, tmp_path):
    trimmed, pruned, narrow = tmp_path / "trimmed", tmp_path / "pruned", tmp_path / "narrow"
    result = invoke("trim-vocab", model_dirs["bert"], trimmed, "--lang", "hau", "--limit", 100,
                    "--coverage", 0.95)
    assert result.exit_code == 0, result.output
    assert "held-out fallback" in result.output and "text tokens kept" in result.output
    result = invoke("prune", trimmed, pruned, "--lang", "hau", "--limit", 50, "--heads", "2,3", "--ffn", 32,
                    "--batches", 2, "--batch-size", 4)
    assert result.exit_code == 0, result.output
    assert "[4, 4] -> [2, 3]" in result.output
    result = invoke("reduce-hidden", pruned, narrow, "--size", 16, "--method", "truncate")
    assert result.exit_code == 0, result.output
    report = json.loads((narrow / "compression-report.json").read_text())
    assert [step["operation"] for step in report["history"]] == ["trim-vocab", "prune"]


def test_config_file_and_options_combine(tmp_path):
    path = tmp_path / "prune.toml"
    PruneConfig(heads_per_layer=(4, 2), ffn_size=2048, batches=8).save(path)
    result = invoke("prune", "unused", tmp_path / "out", "--config", path, "--ffn", 1024, "--print-config")
    assert result.exit_code == 0, result.output
    expected = PruneConfig(heads_per_layer=(4, 2), ffn_size=1024, batches=8)
    assert PruneConfig.from_toml(result.output) == expected
    result = invoke("trim-vocab", "unused", tmp_path / "out", "--coverage", 0.99, "--print-config")
    assert VocabTrimConfig.from_toml(result.output) == VocabTrimConfig(target_size=None, coverage=0.99)


def test_user_errors_are_one_sentence_and_exit_1(model_dirs, tmp_path):
    result = invoke("trim-vocab", model_dirs["bert"], tmp_path / "out", "--lang", "hau", "--size", 5000)
    assert result.exit_code == 1
    assert result.output.strip() == "Error: target size 5,000 is larger than the vocabulary (800 tokens)"
    result = invoke("reduce-hidden", model_dirs["bert"], tmp_path / "out", "--size", 18)
    assert result.exit_code == 1 and "not divisible by the model's 4 attention heads" in result.output
    result = invoke("prune", model_dirs["bert"], model_dirs["xlmr"], "--lang", "hau", "--ffn", 8)
    assert result.exit_code == 1 and "already exists; pass --overwrite" in result.output
    result = invoke("trim-vocab", model_dirs["bert"], tmp_path / "out")
    assert result.exit_code == 1 and "no text to count tokens on" in result.output


def test_unknown_architecture_is_named(tmp_path, data_dir):
    pytest.importorskip("torch")
    from compress_support import tokenizer_for
    from transformers import DistilBertConfig, DistilBertModel

    model = DistilBertModel(DistilBertConfig(vocab_size=800, dim=32, n_layers=1, n_heads=2, hidden_dim=64))
    model.save_pretrained(tmp_path / "distil")
    tokenizer_for("bert").save_pretrained(tmp_path / "distil")
    result = invoke("reduce-hidden", tmp_path / "distil", tmp_path / "out", "--size", 16)
    assert result.exit_code == 1
    assert "architecture 'distilbert'; compression supports bert, roberta, xlm-roberta" in result.output


def test_sib200_swahili_reads_the_swahili_raw_text(data_dir):
    from edgedistill.compress.text import gather_texts
    from edgedistill.shared_data import DataNotFound, raw_sentences

    # SIB-200 calls Swahili swh; MAFAND's raw text swa (a gurgurov run on SIB-200 Swahili stopped here)
    assert raw_sentences("swh", limit=5) == raw_sentences("swa", limit=5) != []
    assert gather_texts(["swh"], [], limit_per_source=5) == raw_sentences("swa", limit=5)
    with pytest.raises(DataNotFound, match="no raw text for language 'zul'"):
        raw_sentences("zul")
