"""The Task notion: fixed labels, unknown labels as errors, sub-word alignment, metrics, configs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from edgedistill.config import ConfigError
from edgedistill.tasks import DataSpec, FinetuneConfig, TaskError, UnknownLabelError, load_task, subsample
from edgedistill.tasks.encoding import (
    IGNORE_INDEX,
    align_labels_to_subwords,
    encode_token_examples,
    words_from_predictions,
)
from edgedistill.tasks.metrics import classification_metrics, majority_baseline, spearman, tagging_metrics
from edgedistill.tasks.readers import TokenExample

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_builtin_tasks_fix_their_labels(data_dir):
    afrisenti = load_task(DataSpec("afrisenti", "kin"), splits=("dev",), root=data_dir)
    assert afrisenti.labels == ("negative", "neutral", "positive") and afrisenti.primary_metric == "macro_f1"
    ner = load_task(DataSpec("masakhaner", "yor"), splits=("dev",), root=data_dir)
    assert ner.labels[0] == "O" and len(ner.labels) == 9 and ner.primary_metric == "entity_f1"
    sib = load_task(DataSpec("sib200", "swa"), splits=("test",), root=data_dir)  # swa means swh here
    assert sib.label_source.endswith("swh_Latn/labels.txt") and len(sib.split("test").examples) == 204
    pos = load_task(DataSpec("ud-pos", "yor"), root=data_dir)
    assert list(pos.splits) == ["test"] and pos.primary_metric == "accuracy"
    with pytest.raises(TaskError, match="has no train split"):
        pos.split("train")


def test_unknown_language_and_dataset(data_dir):
    with pytest.raises(TaskError, match="no afrisenti data for language 'zul'.*languages here: hau, ibo"):
        load_task(DataSpec("afrisenti", "zul"), root=data_dir)
    with pytest.raises(TaskError, match="unknown dataset 'afrisentii'"):
        load_task(DataSpec("afrisentii", "hau"), root=data_dir)


def _afrisenti_slice(data_dir: Path, tmp_path: Path, split: str, lines: int, bad_label: str | None = None):
    rows = (data_dir / "afrisenti" / "ibo" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()
    rows = rows[:1] + rows[1::len(rows) // lines][:lines - 1]  # spread out: the files are sorted by label
    if bad_label:
        rows[-1] = rows[-1].rsplit("\t", 1)[0] + "\t" + bad_label
    path = tmp_path / f"{split}.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_unknown_dev_label_is_an_error_naming_file_and_line(data_dir, tmp_path):
    dev = _afrisenti_slice(data_dir, tmp_path, "dev", 20, bad_label="postive")
    with pytest.raises(UnknownLabelError) as caught:
        load_task(DataSpec("afrisenti", "ibo", dev=str(dev)), splits=("train", "dev"), root=data_dir)
    assert str(caught.value) == (f"{dev}, line 20: expected one of the task's labels (negative, neutral, "
                                 f"positive, from the fixed afrisenti label set), found 'postive'")


def test_own_files_take_labels_from_the_training_split(data_dir, tmp_path):
    train = _afrisenti_slice(data_dir, tmp_path, "train", 40)
    dev = _afrisenti_slice(data_dir, tmp_path, "dev", 10, bad_label="mixed")
    spec = DataSpec("tsv", train=str(train), text_column="tweet")
    task = load_task(spec)
    assert task.labels == ("negative", "neutral", "positive") and "training split" in task.label_source
    with pytest.raises(UnknownLabelError, match=r"dev.tsv, line 10: .*training split .*found 'mixed'"):
        load_task(DataSpec("tsv", train=str(train), dev=str(dev), text_column="tweet"))
    labels = tmp_path / "labels.txt"
    labels.write_text("positive\nnegative\nneutral\nmixed\n")
    with_file = load_task(DataSpec("tsv", train=str(train), dev=str(dev), text_column="tweet",
                                   labels_file=str(labels)))
    assert with_file.labels == ("positive", "negative", "neutral", "mixed")
    with pytest.raises(TaskError, match="no labels.txt and no training split"):
        load_task(DataSpec("tsv", dev=str(dev), text_column="tweet"))


def test_token_labels_from_training_put_O_first(data_dir, tmp_path):
    text = (data_dir / "masakhaner2" / "kin" / "dev.txt").read_text(encoding="utf-8")
    path = tmp_path / "train.conll"
    path.write_text("\n\n".join(text.split("\n\n")[:30]) + "\n", encoding="utf-8")
    task = load_task(DataSpec("conll", train=str(path)))
    assert task.kind == "token-classification" and task.labels[0] == "O"
    assert task.labels[1:] == tuple(sorted(task.labels[1:]))


def test_subsample_shuffles_a_label_sorted_file_deterministically(data_dir):
    test = load_task(DataSpec("afrisenti", "hau"), splits=("test",), root=data_dir).split("test").examples
    assert test[0].label == test[100].label == "positive"  # the file is sorted by label
    first, again = subsample(test, 300, seed=7), subsample(test, 300, seed=7)
    assert first == again and len(first) == 300
    assert min(Counter(e.label for e in first).values()) > 60
    assert subsample(test, 300, seed=8) != first
    assert subsample(test, None, seed=7) == test


# ---------------------------------------------------------------- sub-word alignment

def test_first_subword_gets_the_label_others_ignored():
    word_ids = [None, 0, 0, 1, 2, 2, 2, None]
    assert align_labels_to_subwords(word_ids, [5, 0, 3]) == [IGNORE_INDEX, 5, IGNORE_INDEX, 0, 3,
                                                            IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]


@pytest.fixture(scope="module")
def tokenizers(fixture_texts) -> dict:
    from edgedistill.fixtures import tiny_tokenizer

    return {family: tiny_tokenizer(family, fixture_texts) for family in ("xlmr", "bert")}


@pytest.mark.parametrize("family", ["xlmr", "bert"])
def test_token_encoding_with_real_tokenizers(family, tokenizers):
    tokenizer = tokenizers[family]
    label2id = {"O": 0, "B-LOC": 1, "I-LOC": 2}
    sentence = TokenExample(("Gwamnatin", "Jihar", "Kano", "ta", "ce"), ("O", "B-LOC", "I-LOC", "O", "O"),
                            (1, 2, 3, 4, 5))
    encoded = encode_token_examples([sentence], tokenizer, label2id, max_length=64)
    feature = encoded.features[0]
    labels = feature["labels"]
    assert len(labels) == len(feature["input_ids"])
    assert [label for label in labels if label != IGNORE_INDEX] == [0, 1, 2, 0, 0]
    assert labels[0] == labels[-1] == IGNORE_INDEX  # special tokens
    assert encoded.kept_words == [[0, 1, 2, 3, 4]] and encoded.truncated_words == 0
    pieces = tokenizer.convert_ids_to_tokens(feature["input_ids"])
    assert len(pieces) > 7  # some words really are split, and only their first piece is labelled

    short = encode_token_examples([sentence], tokenizer, label2id, max_length=5)
    assert short.truncated_words > 0
    predicted = [[1] * len(short.features[0]["input_ids"])]
    tags = words_from_predictions([short.features[0]["labels"]], predicted, short.kept_words, [5],
                                  {0: "O", 1: "B-LOC", 2: "I-LOC"})
    assert tags[0][len(short.kept_words[0]):] == ["O"] * short.truncated_words  # cut words count as "O"


def test_prefix_word_is_unlabelled(tokenizers):
    tokenizer = tokenizers["xlmr"]
    sentence = TokenExample(("Kano", "."), ("B-LOC", "O"), (1, 2))
    encoded = encode_token_examples([sentence], tokenizer, {"O": 0, "B-LOC": 1}, 32, prefix="query: ")
    assert [label for label in encoded.features[0]["labels"] if label != IGNORE_INDEX] == [1, 0]
    assert encoded.kept_words == [[0, 1]]


# ---------------------------------------------------------------- metrics

def test_classification_metrics_match_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    gold = ["pos", "neg", "neu", "neu", "pos", "neg", "neu", "pos"]
    predicted = ["pos", "neu", "neu", "neg", "pos", "neg", "neu", "neu"]
    labels = ("neg", "neu", "pos")
    ours = classification_metrics(gold, predicted, labels)
    for name, average in (("macro_f1", "macro"), ("weighted_f1", "weighted")):
        theirs = sklearn_metrics.f1_score(gold, predicted, labels=list(labels), average=average)
        assert ours[name] == pytest.approx(theirs)
    assert ours["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(gold, predicted))


def test_entity_f1_and_majority_baselines():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
    predicted = [["B-PER", "I-PER", "O", "O"], ["O", "B-ORG"]]
    scores = tagging_metrics(gold, predicted, entities=True)
    assert scores["entity_precision"] == 1.0 and scores["entity_recall"] == pytest.approx(2 / 3)
    assert scores["entity_f1"] == pytest.approx(0.8) and scores["accuracy"] == pytest.approx(5 / 6)
    baseline = majority_baseline("token-classification", gold, gold, ("O", "B-PER", "I-PER"))
    assert baseline["label"] == "O" and baseline["entity_f1"] == 0.0
    sentiment = majority_baseline("sequence-classification", ["a", "b", "b"], ["a", "b"], ("a", "b"))
    assert sentiment["label"] == "b" and sentiment["macro_f1"] == pytest.approx(1 / 3)


def test_spearman_with_ties():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 2, 3], [3, 2, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) == 0.0


# ---------------------------------------------------------------- configs and light imports

def test_finetune_config_round_trips_through_toml_and_json(tmp_path):
    config = FinetuneConfig(DataSpec("masakhaner", "hau"), output_dir="runs/x", epochs=2.0,
                            max_train_examples=1000, freeze_word_embeddings=True, text_prefix="query: ")
    for name in ("run.toml", "run.json"):
        assert FinetuneConfig.load(config.save(tmp_path / name)) == config
    (tmp_path / "bad.toml").write_text('output_dir = "x"\nepochz = 3\n[data]\ndataset = "afrisenti"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml: unknown key 'epochz'; known keys"):
        FinetuneConfig.load(tmp_path / "bad.toml")
    (tmp_path / "broken.toml").write_text("epochs = \n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        FinetuneConfig.load(tmp_path / "broken.toml")


@pytest.mark.parametrize("values, message", [
    ({"max_train_examples": "many"}, "max_train_examples must be an integer, got str 'many'"),
    ({"epochs": -1.0}, "epochs must be a number above 0, not -1.0"),
    ({"batch_size": 0}, "batch_size must be a whole number of at least 1, not 0"),
    ({"warmup_ratio": 2}, "warmup_ratio must be a number from 0 to 1, not 2"),
    ({"learning_rate": True}, "learning_rate must be a number, got bool True"),
    ({"precision": "fp16"}, "precision must be one of fp32, bf16, not 'fp16'"),
    ({"class_weights": "inverse"}, "class_weights must be 'balanced' or absent, not 'inverse'"),
])
def test_finetune_config_values_are_checked_when_read(values, message, tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"output_dir": "x", "data": {"dataset": "afrisenti"}, **values}))
    with pytest.raises(ConfigError) as caught:
        FinetuneConfig.load(path)
    assert str(caught.value) == f"{path}: {message}"


def test_tasks_package_and_commands_import_nothing_heavy():
    code = ("import sys, edgedistill.tasks, edgedistill.tasks.commands\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'datasets')]\n"
            "assert not heavy, heavy\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr
    source = (PROJECT_ROOT / "edgedistill" / "tasks" / "commands.py").read_text()
    top_imports = {line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))}
    light = {"__future__", "json", "pathlib", "click", "edgedistill.cli_support"}  # click and stdlib only
    assert top_imports <= light, top_imports
