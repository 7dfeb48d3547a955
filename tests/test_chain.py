"""`edgedistill run` end to end on a tiny model and a slice of AfriSenti Hausa: every stage, the
report, reuse of finished stages, reruns after a change, resuming after an interruption."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from edgedistill.chain.plan import apply_language  # noqa: E402
from edgedistill.chain.run import resolve_recipe, run_chain  # noqa: E402
from edgedistill.chain.runner import RECORD_FILE, WORK_FOLDER  # noqa: E402

STAGES = ["01-teacher", "02-distill", "03-trim-vocab", "04-export", "05-quantize", "06-evaluate",
          "07-baseline", "08-bench", "09-report"]

RECIPE = """
name = "tiny-chain"
[teacher]
model = "{teacher}"
[teacher.finetune]
epochs = 1.0
max_train_examples = 48
max_dev_examples = 24
batch_size = 16
[data]
max_train_examples = 48
max_eval_examples = 40
[data.task]
dataset = "afrisenti"
language = "hau"
[student]
init = "fresh"
num_layers = 1
hidden_size = 16
num_heads = 2
intermediate_size = 32
embeddings = "project"
[[losses]]
type = "kl"
weight = 0.5
temperature = 2.0
[[losses]]
type = "attention"
weight = 0.5
[training]
max_steps = 3
batch_size = 16
max_length = 32
logging_steps = 1
eval_batch_size = 32
[[next]]
step = "trim-vocab"
target_size = 300
languages = ["hau"]
max_sentences = 200
[[next]]
step = "export"
max_drop = 100.0  # a 16-wide random student: the gate is exercised, not judged
dev_limit = 40
[[next]]
step = "bench"
rounds = 1
warmup = 0
iterations = 2
seq_len = 32
"""


@pytest.fixture(scope="module", autouse=True)
def one_baseline_candidate():
    """The chain's baseline stage fits its model on the whole training split: one candidate, not a grid."""
    from edgedistill.baselines import models

    with pytest.MonkeyPatch.context() as patch:
        for kind, grid in list(models.GRIDS.items()):
            patch.setitem(models.GRIDS, kind, {name: values[:1] for name, values in grid.items()})
        yield


@pytest.fixture(scope="module")
def recipe(tmp_path_factory, fixture_texts) -> Path:
    from edgedistill.fixtures import tiny_model, tiny_tokenizer

    folder = tmp_path_factory.mktemp("chain")
    tokenizer = tiny_tokenizer("xlmr", fixture_texts, vocab_size=400)
    teacher = tiny_model("xlmr", "base", tokenizer=tokenizer, num_layers=2, hidden_size=32, num_heads=4,
                         intermediate_size=64).save(folder / "teacher")
    path = folder / "tiny.toml"
    path.write_text(RECIPE.format(teacher=teacher), encoding="utf-8")
    return path


def run(recipe: Path, out: Path, *settings: str) -> list[str]:
    lines: list[str] = []
    run_chain(resolve_recipe(str(recipe), settings=settings), out, progress=False, log=lines.append)
    return lines


def ran(lines: list[str]) -> list[str]:
    """Names of the stages a run carried out (not reused), from its progress lines."""
    return [STAGES[int(line[1:].split("/")[0]) - 1] for line in lines if line.endswith("... running")
            or "... running (" in line]


