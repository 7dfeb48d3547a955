"""`edgedistill run` on the user's own data, as a new user would: a CSV task in a language the data
folder has no raw text for (Tagalog), from the command line alone; the plan printed first (--dry-run);
every input checked before any stage; a teacher reused only for the very same files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")

from edgedistill.cli import main  # noqa: E402

POSITIVE = ["maganda", "masaya", "masarap", "mahal", "magaling", "salamat", "mabait", "malinis"]
NEGATIVE = ["pangit", "malungkot", "nakakainis", "sira", "mabagal", "marumi", "masama", "mahirap"]
FILLER = ["ang", "araw", "pagkain", "pelikula", "guro", "bahay", "trabaho", "kaibigan", "ngayon", "dito"]

RECIPE = """
name = "tiny-user-data"
[teacher]
model = "{teacher}"
[teacher.finetune]
epochs = 1.0
batch_size = 16
[data]
max_eval_examples = 24
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
weight = 1.0
[training]
max_steps = 2
batch_size = 16
max_length = 32
logging_steps = 1
eval_batch_size = 32
[[next]]
step = "prune-ffn"
ffn_size = 16
batches = 2
[[next]]
step = "trim-vocab"
target_size = 300
languages = ["hau"]
[[next]]
step = "export"
max_drop = 100.0
[[next]]
step = "bench"
rounds = 1
warmup = 0
iterations = 2
seq_len = 32
"""


def write_csv(path: Path, rows: int, seed: int) -> Path:
    """Tagalog-like sentences; the label is in the words, so a model can learn it."""
    rng = random.Random(seed)
    lines = ["sentence,sentiment"]
    for index in range(rows):
        label = "positibo" if index % 2 == 0 else "negatibo"
        words = rng.sample(POSITIVE if label == "positibo" else NEGATIVE, 2) + rng.sample(FILLER, 3)
        rng.shuffle(words)
        lines.append(f"{' '.join(words)},{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, fixture_texts) -> Path:
    from edgedistill.fixtures import tiny_model, tiny_tokenizer

    tokenizer = tiny_tokenizer("xlmr", fixture_texts, vocab_size=400)
    return tiny_model("xlmr", "base", tokenizer=tokenizer, num_layers=2, hidden_size=32, num_heads=4,
                      intermediate_size=64).save(tmp_path_factory.mktemp("teacher") / "teacher")


@pytest.fixture(scope="module")
def recipe(tmp_path_factory, teacher) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "tiny.toml"
    path.write_text(RECIPE.format(teacher=teacher), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tagalog")
    return {split: write_csv(folder / f"{split}.csv", rows, seed)
            for split, rows, seed in (("train", 64, 1), ("dev", 24, 2), ("test", 24, 3))}


def csv_options(data: dict[str, Path]) -> list[str]:
    return ["--data", "csv", "--train", str(data["train"]), "--dev", str(data["dev"]), "--test",
            str(data["test"]), "--text-column", "sentence", "--label-column", "sentiment", "--lang", "tgl"]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def refused(result, *fragments: str) -> str:
    """Exit 1, one `Error:` line holding the fragments, no traceback."""
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------- the plan, before anything runs
def test_dry_run_prints_every_stage_and_writes_nothing(recipe, data, tmp_path):
    out = tmp_path / "run"
    result = cli("run", recipe, *csv_options(data), "--out", out, "--dry-run")
    assert result.exit_code == 0, result.output
    assert not out.exists()
    text = result.stdout
    names = ["01-teacher", "02-distill", "03-prune-ffn", "04-trim-vocab", "05-export", "06-quantize",
             "07-evaluate", "08-baseline", "09-bench", "10-report"]
    for index, name in enumerate(names, start=1):
        assert f"[{index}/10] {name}: " in text
    assert "(would run)" in text and "dry run: nothing is trained or written" in text
    assert f'finetune.data.train = "{data["train"]}"' in text
    assert 'finetune.data.text_column = "sentence"' in text and "finetune.epochs = 1.0" in text
    trim = text[text.index("04-trim-vocab"):text.index("05-export")]
    assert "why: text: the task's training text (no raw text for tgl)" in trim
    assert "inputs: 03-prune-ffn" in trim and "text.task_text = true" in trim
    assert "text.languages = []" in trim


@pytest.mark.parametrize("problem, expected", [
    ("no test file", "the task csv-tgl has no test split: give --test FILE"),
    ("a bad line", "expected 2 comma-separated fields"),
    ("a missing text file", "does not exist"),
    ("raw text in a language without any", "data.raw: no raw text for language 'tgl'"),
])
def test_every_input_is_checked_before_any_stage(recipe, data, tmp_path, problem, expected):
    options, out = csv_options(data), tmp_path / "run"
    if problem == "no test file":
        options = options[:6] + options[8:]
    elif problem == "a bad line":
        bad = tmp_path / "bad.csv"
        bad.write_text(data["train"].read_text() + "three,fields,here\n", encoding="utf-8")
        options[options.index("--train") + 1] = str(bad)
    elif problem == "a missing text file":
        options += ["--set", f'next[1].files=["{tmp_path / "absent.txt"}"]']
    else:  # a recipe that distils on raw text, then fine-tunes on the task
        raw = tmp_path / "raw.toml"
        text = recipe.read_text().replace('[data.task]\ndataset = "afrisenti"\nlanguage = "hau"',
                                          '[data.raw]\nlanguage = "hau"')
        raw.write_text(text.replace('[[next]]\nstep = "export"', '[[next]]\nstep = "finetune"\nepochs = 1.0\n'
                                    '[[next]]\nstep = "export"'), encoding="utf-8")
        recipe = raw
    refused(cli("run", recipe, *options, "--out", out), expected)
    assert not out.exists()


def test_compression_without_any_text_counts_the_task_training_text(recipe, data, tmp_path):
    """A CSV task with no language at all: the compression steps count its training text."""
    options = csv_options(data)[:-2]  # no --lang
    result = cli("run", recipe, *options, "--out", tmp_path / "run", "--dry-run")
    assert result.exit_code == 0, result.output
    prune = result.stdout[result.stdout.index("03-prune-ffn"):result.stdout.index("04-trim-vocab")]
    assert "why: text: the task's training text" in prune and "text.task_text = true" in prune


# ------------------------------------------------------------------------- teacher reuse
def fine_tuned_on(teacher: Path, folder: Path, spec: dict, *, identity: bool = True) -> Path:
    """A copy of ``teacher`` whose task file says it was fine-tuned on ``spec`` (as finetune writes it)."""
    import shutil

    from edgedistill.tasks.identity import data_identity

    copy = Path(shutil.copytree(teacher, folder))
    info = {"data": spec, **({"data_identity": data_identity(spec)} if identity else {})}
    (copy / "edgedistill-task.json").write_text(json.dumps(info))
    return copy


def teacher_stage(recipe: Path, data: dict, teacher: Path, tmp_path: Path) -> str:
    result = cli("run", recipe, *csv_options(data), "--teacher", teacher, "--out", tmp_path / "run",
                 "--dry-run")
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()[1]


def spec_of(data: dict) -> dict:
    return {"dataset": "csv", "language": "tgl", "train": str(data["train"]), "dev": str(data["dev"]),
            "test": str(data["test"]), "text_column": "sentence", "label_column": "sentiment"}


def test_a_teacher_is_reused_only_for_the_same_files(recipe, data, teacher, tmp_path):
    same = fine_tuned_on(teacher, tmp_path / "same", spec_of(data))
    assert "teacher (used as it is) (would run)" in teacher_stage(recipe, data, same, tmp_path)

    other = {split: write_csv(tmp_path / f"other-{split}.csv", 24, 7) for split in ("train", "dev", "test")}
    on_other = fine_tuned_on(teacher, tmp_path / "other", spec_of(other))
    assert "fine-tune the teacher" in teacher_stage(recipe, data, on_other, tmp_path)

    changed_data = {split: Path(str(path)) for split, path in data.items()}
    moved = tmp_path / "changed"
    moved.mkdir()
    for split, path in data.items():
        changed_data[split] = moved / path.name
        changed_data[split].write_bytes(path.read_bytes())
    before = fine_tuned_on(teacher, tmp_path / "before-change", spec_of(changed_data))
    write_csv(changed_data["train"], 64, 99)  # the same path, other contents
    assert "fine-tune the teacher" in teacher_stage(recipe, changed_data, before, tmp_path)

    unrecorded = fine_tuned_on(teacher, tmp_path / "unrecorded", spec_of(data), identity=False)
    assert "fine-tune the teacher" in teacher_stage(recipe, data, unrecorded, tmp_path)

    # Built-in data is named by dataset and language: teachers recorded before identities still count.
    from edgedistill.chain.plan import _needs_finetune
    from edgedistill.distill.config import DistillConfig

    legacy = fine_tuned_on(teacher, tmp_path / "legacy", {"dataset": "afrisenti", "language": "hau"},
                           identity=False)
    config = DistillConfig.from_dict({"teacher": {"model": str(legacy)},
                                      "data": {"task": {"dataset": "afrisenti", "language": "hau"}}})
    assert not _needs_finetune(config)
    config.data.task.language = "yor"
    assert _needs_finetune(config)




# ------------------------------------------------------------------------- end to end, from the CLI alone
def test_a_csv_task_in_a_language_without_raw_text_runs_end_to_end(recipe, data, tmp_path, monkeypatch):
    from edgedistill.baselines import models
    from edgedistill.runtime import Predictor

    for kind, grid in list(models.GRIDS.items()):  # one baseline candidate, not a grid
        monkeypatch.setitem(models.GRIDS, kind, {name: values[:1] for name, values in grid.items()})
    out = tmp_path / "run"
    result = cli("run", recipe, *csv_options(data), "--out", out, "--quiet")
    assert result.exit_code == 0, (result.output, result.exception)
    assert "no raw text for tgl" in result.stderr  # the trim and prune lines say what they counted
    assert sorted(p.name for p in out.iterdir())[-1] == "10-report"
    trained_on = len(data["train"].read_text().splitlines()) - 1
    for stage in ("03-prune-ffn", "04-trim-vocab"):
        assert read(out / stage / "stage.json")["settings"]["text"]["task_text"] is True
    trim = read(out / "04-trim-vocab" / "compression-report.json")
    assert trim["details"]["counted_texts"] == trained_on
    teacher_task = read(out / "01-teacher" / "edgedistill-task.json")
    assert teacher_task["data_identity"]["files"]["train"]["path"] == str(data["train"])
    bundle = out / "10-report" / "bundle"
    predictor = Predictor(bundle)
    assert set(predictor.manifest.labels) == {"positibo", "negatibo"}
    assert predictor.classify(["maganda ang araw"])[0].label in ("positibo", "negatibo")
    assert (out / "10-report" / "report.md").is_file()
