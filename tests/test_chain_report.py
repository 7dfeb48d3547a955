"""The model card of a chain run, from a facts dict as ``gather`` builds it (no chain is run): Hugging
Face front matter, the input prefix, the labels, the baseline, the licences of teacher and data."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from edgedistill.chain.report import gather, model_card, targets, versus_baseline
from edgedistill.chain.runner import StageRecord


def _facts(**changes) -> dict:
    facts = {
        "recipe": "default-afrisenti-hau", "task": "sequence-classification",
        "labels": ["negative", "neutral", "positive"],
        "label_source": "the fixed afrisenti label set",
        "data": {"dataset": "afrisenti", "language": "hau"}, "input_prefix": "query: ",
        "metric": "macro_f1", "test_examples": 200, "seed": 42,
        "teacher": {"name": "multilingual-e5-small, 4-bit weights dequantized, fine-tuned on afrisenti-hau",
                    "test": 0.70, "test_examples": 200, "model": "/runs/teachers/afrisenti-hau",
                    "original": "intfloat/multilingual-e5-small", "license": "MIT"},
        "final_model_stage": "03-trim-vocab",
        "student": {"stage": "02-distill", "test": 0.68, "test_examples": 200, "shape": {}},
        "bundles": {"fp32": {"test": 0.69, "bytes": 105_000_000},
                    "int8": {"test": 0.68, "bytes": 26_000_000, "dev": None,
                             "gate_choice": "dynamic, avx512_vnni, per-tensor",
                             "parameters": {"total": 26_355_463, "non_embedding": 10_797_319},
                             "architecture": {"layers": 6, "hidden_size": 384, "heads": 12,
                                              "intermediate_size": 1536},
                             "vocab_size": 40000}},
        "baseline": {"kind": "tfidf-logreg", "description": "TF-IDF + logistic regression", "score": 0.74,
                     "bytes": 6_000_000, "ms_per_text": 0.2},
        "bench": {"config": {"seq_len": 128, "batch_size": 1, "threads": 1}, "command": "edgedistill bench",
                  "variants": {}},
    }
    facts.update(changes)
    facts["targets"] = targets(facts)
    return facts


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    block, _ = card[4:].split("\n---\n", 1)
    return yaml.safe_load(block)


def test_a_builtin_task_gets_the_hub_front_matter():
    meta = _front_matter(model_card(_facts()))
    assert meta == {"language": ["hau"], "license": "cc-by-4.0",
                    "datasets": ["shmuhammad/AfriSenti-twitter-sentiment"], "metrics": ["f1"],
                    "base_model": "intfloat/multilingual-e5-small", "pipeline_tag": "text-classification",
                    "tags": ["edgedistill", "onnx", "int8", "knowledge-distillation"]}


def test_the_card_states_prefix_labels_baseline_and_licences():
    facts = _facts()
    card = model_card(facts)
    assert 'Input prefix: "query: ".' in card and "add it yourself" in card
    assert 'run(["query: " + text for text in texts])' in card  # the pipeline example adds it
    assert "ORTModelForSequenceClassification.from_pretrained(folder)" in card
    assert ("Labels, in the order of the model's outputs: negative, neutral, positive (from the fixed "
            "afrisenti label set).") in card
    assert versus_baseline(facts) in card and "behind the baseline" in card
    assert ("- Teacher: multilingual-e5-small, 4-bit weights dequantized, fine-tuned on afrisenti-hau "
            "(intfloat/multilingual-e5-small), MIT.") in card
    assert ("- Data: AfriSenti (SemEval-2023 Task 12), CC BY 4.0, from "
            "https://github.com/afrisenti-semeval/afrisent-semeval-2023.") in card


def test_a_csv_task_says_what_it_cannot_know():
    data = {"dataset": "csv", "language": None, "train": "/home/amina/data/train.csv",
            "dev": "/home/amina/data/dev.csv", "test": "/home/amina/data/test.csv"}
    card = model_card(_facts(data=data, labels=["0", "1"],
                             label_source="the training split (/home/amina/data/train.csv)"))
    meta = _front_matter(card)
    assert meta["license"] == "other" and "language" not in meta and "datasets" not in meta
    assert ("Labels, in the order of the model's outputs: 0, 1: the values of the label column (the training "
            "split (/home/amina/data/train.csv)), which gives them no names") in card
    assert ("- Data: your own csv files (train.csv, dev.csv, test.csv); their licence was not recorded: "
            "set `license` in the front matter above to it.") in card


def test_a_tagger_without_prefix():
    data = {"dataset": "masakhaner", "language": "yor"}
    card = model_card(_facts(task="token-classification", metric="entity_f1", input_prefix="",
                             labels=["O", "B-PER", "I-PER"], data=data))
    meta = _front_matter(card)
    assert meta["pipeline_tag"] == "token-classification" and meta["metrics"] == ["seqeval"]
    assert meta["license"] == "cc-by-nc-4.0" and meta["datasets"] == ["masakhane/masakhaner2"]
    assert "Input prefix: none" in card and "run(texts)" in card
    assert "ORTModelForTokenClassification" in card


def test_gather_takes_prefix_data_and_teacher_licence_from_the_stage_products(tmp_path):
    teacher_dir, int8_dir = tmp_path / "01-teacher", tmp_path / "05-quantize"
    for folder in (teacher_dir, int8_dir):
        folder.mkdir()
    (teacher_dir / "edgedistill-teacher.json").write_text(json.dumps(
        {"original": "intfloat/multilingual-e5-small", "license": "MIT"}))
    data = {"dataset": "csv", "train": "train.csv"}
    (int8_dir / "edgedistill.json").write_text(json.dumps(
        {"input_prefix": "query: ", "source": {"task": {"data": data, "label_source": "train.csv"}}}))

    def record(name: str, summary: dict, folder: Path | None = None) -> StageRecord:
        return StageRecord(name, "f", folder or tmp_path / name, {}, summary)

    done = {"01-teacher": record("01-teacher", {"model": str(teacher_dir), "display_name": "e5"}),
            "02-distill": record("02-distill", {"test": {"macro_f1": 0.5}}),
            "04-export": record("04-export", {}),
            "05-quantize": record("05-quantize", {"labels": ["0", "1"]}),
            "06-evaluate": record("06-evaluate", {}), "08-bench": record("08-bench", {})}
    settings = {"recipe": "r", "teacher": "01-teacher", "stages": list(done), "student": "02-distill",
                "fp32": "04-export", "int8": "05-quantize", "scores": "06-evaluate", "bench": "08-bench"}
    facts = gather(settings, done)
    assert facts["input_prefix"] == "query: " and facts["data"] == data
    assert facts["label_source"] == "train.csv"
    assert facts["teacher"]["original"] == "intfloat/multilingual-e5-small"
    assert facts["teacher"]["license"] == "MIT"