@pytest.fixture(scope="module")
def first(recipe, tmp_path_factory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("first") / "out"
    return out, run(recipe, out)


def copy_of(first, tmp_path: Path) -> Path:
    return Path(shutil.copytree(first[0], tmp_path / "out"))


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_first_run_makes_every_stage_in_its_folder(first):
    out, lines = first
    assert ran(lines) == STAGES
    assert sorted(p.name for p in out.iterdir()) == STAGES  # the work folder is gone
    for name in STAGES:
        assert read(out / name / RECORD_FILE)["name"] == name
    assert lines[1].startswith("[1/9] fine-tune the teacher ... running")
    assert any(line.startswith("[9/9] report and model card ... done in") for line in lines)


def test_report_plot_and_model_card_quote_the_results_files(first):
    from edgedistill.runtime import Predictor

    out, _ = first
    report = (out / "09-report" / "report.md").read_text()
    teacher_test = read(out / "01-teacher" / "results.json")["test"]["macro_f1"]
    scores = read(out / "06-evaluate" / "scores.json")
    bench = read(out / "08-bench" / "bench.json")["summary"]
    assert f"| teacher (PyTorch FP32) | {teacher_test:.4f} |" in report
    assert f"| student bundle ONNX INT8 | {scores['bundles']['int8']:.4f} |" in report
    assert f"| student-onnx-int8 | {bench['student-onnx-int8']['p50_ms']:.2f} |" in report
    assert scores["examples"] == 40 == read(out / "01-teacher" / "results.json")["data"]["test_used"]
    retention = scores["bundles"]["int8"] / teacher_test
    assert f"{retention:.1%}" in report
    assert (out / "09-report" / "report.png").stat().st_size > 10_000
    card = (out / "09-report" / "bundle" / "README.md").read_text()
    assert f"this bundle {scores['bundles']['int8']:.4f}, the teacher {teacher_test:.4f}" in card
    assert "vocabulary 300 tokens" in card
    baseline = read(out / "07-baseline" / "results.json")
    assert baseline["data"]["test_used"] == 40  # the bundles' test sample, not the whole split
    gap = 100 * (scores["bundles"]["int8"] - baseline["test"]["macro_f1"])
    side = "ahead of" if gap >= 0 else "behind"
    assert f"This INT8 bundle is {side} the baseline (TF-IDF" in card
    assert f"by {abs(gap):.1f} points of test macro_f1" in report
    predictor = Predictor(out / "09-report" / "bundle")  # hashes still match beside the README
    assert predictor.classify(["Ina son wannan waka sosai"])[0].label in ("negative", "neutral", "positive")


def test_the_results_table_takes_its_numbers_from_the_runs(first, recipe, tmp_path):
    from results_table import write_table
    from teacher_baselines import Cell

    cell = Cell("afrisenti", "hau")
    shutil.copytree(first[0], tmp_path / "runs" / "comet-afrisenti-hau")
    shutil.copytree(first[0], tmp_path / "runs" / "cruz-afrisenti-hau")
    settings = {"comet": [], "cruz": ["next[0].target_size=250"]}  # cruz's run has other settings
    write_table(tmp_path / "runs", [cell], ["comet", "cruz", "gurgurov"], tmp_path / "table",
                lambda student, _: resolve_recipe(str(recipe), settings=settings.get(student, [])))
    table = (tmp_path / "table" / "chain_table.md").read_text()
    teacher_test = read(first[0] / "01-teacher" / "results.json")["test"]["macro_f1"]
    int8 = read(first[0] / "06-evaluate" / "scores.json")["bundles"]["int8"]
    assert f"| afrisenti-hau | teacher FP32 (PyTorch) | {teacher_test:.4f} | 100.0 |" in table
    assert f"| afrisenti-hau | comet INT8 | {int8:.4f} | {100 * int8 / teacher_test:.1f} |" in table
    assert ("Missing runs (2): cruz-afrisenti-hau (made with other settings), gurgurov-afrisenti-hau."
            in table)
    assert "| comet INT8 | 1 |" in table  # the targets summary counts the one finished run
    rows = read(tmp_path / "table" / "chain_table.json")["rows"]
    assert [r["model"] for r in rows] == ["teacher FP32 (PyTorch)", "comet FP32", "comet INT8"]
    assert all(r["size_bytes"] and r["latency_ratio"] for r in rows)
    assert (tmp_path / "table" / "chain_table.png").is_file()


def test_a_run_counts_from_its_record_once_its_folder_is_gone_until_its_settings_change(first, recipe,
                                                                                          tmp_path):
    from results_table import write_table
    from teacher_baselines import Cell

    cell, runs, out = Cell("afrisenti", "hau"), tmp_path / "runs", tmp_path / "table"
    shutil.copytree(first[0], runs / "comet-afrisenti-hau")
    settings = {"comet": []}

    def table() -> str:
        write_table(runs, [cell], ["comet"], out,
                    lambda student, _: resolve_recipe(str(recipe), settings=settings[student]))
        return (out / "chain_table.md").read_text()

    from_the_run = table()
    record = read(out / "chain_runs" / "comet-afrisenti-hau.json")
    assert [row["model"] for row in record["rows"]] == ["teacher FP32 (PyTorch)", "comet FP32", "comet INT8"]
    shutil.rmtree(runs)
    assert table() == from_the_run  # the record alone gives the same table
    settings["comet"] = ["next[0].target_size=250"]
    assert "Missing runs (1): comet-afrisenti-hau (made with other settings)." in table()


def test_a_student_taught_by_another_teacher_gets_its_own_teacher_row(tmp_path):
    from results_table import write_record, write_table
    from teacher_baselines import Cell

    cell, records = Cell("sib200", "yor"), tmp_path / "table" / "chain_runs"

    def row(model: str, metric: float, retention: float) -> dict:
        return {"cell": cell.name, "model": model, "metric": metric, "retention": retention,
                "parameters": 1000, "size_bytes": 4000 if model.startswith("teacher") else 100,
                "latency_ratio": 1.0 if model.startswith("teacher") else 0.05, "rss_ratio": 0.2}

    for student, teacher in (("comet", 0.6), ("cruz", 0.5)):
        write_record(records, student, cell, "key", [row("teacher FP32 (PyTorch)", teacher, 1.0),
                                                      row(f"{student} FP32", 0.45, 0.45 / teacher),
                                                      row(f"{student} INT8", 0.45, 0.45 / teacher)])
    write_table(tmp_path / "no-runs", [cell], ["comet", "cruz"], tmp_path / "table",
                lambda student, _: None, key_for=lambda student, _: "key")
    table = (tmp_path / "table" / "chain_table.md").read_text()
    assert "| sib200-yor | teacher FP32 (PyTorch) | 0.6000 | 100.0 |" in table
    assert "| sib200-yor | comet INT8 | 0.4500 | 75.0 |" in table
    assert "| sib200-yor | teacher FP32 (PyTorch) for cruz | 0.5000 | 100.0 |" in table
    assert "| sib200-yor | cruz INT8 | 0.4500 | 90.0 |" in table
    assert "| all INT8 students | 2 | 82.5 |" in table


def test_teacher_baselines_read_a_cell_from_its_copy_once_its_folder_is_gone(tmp_path):
    from teacher_baselines import load_results

    runs, records = tmp_path / "teachers", tmp_path / "teacher_runs"
    (runs / "sib200-yor").mkdir(parents=True)
    (runs / "sib200-yor" / "results.json").write_text(json.dumps({"test": {"macro_f1": 0.62}}))
    assert load_results(runs, records) == {"sib200-yor": {"test": {"macro_f1": 0.62}}}
    shutil.rmtree(runs)
    assert load_results(runs, records) == {"sib200-yor": {"test": {"macro_f1": 0.62}}}
    assert load_results(runs, tmp_path / "elsewhere") == {}


def test_a_second_run_reuses_every_stage(first, recipe, tmp_path):
    out = copy_of(first, tmp_path)
    lines = run(recipe, out)
    assert ran(lines) == []
    assert sum("... reused (" in line for line in lines) == len(STAGES)


def test_run_json_reports_every_stage_from_the_cli(first, recipe, tmp_path):
    from click.testing import CliRunner

    from edgedistill.cli import main

    out = copy_of(first, tmp_path)
    result = CliRunner().invoke(main, ["run", str(recipe), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert list(payload["stages"]) == STAGES and all(s["reused"] for s in payload["stages"].values())
    assert payload["bundle"] == str(out / STAGES[-1] / "bundle")
    assert payload["stages"]["06-evaluate"]["summary"]["headline"].startswith("test macro_f1: FP32 ")


def test_a_changed_setting_reruns_that_stage_and_the_ones_after_only(first, recipe, tmp_path):
    out = copy_of(first, tmp_path)
    lines = run(recipe, out, "next[0].target_size=250")
    assert ran(lines) == STAGES[2:]
    assert "(its inputs changed)" in lines[3]
    assert read(out / "04-export" / "edgedistill.json")["vocab_size"] == 250


def test_a_stage_interrupted_in_training_resumes_from_its_checkpoint(first, recipe, tmp_path, monkeypatch):
    import edgedistill.distill.run as distill_run

    out = tmp_path / "out"
    out.mkdir()
    shutil.copytree(first[0] / "01-teacher", out / "01-teacher")

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt  # as Ctrl-C after the last training step, before scoring

    with monkeypatch.context() as patch:
        patch.setattr(distill_run, "_evaluate", stopped)
        with pytest.raises(KeyboardInterrupt):
            run(recipe, out)
    assert not (out / "02-distill").exists()
    checkpoints = list((out / WORK_FOLDER).glob("02-distill-*/out.checkpoints/checkpoint-*"))
    assert checkpoints, "the interrupted stage keeps its checkpoints in the work folder"
    lines = run(recipe, out)
    assert ran(lines) == STAGES[1:]
    assert read(out / "02-distill" / "results.json")["training"]["steps"] == 3
    assert (out / "09-report" / "report.md").is_file() and not (out / WORK_FOLDER).exists()


def test_a_half_written_stage_folder_is_never_taken_as_finished(first, recipe, tmp_path):
    out = copy_of(first, tmp_path)
    (out / "03-trim-vocab" / RECORD_FILE).unlink()  # the files are there, the record is not
    (out / "09-report" / RECORD_FILE).write_text('{"name": "09-report", "fingerr')  # cut off
    lines = run(recipe, out)
    assert ran(lines) == ["03-trim-vocab", "09-report"]  # same inputs again: what follows trim stays valid


STEPS = """
[[next]]
step = "prune-ffn"
ffn_size = 32
batches = 2
max_sentences = 50
[[next]]
step = "distill"
name = "tiny-round2"
[next.student]
init = "reduce-hidden"
hidden_size = 16
[[next]]
step = "finetune"
epochs = 1.0
batch_size = 16
max_train_examples = 32
[[next]]
step = "trim-vocab"
target_size = 300
max_sentences = 200
"""


def test_every_kind_of_next_step_runs_in_order_on_a_tagger(recipe, tmp_path):
    """Gurgurov's order on a tiny MasakhaNER tagger: layers kept from the teacher, FFN pruning, a second
    round from a narrower copy of the pruned model, a fine-tuned student, a trimmed vocabulary."""
    text = recipe.read_text().replace('init = "fresh"', 'init = "teacher-layers"')
    text = text.replace('dataset = "afrisenti"', 'dataset = "masakhaner"')
    text = text.replace("[[next]]\nstep = \"trim-vocab\"\ntarget_size = 300\nlanguages = [\"hau\"]\n"
                        "max_sentences = 200\n", STEPS)
    full = tmp_path / "full.toml"
    full.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    run(full, out)
    names = sorted(p.name for p in out.iterdir())
    assert names[:6] == ["01-teacher", "02-distill", "03-prune-ffn", "04-distill-2", "05-finetune",
                         "06-trim-vocab"]
    second = read(out / "04-distill-2" / "results.json")
    assert second["config"]["teacher"]["model"] == str(out / "03-prune-ffn")
    assert second["student"]["shape"]["hidden_size"] == 16
    manifest = read(out / "08-quantize" / "edgedistill.json")
    assert manifest["architecture"]["intermediate_size"] == 32 and manifest["vocab_size"] == 300
    facts = read(out / "12-report" / "facts.json")
    assert facts["metric"] == "entity_f1" and facts["task"] == "token-classification"
    assert facts["student"]["stage"] == "05-finetune"
    assert facts["student"]["test"] == read(out / "05-finetune" / "results.json")["test"]["entity_f1"]
    scores = read(out / "09-evaluate" / "scores.json")
    assert scores["examples"] == 40 and all(0 <= v <= 1 for v in scores["bundles"].values())


def test_lang_sets_the_data_and_the_text_of_the_steps(recipe):
    config = resolve_recipe(str(recipe), lang="yor")
    assert config.data.task.language == "yor"
    assert config.next[0].options["languages"] == ["yor"]
    values = apply_language({"data": {"raw": {"language": "hau"}}, "next": []}, "swa")
    assert values["data"]["raw"]["language"] == "swa"


@pytest.mark.parametrize("args, message", [
    (["--set", "next[1].bogus=1"], "the export step has no key 'bogus'"),
    (["--set", "teacher.finetune.epoch=1"], "unknown key teacher.finetune.epoch"),
    (["--set", "next[2].round=1"], "the bench step has no key 'round'"),
])
def test_bad_settings_are_one_sentence(recipe, tmp_path, args, message):
    from click.testing import CliRunner

    from edgedistill.cli import main

    result = CliRunner().invoke(main, ["run", str(recipe), "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_missing_data_names_where_it_was_looked_for(recipe, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from edgedistill.cli import main

    monkeypatch.setenv("EDGEDISTILL_DATA", str(tmp_path / "nowhere"))
    result = CliRunner().invoke(main, ["run", str(recipe), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "EDGEDISTILL_DATA points to" in result.output


@pytest.mark.parametrize("which", ["results", "shipping"])
def test_the_vocabulary_sweep_changes_only_the_trim_size(tmp_path, which):
    from teacher_baselines import Cell
    from vocab_sweep import TABLES, sized_config

    cell = Cell("sib200", "swh")
    for student in TABLES[which].students:
        table = TABLES[which].config(student, cell, tmp_path).to_dict()
        sized = sized_config(student, cell, tmp_path, 12345, which)
        trim = next(i for i, step in enumerate(sized.next) if step.step == "trim-vocab")
        assert table["next"][trim]["target_size"] == 40000
        assert sized.next[trim].options["target_size"] == 12345
        table["next"][trim]["target_size"] = 12345
        assert sized.to_dict() == table



def test_the_vocabulary_sweep_refuses_a_student_of_another_table(capsys):
    from vocab_sweep import main

    with pytest.raises(SystemExit) as stop:
        main(["--table", "shipping", "--student", "comet", "--cell", "masakhaner-hau"])
    assert str(stop.value).startswith("Error: the shipping table has no student 'comet'")

def test_a_trim_step_can_count_the_task_training_texts_as_the_model_reads_them(first, recipe, tmp_path):
    from edgedistill.chain import steps
    from edgedistill.chain.plan import ChainOptions, build_stages
    from edgedistill.config import ConfigError
    from edgedistill.tasks import DataSpec, load_task

    task_info = read(first[0] / "02-distill" / steps.TASK_FILE)
    model = tmp_path / "model"
    model.mkdir()
    (model / steps.TASK_FILE).write_text(json.dumps({**task_info, "text_prefix": "query: "}))
    train = load_task(DataSpec("afrisenti", "hau"), splits=("train",)).split("train").examples
    assert steps.task_texts(model) == ["query: " + example.text for example in train]
    config = resolve_recipe(str(recipe), settings=["next[0].task_text=true"])
    trim = build_stages(config, ChainOptions(out=tmp_path))[2]
    assert trim.settings["text"]["task_text"] is True
    with pytest.raises(ConfigError, match=r"next\[0\]\.task_text must be true or false, got str 'yes'"):
        resolve_recipe(str(recipe), settings=['next[0].task_text="yes"'])

