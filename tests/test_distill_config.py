"""Recipes and configs: TOML round trips, errors that name the key, overrides, the CLI around them."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgedistill.chain.recipe import NextStep, Recipe, apply_overrides, list_recipes, load_recipe
from edgedistill.config import ConfigError
from edgedistill.distill.config import (
    AttentionTerm,
    DataConfig,
    HiddenTerm,
    KLTerm,
    RawTextConfig,
    StudentConfig,
    TrainingConfig,
)
from edgedistill.errors import EdgedistillError
from edgedistill.tasks.config import DataSpec
from edgedistill.toml_writer import to_toml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MINIMAL = """
name = "mine"
[data.raw]
language = "yor"
[[losses]]
type = "kl"
"""


def test_the_three_papers_ship_as_recipes_that_round_trip():
    recipes = list_recipes()
    assert {"comet", "gurgurov", "cruz", "cruz-tiny"} <= set(recipes)
    for name in recipes:
        config = load_recipe(name)
        assert Recipe.from_toml(config.to_toml()) == config, name
        assert Recipe.from_dict(json.loads(json.dumps(config.to_dict()))) == config, name


def test_recipes_say_what_the_papers_say():
    comet = load_recipe("comet")
    assert (comet.student.num_layers, comet.student.hidden_size, comet.student.num_heads,
            comet.student.intermediate_size) == (6, 256, 8, 1024)
    kl, attention = comet.losses
    assert (kl.type, kl.weight, kl.temperature) == ("kl", 0.5, 2.0)
    assert (attention.type, attention.weight, attention.layers) == ("attention", 0.5, [[-1, -1]])
    gurgurov = load_recipe("gurgurov")
    assert gurgurov.student.init == "teacher-layers" and gurgurov.student.layers == "every-other"
    assert [(t.type, t.weight) for t in gurgurov.losses] == [("mlm", 0.5), ("logit-mse", 0.5)]
    steps = [step.step for step in gurgurov.next]
    assert steps == ["prune-ffn", "distill", "trim-vocab"]
    assert gurgurov.next[0].options["ffn_size"] == 2048
    second_round = gurgurov.next[1].options["student"]
    assert second_round == {"init": "reduce-hidden", "hidden_size": 312, "method": "svd"}
    assert gurgurov.next[2].options["target_size"] == 40000
    cruz, tiny = load_recipe("cruz"), load_recipe("cruz-tiny")
    assert (cruz.student.num_layers, cruz.student.hidden_size, cruz.student.embeddings) == (6, 768, "random")
    tiny_shape = (tiny.student.num_layers, tiny.student.hidden_size, tiny.student.intermediate_size)
    assert tiny_shape == (4, 312, 1200)
    assert {t.type for t in cruz.losses} == {"kl", "mlm"}


def test_python_objects_round_trip_through_toml():
    config = Recipe(
        name="custom", output_dir="runs/x", data=DataConfig(task=DataSpec("afrisenti", language="hau"),
                                                             max_train_examples=100),
        student=StudentConfig(init="teacher-layers", layers=[2, 7, 12]),
        losses=[KLTerm(weight=0.3, temperature=4.0),
                AttentionTerm(layers=[[8, 3], [12, 6]], mix_teacher_layers=True),
                HiddenTerm(weight=2.0, layers=[[0, 0], [-1, -1]], metric="cosine")],
        training=TrainingConfig(epochs=0.5, precision="bf16", cache_teacher=True),
        next=[NextStep("trim-vocab", {"target_size": 20000, "languages": ["hau"]}),
              NextStep("distill", {"student": {"init": "reduce-hidden", "hidden_size": 128},
                                   "losses": [{"type": "hidden", "weight": 1.0}]})])
    text = config.to_toml()
    assert Recipe.from_toml(text) == config
    assert "[[next.losses]]" in text and "[data.task]" in text


@pytest.mark.parametrize(("text", "message"), [
    (MINIMAL + "epochs = 3\n", "unknown key 'losses[0].epochs'"),
    (MINIMAL + "[training]\nepoch = 3\n", "unknown key 'training.epoch'"),
    (MINIMAL + "[student]\nhidden = 3\n", "unknown key 'student.hidden'"),
    ("colour = 1\n" + MINIMAL, "unknown key 'colour'"),
    (MINIMAL + "[training]\nepochs = 'three'\n", "training.epochs must be a number"),
    (MINIMAL + "[training]\nbatch_size = 2.5\n", "training.batch_size must be an integer"),
    (MINIMAL + "[training]\nbatch_size = 0\n", "training.batch_size must be a positive integer"),
    (MINIMAL + "[training]\nprecision = 'fp8'\n", "training.precision is 'fp8'"),
    (MINIMAL + "[[losses]]\ntype = 'kld'\n", "losses[1].type is 'kld'"),
    (MINIMAL + "[[losses]]\ntype = 'kl'\ntemperature = 0\n", "losses[1].temperature must be > 0"),
    (MINIMAL + "[[losses]]\ntype = 'attention'\nlayers = [[1, 2, 3]]\n", "losses[1].layers[0] must be"),
    (MINIMAL + "[[losses]]\ntype = 'hidden'\nmetric = 'l1'\n", "losses[1].metric is 'l1'"),
    (MINIMAL + "[student]\nlayers = 'odd'\n", "student.layers is 'odd'"),
    (MINIMAL + "[student]\ninit = 'reduce-hidden'\n", "student.hidden_size is needed"),
    (MINIMAL + "[student]\nhidden_size = 100\nnum_heads = 8\n", "must be a multiple of student.num_heads"),
    (MINIMAL + "[data.task]\ndataset = 'afrisenti'\n", "exactly one of"),
    (MINIMAL + "[data.task]\nlanguage = 'hau'\n", "dataset"),
    (MINIMAL + "[[next]]\nstep = 'quantise'\n", "next[0].step is 'quantise'"),
    (MINIMAL + "[[next]]\nstep = 'trim-vocab'\ntarget = 5\n", "unknown key next[0].target"),
    (MINIMAL + "[[next]]\nstep = 'distill'\nteacher = 'x'\n", "unknown key next[0].teacher"),
    (MINIMAL + "[[next]]\nstep = 'prune-ffn'\nwidth = 2048\n", "unknown key next[0].width"),
    (MINIMAL + "[[next]]\nstep = 'reduce-hidden'\nmethod = 'pca'\n", "method must be one of truncate, svd"),
])
def test_bad_configs_name_the_key(text, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Recipe.from_toml(text, where="run.toml")


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(MINIMAL + "[training]\nepoch = 3\n")
    with pytest.raises(ConfigError, match=r"^.*run\.toml: unknown key 'training\.epoch'"):
        Recipe.load(path)
    path.write_text("name = \n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        Recipe.load(path)


def test_overrides_address_keys_by_dotted_path():
    config = load_recipe("comet", ["training.epochs=1", "losses[0].temperature=4", "student.layers=[1, 2]",
                                   "data.task.language=yor", "teacher.model=e5-small"])
    assert config.training.epochs == 1.0 and config.losses[0].temperature == 4.0
    assert config.student.layers == [1, 2] and config.data.task.language == "yor"
    raw = apply_overrides(config, {"data.task": None, "data.raw.language": "hau"})
    assert raw.data.task is None and raw.data.raw == RawTextConfig(language="hau")
    with pytest.raises(ConfigError, match="no losses\\[5\\]"):
        apply_overrides(config, ["losses[5].weight=1"])
    with pytest.raises(ConfigError, match="unknown key 'training.epoch'"):
        apply_overrides(config, ["training.epoch=1"])


def test_ablation_variants_keep_some_terms_and_rescale_their_weights(tmp_path):
    from edgedistill.distill.ablation import DEFAULT_VARIANTS, parse_variants, variant_config

    comet = load_recipe("comet")
    assert parse_variants([]) == DEFAULT_VARIANTS
    kd = variant_config(comet, "kd", ("kl",), tmp_path)
    assert [(t.type, t.weight, t.temperature) for t in kd.losses] == [("kl", 1.0, 2.0)]
    assert kd.output_dir == str(tmp_path / "kd") and kd.name == "comet-kd"
    both = variant_config(comet, "both", ("kl", "attention"), tmp_path)
    assert [(t.type, t.weight) for t in both.losses] == [("kl", 0.5), ("attention", 0.5)]
    with_labels = variant_config(comet, "ce", ("kl", "attention", "labels:0.25"), tmp_path)
    weights = [(t.type, t.weight) for t in with_labels.losses]
    assert weights == [("kl", 0.5), ("attention", 0.5), ("labels", 0.25)]
    assert with_labels.losses[0].temperature == 2.0
    with pytest.raises(ConfigError, match="give its weight"):
        variant_config(comet, "x", ("kl", "labels"), tmp_path)
    with pytest.raises(ConfigError, match="names loss type 'ce'"):
        variant_config(comet, "x", ("ce:1",), tmp_path)
    with pytest.raises(ConfigError, match="adds hidden, which the recipe lacks"):
        variant_config(comet, "x", ("hidden",), tmp_path)
    with pytest.raises(ConfigError, match="NAME=TYPE"):
        parse_variants(["kd"])
    parsed = parse_variants(["deep=kl;student.init=teacher-layers;training.epochs=1"])
    deep = variant_config(comet, "deep", parsed["deep"], tmp_path)
    assert deep.student.init == "teacher-layers" and deep.training.epochs == 1.0
    assert [t.type for t in deep.losses] == ["kl"] and deep.output_dir == str(tmp_path / "deep")


def test_toml_writer_handles_nesting_quoting_and_leaves_out_none():
    import tomllib

    values = {"a": 1, "b": None, "odd key": "x\"y", "t": {"u": [1.5, True], "v": {"w": "z"}},
              "arr": [{"k": 1, "sub": {"q": 2}}, {"k": 2}]}
    parsed = tomllib.loads(to_toml(values))
    assert parsed == {"a": 1, "odd key": "x\"y", "t": {"u": [1.5, True], "v": {"w": "z"}},
                      "arr": [{"k": 1, "sub": {"q": 2}}, {"k": 2}]}
    assert tomllib.loads(to_toml({"s": "del\x7f and \U0001f600"})) == {"s": "del\x7f and \U0001f600"}
    with pytest.raises(EdgedistillError, match="t.when: cannot write a datetime"):
        to_toml({"t": {"when": datetime.datetime(2026, 1, 1)}})


def test_importing_the_package_and_reading_recipes_needs_no_torch():
    code = ("import sys; from edgedistill.chain.recipe import load_recipe; load_recipe('gurgurov'); "
            "import edgedistill.distill.commands; "
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_recipes_are_package_data():
    pyproject = (PROJECT_ROOT / "pyproject.toml").read_text()
    assert '"edgedistill.recipes" = ["*.toml"]' in pyproject


def test_cli_prints_the_resolved_recipe_and_names_bad_keys():
    from edgedistill.cli import main

    runner = CliRunner()
    listed = runner.invoke(main, ["distill", "--list"])
    assert listed.exit_code == 0 and "comet" in listed.output and "gurgurov" in listed.output
    shown = runner.invoke(main, ["distill", "comet", "--out", "runs/x", "--set", "training.epochs=2",
                                 "--print-config"])
    assert shown.exit_code == 0, shown.output
    config = Recipe.from_toml(shown.output)
    assert config.output_dir == "runs/x" and config.training.epochs == 2.0
    bad = runner.invoke(main, ["distill", "comet", "--set", "training.epoch=2"])
    assert bad.exit_code == 1 and "Error:" in bad.output and "training.epoch" in bad.output
    missing = runner.invoke(main, ["distill", "no-such-recipe"])
    assert missing.exit_code == 1 and "no recipe named 'no-such-recipe'" in missing.output
