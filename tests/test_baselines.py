"""`edgedistill baseline`: TF-IDF + logistic regression and a CRF, chosen on dev, scored like the teachers."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgedistill.cli import main
from edgedistill.tasks.metrics import classification_metrics, entity_metrics

pytest.importorskip("sklearn")
pytest.importorskip("sklearn_crfsuite")

CUES = {"positive": ["dadi", "kyau", "murna"], "negative": ["bakin", "ciki", "mugu"],
        "neutral": ["gobe", "yau", "kasuwa"]}
FILLER = ["na", "da", "a", "ya", "ta", "shi", "su", "mu", "ne", "ce"]
NAMES, PLACES = ["Musa", "Aisha", "Bello", "Halima"], ["Kano", "Abuja", "Lagos", "Zaria"]


def write_sentences(path: Path, n: int, seed: int) -> Path:
    """A TSV of texts whose label shows in one cue word among filler words."""
    rng, rows = random.Random(seed), ["text\tlabel"]
    for i in range(n):
        label = list(CUES)[i % 3]
        words = rng.sample(FILLER, 4) + [rng.choice(CUES[label])]
        rng.shuffle(words)
        rows.append(f"{' '.join(words)}\t{label}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def write_conll(path: Path, n: int, seed: int) -> Path:
    """CoNLL sentences with a capitalised person after "Malam" and a place after "a"."""
    rng, sentences = random.Random(seed), []
    for _ in range(n):
        words = [("Malam", "O"), (rng.choice(NAMES), "B-PER"), ("ya", "O"), ("je", "O"), ("a", "O"),
                 (rng.choice(PLACES), "B-LOC"), (rng.choice(FILLER), "O")]
        sentences.append("\n".join(f"{w} {t}" for w, t in words))
    path.write_text("\n\n".join(sentences) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sentence_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sentences")
    return {split: write_sentences(folder / f"{split}.tsv", n, seed)
            for split, n, seed in (("train", 60, 1), ("dev", 21, 2), ("test", 30, 3))}


@pytest.fixture(scope="module")
def conll_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("conll")
    return {split: write_conll(folder / f"{split}.txt", n, seed)
            for split, n, seed in (("train", 40, 1), ("dev", 10, 2), ("test", 12, 3))}


def run_cli(*args) -> object:
    return CliRunner().invoke(main, ["baseline", *map(str, args)])


def file_options(files: dict[str, Path]) -> list[str]:
    return [option for split, path in files.items() for option in (f"--{split}", str(path))]


def one_sentence_error(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


@pytest.fixture(scope="module")
def sentence_run(sentence_files, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "tsv"
    result = run_cli("--data", "tsv", *file_options(sentence_files), "--out", out)
    assert result.exit_code == 0, result.output
    assert "chosen on dev  C=" in result.output
    return out


def test_sentence_baseline_writes_model_and_results(sentence_run, sentence_files):
    import joblib

    results = json.loads((sentence_run / "results.json").read_text())
    assert results["baseline"]["kind"] == "tfidf-logreg"
    assert {name: results["data"][name]["examples"] for name in ("train", "dev", "test")} == \
        {"train": 60, "dev": 21, "test": 30}
    assert results["model"]["bytes"] == (sentence_run / "model.joblib").stat().st_size > 0
    prediction = results["prediction"]
    assert prediction["split"] == "test" and prediction["texts_timed"] == 30
    assert prediction["ms_per_text_median"] > 0 and prediction["peak_rss_bytes"] > 10_000_000
    assert results["environment"]["scikit-learn"] and results["fit_seconds"] > 0
    # The saved model predicts from raw text, and the recorded test score is the project's metric
    # over the whole test split.
    rows = [line.split("\t") for line in sentence_files["test"].read_text().splitlines()[1:]]
    predicted = list(joblib.load(sentence_run / "model.joblib").predict([text for text, _ in rows]))
    expected = classification_metrics([label for _, label in rows], predicted,
                                      ("negative", "neutral", "positive"))
    assert results["test"]["macro_f1"] == pytest.approx(expected["macro_f1"])
    assert results["test"]["macro_f1"] > 0.9  # one cue word per text: learnable


def test_every_candidate_is_scored_on_dev_and_the_best_is_chosen(sentence_run):
    baseline = json.loads((sentence_run / "results.json").read_text())["baseline"]
    candidates = baseline["candidates"]
    assert [c["params"]["C"] for c in candidates] == baseline["grid"]["C"]
    best = max(candidates, key=lambda c: c["dev"])
    assert baseline["chosen"] == best["params"] and baseline["chosen_on"] == "dev"


def test_choice_follows_the_dev_score_and_sees_dev_predictions_only():
    from edgedistill.baselines.models import SENTENCE_KIND, choose_on_dev

    texts = ["dadi kyau", "bakin ciki", "gobe yau"] * 4
    labels = ["positive", "negative", "neutral"] * 4
    dev_texts = ["kyau", "ciki", "yau"]
    seen, preferred = [], {0.1: 0.2, 1.0: 0.9, 10.0: 0.5}

    def dev_score(predicted: list) -> float:
        seen.append(len(predicted))
        return preferred[[0.1, 1.0, 10.0][len(seen) - 1]]

    chosen = choose_on_dev(SENTENCE_KIND, texts, labels, dev_texts, dev_score, {"C": [0.1, 1.0, 10.0]})
    assert chosen.params == {"C": 1.0} and chosen.model.named_steps["model"].C == 1.0
    assert seen == [len(dev_texts)] * 3
    assert [c["dev"] for c in chosen.candidates] == [0.2, 0.9, 0.5]


def test_token_baseline_trains_a_crf_and_scores_entities(conll_files, tmp_path):
    import joblib

    out = tmp_path / "conll"
    result = run_cli("--data", "conll", *file_options(conll_files), "--out", out)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["baseline"]["kind"] == "crf" and results["task"]["primary_metric"] == "entity_f1"
    assert len(results["baseline"]["candidates"]) == 6
    best = max(results["baseline"]["candidates"], key=lambda c: c["dev"])
    assert results["baseline"]["chosen"] == best["params"]
    sentences = [[line.split() for line in block.splitlines()]
                 for block in conll_files["test"].read_text().strip().split("\n\n")]
    predicted = joblib.load(out / "model.joblib").predict([[w for w, _ in s] for s in sentences])
    expected = entity_metrics([[t for _, t in s] for s in sentences], [list(p) for p in predicted])
    assert results["test"]["entity_f1"] == pytest.approx(expected["entity_f1"])
    assert results["test"]["entity_f1"] > 0.9
    assert results["data"]["test"]["examples"] == 12 == results["prediction"]["texts_timed"]


def test_a_config_file_gives_the_data_and_output(sentence_files, tmp_path):
    config = tmp_path / "run.toml"
    train, dev = sentence_files["train"], sentence_files["dev"]
    config.write_text(f'output_dir = "{tmp_path / "out"}"\nepochs = 3\n\n[data]\ndataset = "tsv"\n'
                      f'train = "{train}"\ndev = "{dev}"\n')
    result = run_cli("--config", config)
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["test"] is None and results["prediction"]["split"] == "dev"


def test_missing_dev_split_is_one_sentence(sentence_files, tmp_path):
    result = run_cli("--data", "tsv", "--train", sentence_files["train"], "--test", sentence_files["test"],
                     "--out", tmp_path / "out")
    assert "has no dev split" in one_sentence_error(result)
    assert not (tmp_path / "out").exists()


def test_unknown_dataset_is_one_sentence(tmp_path):
    assert "unknown dataset 'nope'" in one_sentence_error(run_cli("--data", "nope", "--out", tmp_path / "o"))


def test_existing_output_is_refused_without_overwrite(sentence_run, sentence_files):
    before = (sentence_run / "results.json").read_bytes()
    result = run_cli("--data", "tsv", *file_options(sentence_files), "--out", sentence_run)
    assert "already exists; pass --overwrite" in one_sentence_error(result)
    assert (sentence_run / "results.json").read_bytes() == before


def test_similarity_data_is_refused(tmp_path):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("text\ttext2\tlabel\na\tb\t0.5\n", encoding="utf-8")
    result = run_cli("--data", "tsv", "--kind", "embedding-similarity", "--text-pair-column", "text2",
                     "--train", pairs, "--dev", pairs, "--out", tmp_path / "out")
    assert "sequence and token classification" in one_sentence_error(result)


def test_baseline_records_are_found_by_either_swahili_code(tmp_path):
    from edgedistill.baselines import load_baseline_record

    (tmp_path / "sib200-swh.json").write_text('{"test": {"macro_f1": 0.7}}')
    assert load_baseline_record("sib200", "swa", tmp_path) == {"test": {"macro_f1": 0.7}}
    assert load_baseline_record("sib200", "swh", tmp_path) == {"test": {"macro_f1": 0.7}}
    assert load_baseline_record("masakhaner", "swa", tmp_path) is None


def test_real_sib200_hausa(data_dir, tmp_path):
    result = run_cli("--data", "sib200", "--lang", "hau", "--out", tmp_path / "sib200-hau", "--json")
    assert result.exit_code == 0, result.output
    results = json.loads(result.output)
    assert results["data"]["test"]["examples"] == 204 == results["test"]["examples"]
    assert results["data"]["train"]["examples"] == 701 and results["data"]["dev"]["examples"] == 99
    # The by-hand figure in docs/tasks.md is 0.672; the majority class scores 0.06.
    assert 0.55 < results["test"]["macro_f1"] < 0.8
