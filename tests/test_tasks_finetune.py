"""Fine-tuning and evaluation end to end on a tiny model and small slices of the real data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgedistill.cli import main
from edgedistill.tasks import DataSpec, FinetuneConfig

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory, fixture_texts) -> Path:
    from edgedistill.fixtures import tiny_model

    return tiny_model("xlmr", "base", texts=fixture_texts).save(tmp_path_factory.mktemp("tiny") / "xlmr")


def sentiment_config(model: Path, out: Path) -> FinetuneConfig:
    return FinetuneConfig(DataSpec("afrisenti", "hau"), output_dir=str(out), model=str(model), epochs=1,
                          batch_size=16, learning_rate=1e-3, max_length=48, max_train_examples=64,
                          max_dev_examples=16, max_test_examples=32, threads=1, class_weights="balanced")


@pytest.fixture(scope="module")
def sentiment_run(tiny_encoder, tmp_path_factory):
    from edgedistill.tasks.finetune import finetune

    out = tmp_path_factory.mktemp("runs") / "afrisenti-hau"
    return out, finetune(sentiment_config(tiny_encoder, out), progress=False)


def test_finetune_writes_a_model_directory_with_results(sentiment_run):
    out, results = sentiment_run
    for name in ("config.json", "model.safetensors", "tokenizer.json", "edgedistill-task.json",
                 "results.json", "finetune-config.toml"):
        assert (out / name).is_file(), name
    assert not Path(f"{out}.checkpoints").exists()  # removed after success
    saved = json.loads((out / "results.json").read_text())
    assert saved["test"] == results["test"] and saved["data"]["train_used"] == 64
    assert saved["data"]["test_used"] == 32 and saved["majority_baseline"]["test"]["label"] in (
        "negative", "neutral", "positive")
    assert {"macro_f1", "weighted_f1", "accuracy"} <= set(saved["test"])
    weights = saved["training"]["class_weights"]
    assert list(weights) == ["negative", "neutral", "positive"] and min(weights.values()) > 0
    task = json.loads((out / "edgedistill-task.json").read_text())
    assert task["labels"] == ["negative", "neutral", "positive"] and task["text_prefix"] == ""
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}
    saved_config = FinetuneConfig.load(out / "finetune-config.toml")
    assert saved_config == sentiment_config(Path(results["model"]["name"]), out)


def test_same_seed_same_model(sentiment_run, tiny_encoder, tmp_path):
    from edgedistill.tasks.finetune import finetune

    _, first = sentiment_run
    again = finetune(sentiment_config(tiny_encoder, tmp_path / "again"), progress=False)
    assert again["test"] == first["test"] and again["dev"] == first["dev"]


def test_evaluate_cli_reproduces_the_finetune_test_score(sentiment_run):
    out, results = sentiment_run
    report = out.parent / "eval.json"
    result = CliRunner().invoke(main, ["evaluate", str(out), "--max-examples", "32", "--no-progress",
                                       "--out", str(report)])
    assert result.exit_code == 0, result.output
    assert "macro_f1" in result.output and str(report) in result.output
    evaluation = json.loads(report.read_text())
    assert evaluation["metrics"] == results["test"]  # same seeded sample, same code path
    assert evaluation["majority_baseline"]["label"] == results["majority_baseline"]["test"]["label"]


def test_finetune_cli_token_classification(tiny_encoder, tmp_path):
    out = tmp_path / "masakhaner-hau"
    args = ["finetune", "--model", str(tiny_encoder), "--data", "masakhaner", "--lang", "hau", "--out",
            str(out), "--epochs", "1", "--batch-size", "16", "--lr", "1e-3", "--max-length", "64",
            "--max-train-examples", "48", "--max-dev-examples", "8", "--max-test-examples", "16",
            "--threads", "1", "--no-progress"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "entity_f1" in result.output and "majority class 0.0000" in result.output
    results = json.loads((out / "results.json").read_text())
    assert results["test"]["sentences"] == 16 and "per_type" in results["test"]
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1 and "already exists; pass overwrite (--overwrite)" in again.output


def test_pos_tagging_from_conllu_files(tiny_encoder, data_dir, tmp_path):
    from edgedistill.tasks.finetune import finetune

    blocks = (data_dir / "ud" / "UD_Yoruba-YTB" / "yo_ytb-ud-test.conllu").read_text().split("\n\n")
    for name, part in (("train", blocks[:40]), ("dev", blocks[40:48]), ("test", blocks[48:60])):
        (tmp_path / f"{name}.conllu").write_text("\n\n".join(part) + "\n\n", encoding="utf-8")
    spec = DataSpec("conllu", train=str(tmp_path / "train.conllu"), dev=str(tmp_path / "dev.conllu"),
                    test=str(tmp_path / "test.conllu"))
    results = finetune(FinetuneConfig(spec, output_dir=str(tmp_path / "pos"), model=str(tiny_encoder),
                                      epochs=1, batch_size=8, learning_rate=1e-3, max_length=64, threads=1),
                       progress=False)
    assert results["task"]["primary_metric"] == "accuracy" and "entity_f1" not in results["test"]
    assert results["task"]["labels"][:2] == ["ADJ", "ADP"] and len(results["task"]["labels"]) == 17
    assert results["majority_baseline"]["test"]["label"] in ("NOUN", "PRON", "VERB")
    assert 0.0 <= results["test"]["accuracy"] <= 1.0


@pytest.mark.parametrize("args, message", [
    (["finetune", "--data", "afrisenti", "--lang", "zul", "--out", "x"], "Error: no afrisenti data for "
                                                                        "language 'zul'"),
    (["finetune", "--data", "sib200", "--lang", "hau"], "--out"),
    (["evaluate", "/nonexistent/model"], "Error: /nonexistent/model is not a Hugging Face model directory"),
])
def test_cli_errors_are_one_sentence(args, message, tmp_path):
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (1, 2) and message in result.output
    assert "Traceback" not in result.output


def test_evaluate_refuses_a_dev_label_the_model_does_not_know(sentiment_run, data_dir, tmp_path):
    out, _ = sentiment_run
    rows = (data_dir / "afrisenti" / "swa" / "dev.tsv").read_text(encoding="utf-8").splitlines()[:6]
    rows[5] = rows[5].rsplit("\t", 1)[0] + "\tmixed"
    dev = tmp_path / "dev.tsv"
    dev.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["evaluate", str(out), "--data", "tsv", "--test", str(dev),
                                       "--text-column", "tweet", "--no-progress"])
    assert result.exit_code == 1
    assert f"Error: {dev}, line 6: expected one of the task's labels (negative, neutral, positive, from " \
           f"the model's labels in {out / 'config.json'}), found 'mixed'" in result.output


def test_check_data_cli(data_dir):
    result = CliRunner().invoke(main, ["check-data", "--data", "sib200", "--lang", "yor", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["splits"]["train"]["examples"] == 701 and len(summary["labels"]) == 7
    assert summary["splits"]["test"]["majority_baseline"]["label"] == "science/technology"


def test_rerun_resumes_from_checkpoints_of_the_same_run_only(tiny_encoder, tmp_path):
    from dataclasses import replace

    from edgedistill.tasks.finetune import FinetuneError, finetune

    config = replace(sentiment_config(tiny_encoder, tmp_path / "run"), keep_checkpoints=True)
    first = finetune(config, progress=False)
    assert any(Path(f"{config.output_dir}.checkpoints").glob("checkpoint-*"))
    again = finetune(config, overwrite=True, progress=False)
    assert again["training"]["resumed_from_checkpoint"] and again["test"] == first["test"]
    with pytest.raises(FinetuneError, match="holds a different run"):
        finetune(replace(config, learning_rate=5e-4), overwrite=True, progress=False)


def test_bf16_training_is_its_own_run_and_scores_like_fp32(tiny_encoder, sentiment_run, tmp_path):
    from dataclasses import replace

    from edgedistill.tasks.finetune import FinetuneError, finetune

    fp32_out, fp32 = sentiment_run
    config = replace(sentiment_config(tiny_encoder, tmp_path / "run"), precision="bf16",
                     checkpoint_dir=f"{fp32_out}.bf16-checkpoints", keep_checkpoints=True)
    results = finetune(config, progress=False)
    assert results["config"]["precision"] == "bf16"
    assert abs(results["test"]["accuracy"] - fp32["test"]["accuracy"]) <= 0.1  # 32 examples: 3 may move
    with pytest.raises(FinetuneError, match="holds a different run"):  # fp32 must not resume bf16 epochs
        finetune(replace(config, precision="fp32"), overwrite=True, progress=False)


def test_evaluate_embedding_similarity_on_any_encoder(tiny_encoder, data_dir, tmp_path):
    from edgedistill.tasks.readers import read_sib200

    sentences = read_sib200(data_dir / "sib200" / "swh_Latn" / "dev.tsv")[:12]
    pairs = [{"a": x.text, "b": y.text, "score": float(x.label == y.label)}
             for x, y in zip(sentences, sentences[1:] + sentences[:1], strict=True)]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
    result = CliRunner().invoke(main, [
        "evaluate", str(tiny_encoder), "--kind", "embedding-similarity", "--data", "jsonl",
        "--test", str(path), "--text-column", "a", "--text-pair-column", "b", "--label-column", "score",
        "--no-progress", "--json", "--out", str(tmp_path / "similarity.json")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["metrics"]["pairs"] == 12 and -1.0 <= report["metrics"]["spearman"] <= 1.0
    assert report["majority_baseline"] is None


def test_evaluate_refuses_a_task_of_another_kind(sentiment_run):
    out, _ = sentiment_run
    result = CliRunner().invoke(main, ["evaluate", str(out), "--data", "masakhaner", "--lang", "hau"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (f"Error: {out} is a sequence-classification model "
                                                      f"but masakhaner-hau is a token-classification task")


def test_head_learning_rate_applies_to_the_new_head_only(fixture_texts, tmp_path):
    from transformers import TrainingArguments

    from edgedistill.fixtures import tiny_model
    from edgedistill.tasks.finetune import _TaskTrainer

    model = tiny_model("bert", "sequence-classification", texts=fixture_texts).model
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=5e-5, weight_decay=0.01, report_to=[])
    trainer = _TaskTrainer(model=model, args=args, dev_scorer=None, head_learning_rate=1e-3)
    optimizer = trainer.create_optimizer()
    rates = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    for name, parameter in model.named_parameters():
        head = name.startswith(("classifier.", "bert.pooler."))
        assert rates[id(parameter)] == (1e-3 if head else 5e-5), name


def test_class_weights_are_balanced_over_the_training_examples_used(data_dir):
    from edgedistill.tasks import load_task
    from edgedistill.tasks.finetune import FinetuneError, class_weights

    task = load_task(DataSpec("afrisenti", "swa"), splits=("train",))
    config = FinetuneConfig(DataSpec("afrisenti", "swa"), output_dir="x", class_weights="balanced")
    train = task.split("train").examples
    weights = dict(zip(task.labels, class_weights(config, task, train), strict=True))
    assert weights["negative"] == pytest.approx(1810 / (3 * 191)) and weights["neutral"] < 1
    ner = load_task(DataSpec("masakhaner", "swa"), splits=("dev",))
    with pytest.raises(FinetuneError, match="sequence classification only, and masakhaner-swa is token"):
        class_weights(config, ner, [])
