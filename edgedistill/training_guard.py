"""What keeps a training run (fine-tuning or distillation) from losing work or saving garbage.

* ``last_complete_checkpoint``: the Hugging Face Trainer writes ``checkpoint-N`` in place and its
  ``trainer_state.json`` last, so a run killed while saving leaves a directory that looks like a
  checkpoint but is not one. Resuming takes the newest checkpoint whose state file is whole and
  deletes newer, half-written ones.
* ``train_resuming``: a rerun of the same run (the same config, saved beside the checkpoints)
  continues from there; a different run refuses the folder rather than mixing the two.
* ``check_loss`` and ``StopOnNonFinite``: a NaN or infinite loss, or weights that became NaN or
  infinite after an optimizer step, stop the run with one sentence before the next checkpoint is
  written, so the checkpoints on disk stay the last good ones. (The Trainer's own
  ``logging_nan_inf_filter`` would hide such losses from the log instead.)
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import torch
from transformers import TrainerCallback

from edgedistill.atomic import atomic_write_text
from edgedistill.errors import EdgedistillError

TRAINER_STATE = "trainer_state.json"
RUN_CONFIG_FILE = "run-config.json"  # in the checkpoint folder, to resume only the same run
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


class NonFiniteTraining(EdgedistillError):
    """The loss or the weights stopped being finite numbers."""


def _checkpoints(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), path) for path in folder.iterdir()
             if path.is_dir() and (m := _CHECKPOINT.match(path.name))]
    return sorted(found)


def _is_complete(checkpoint: Path) -> bool:
    try:
        json.loads((checkpoint / TRAINER_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def last_complete_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint in ``folder`` that was completely written, or None."""
    complete = [path for _, path in _checkpoints(folder) if _is_complete(path)]
    return complete[-1] if complete else None


def resume_point(folder: Path, *, clean: bool = True) -> Path | None:
    """The checkpoint to resume from; with ``clean``, half-written newer ones are removed.

    Under torchrun every process asks, and only the first cleans.
    """
    last = last_complete_checkpoint(folder)
    last_step = int(_CHECKPOINT.match(last.name).group(1)) if last else -1
    for step, path in _checkpoints(folder):
        if clean and step > last_step:
            shutil.rmtree(path, ignore_errors=True)
    return last


def train_resuming(trainer, folder: Path, run_config: dict, *, error: type[EdgedistillError],
                   hint: str) -> tuple[float, Path | None]:
    """Train, resuming from the last complete checkpoint in ``folder`` if it holds this same run.

    Returns the seconds spent training and the checkpoint it resumed from (or None). A folder of a
    different run raises ``error`` naming the folder, followed by ``hint``.
    """
    config_text = json.dumps(run_config, sort_keys=True)
    saved = folder / RUN_CONFIG_FILE
    first = trainer.is_world_process_zero()
    resume = None
    if saved.is_file():
        if saved.read_text(encoding="utf-8") != config_text:
            raise error(f"checkpoint directory {folder} holds a different run; remove it or {hint}")
        resume = resume_point(folder, clean=first)
    if first:
        atomic_write_text(saved, config_text)
    started = time.time()
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    return time.time() - started, resume


def _stopped(what: str, step: int, folder: Path) -> NonFiniteTraining:
    kept = last_complete_checkpoint(folder)
    where = f"the last good checkpoint, {kept}, was kept" if kept else "no checkpoint had been written yet"
    return NonFiniteTraining(f"training stopped at step {step} because {what}; {where}, and nothing was "
                             f"written to the output directory (lower the learning rate, then remove "
                             f"{folder} to start again)")


def check_loss(loss: torch.Tensor, step: int, folder: Path) -> None:
    """Raise NonFiniteTraining if ``loss`` (the loss of optimizer step ``step``) is NaN or infinite."""
    if not bool(torch.isfinite(loss.detach()).all()):
        raise _stopped(f"the loss became {float(loss.detach().float().sum())}", step, folder)


class StopOnNonFinite(TrainerCallback):
    """Before a checkpoint is saved, an evaluation or the end of training: are the trained weights finite?

    Between saves there is no need to look (it costs ~3% of a small student's step): a weight that
    turns NaN makes the next step's loss NaN, which check_loss stops on.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        # The Trainer's flow callback runs first and has already decided whether this step saves.
        about_to_keep = control.should_save or control.should_evaluate or control.should_training_stop
        if model is None or not about_to_keep:
            return control
        for name, parameter in model.named_parameters():
            if parameter.requires_grad and not bool(torch.isfinite(parameter.detach()).all()):
                raise _stopped(f"the weight {name} became NaN or infinite", state.global_step, self.folder)
        return control
