"""Nothing lost: a distillation killed with SIGKILL resumes and ends where an uninterrupted run ends;
a NaN or infinite loss stops fine-tuning and distillation with one sentence and keeps the last good
checkpoint; half-written checkpoints are never resumed from."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from distill_support import tiny_task_config, tiny_teacher  # noqa: E402

from edgedistill.distill.config import DistillConfig, KLTerm  # noqa: E402
from edgedistill.training_guard import last_complete_checkpoint, resume_point  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, fixture_texts) -> Path:
    from edgedistill.fixtures import tiny_tokenizer

    tokenizer = tiny_tokenizer("xlmr", fixture_texts, vocab_size=400)
    return tiny_teacher(tmp_path_factory.mktemp("teacher") / "t", "sequence-classification", tokenizer)


def config_for(teacher: Path, out: Path, **training) -> DistillConfig:
    settings = dict(max_steps=120, batch_size=8, max_length=32, logging_steps=1, eval_batch_size=32,
                    save_steps=6, save_total_limit=20, threads=1, group_by_length=False)
    settings.update(training)
    return tiny_task_config(teacher, out, name="tiny-kill", losses=[KLTerm(weight=1.0, temperature=2.0)],
                            train=64, evaluate=48, **settings)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "edgedistill.cli", *args]


def student_weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


def test_sigkill_mid_run_resumes_and_ends_like_an_uninterrupted_run(teacher, tmp_path, data_dir):
    from edgedistill.distill.run import distill

    straight = distill(config_for(teacher, tmp_path / "straight"), progress=False).results
    config = config_for(teacher, tmp_path / "killed")
    recipe = config.save(tmp_path / "killed.toml")
    checkpoints = tmp_path / "killed.checkpoints"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(cli("distill", str(recipe), "--quiet"), cwd=PROJECT_ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while last_complete_checkpoint(checkpoints) is None and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (tmp_path / "killed").exists()  # no complete-looking output from a killed run
    survivor = last_complete_checkpoint(checkpoints)
    (checkpoints / "checkpoint-999").mkdir()  # what a kill during a checkpoint write leaves behind

    rerun = subprocess.run(cli("distill", str(recipe), "--json"), cwd=PROJECT_ROOT, env=env,
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    resumed = json.loads(rerun.stdout)  # --json alone: nothing but the JSON on stdout
    assert resumed["training"]["resumed_from"] == survivor.name != "checkpoint-120"
    assert resumed["training"]["steps"] == straight["training"]["steps"] == 120
    assert straight["training"]["resumed_from"] is None
    for split in ("dev", "test"):
        assert resumed[split]["macro_f1"] == pytest.approx(straight[split]["macro_f1"], abs=1e-6)
    a, b = student_weights(tmp_path / "straight"), student_weights(tmp_path / "killed")
    for name, value in a.items():
        assert torch.allclose(value, b[name], atol=1e-5), name


def test_half_written_checkpoints_are_not_resumed_from(tmp_path):
    for step, state in ((2, "{}"), (4, '{"trunc'), (6, None)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if state is not None:
            (folder / "trainer_state.json").write_text(state)
    (tmp_path / "checkpoint-x").mkdir()
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-2"
    assert resume_point(tmp_path) == tmp_path / "checkpoint-2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2", "checkpoint-x"]
    assert last_complete_checkpoint(tmp_path / "absent") is None


def assert_one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def assert_finite_checkpoint(checkpoint: Path) -> None:
    for name, value in student_weights(checkpoint).items():
        assert torch.isfinite(value).all(), name


def test_exploding_distillation_stops_and_keeps_the_last_good_checkpoint(teacher, tmp_path, data_dir):
    from click.testing import CliRunner

    from edgedistill.cli import main

    out = tmp_path / "exploded"
    recipe = config_for(teacher, out, max_steps=12, save_steps=1, learning_rate=1e30,
                        keep_checkpoints=True).save(tmp_path / "exploded.toml")
    result = CliRunner().invoke(main, ["distill", str(recipe), "--quiet"])
    line = assert_one_line_error(result, "training stopped at step", "lower the learning rate")
    assert not out.exists()
    kept = last_complete_checkpoint(tmp_path / "exploded.checkpoints")
    assert kept is not None and f"the last good checkpoint, {kept}, was kept" in line
    assert_finite_checkpoint(kept)


def test_non_finite_finetuning_loss_stops_with_one_sentence(tmp_path, fixture_texts, data_dir, monkeypatch):
    """A loss that turns infinite at the third step (as an overflow would) stops the run there."""
    from click.testing import CliRunner

    from edgedistill.cli import main
    from edgedistill.fixtures import tiny_model
    from edgedistill.tasks import finetune as finetune_module

    model_dir = tiny_model("xlmr", "base", texts=fixture_texts, num_layers=1, hidden_size=16, num_heads=2,
                           intermediate_size=32).save(tmp_path / "encoder")
    real_loss = finetune_module._TaskTrainer._loss

    def overflowing(self, model, inputs, num_items_in_batch):
        loss, outputs = real_loss(self, model, inputs, num_items_in_batch)
        return (loss * float("inf") if self.state.global_step >= 2 else loss), outputs

    monkeypatch.setattr(finetune_module._TaskTrainer, "_loss", overflowing)
    out = tmp_path / "run"
    result = CliRunner().invoke(main, [
        "finetune", "--data", "afrisenti", "--lang", "hau", "--model", str(model_dir), "--out", str(out),
        "--max-train-examples", "32", "--max-dev-examples", "16", "--max-test-examples", "16",
        "--batch-size", "16", "--epochs", "2", "--threads", "1", "--keep-checkpoints", "--no-progress"])
    line = assert_one_line_error(result, "training stopped at step 3 because the loss became inf")
    assert not out.exists()
    kept = last_complete_checkpoint(tmp_path / "run.checkpoints")
    assert kept is not None and kept.name == "checkpoint-2" and str(kept) in line
    assert_finite_checkpoint(kept)


def test_weights_that_stop_being_finite_stop_the_run_before_a_checkpoint(tmp_path):
    from transformers import TrainerControl, TrainerState

    from edgedistill.training_guard import NonFiniteTraining, StopOnNonFinite

    model = torch.nn.Linear(2, 2)
    guard = StopOnNonFinite(tmp_path)
    state = TrainerState(global_step=7)
    saving = TrainerControl(should_save=True)
    guard.on_step_end(None, state, saving, model=model)  # finite: nothing happens
    with torch.no_grad():
        model.bias[1] = float("nan")
    guard.on_step_end(None, state, TrainerControl(), model=model)  # nothing is saved at this step
    for control in (saving, TrainerControl(should_evaluate=True), TrainerControl(should_training_stop=True)):
        with pytest.raises(NonFiniteTraining, match="step 7 because the weight bias became NaN or infinite; "
                                                    "no checkpoint had been written yet"):
            guard.on_step_end(None, state, control, model=model)
    model.bias.requires_grad_(False)  # frozen weights are not the optimizer's doing
    guard.on_step_end(None, state, saving, model=model)
