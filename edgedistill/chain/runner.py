"""Stages of a chain: each has its own folder under OUT, a record with a fingerprint, and is reused or redone.

A stage's fingerprint hashes its settings together with the fingerprint of the stage before it, so
a changed setting changes that stage's fingerprint and every later one. A stage works in
``OUT/.work/<name>-<fingerprint>/`` (where the trainers keep their checkpoints, so an interrupted
stage resumes there) and its folder ``OUT/<name>`` appears by one rename once it is complete, with
``stage.json`` inside. A folder without a matching ``stage.json`` is never taken as finished.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgedistill.atomic import replace_directory

RECORD_FILE = "stage.json"
WORK_FOLDER = ".work"
Log = Callable[[str], None]


@dataclass
class Stage:
    """One step of the chain: ``execute(work_out, done)`` writes its product to ``work_out``.

    ``done`` maps the names of earlier stages to their records. ``execute`` must be idempotent:
    when ``work_out`` already exists (a previous attempt finished it but was stopped before the
    rename) it only reads it back. It returns the numbers the report needs.
    """

    name: str
    title: str
    settings: dict[str, Any]
    execute: Callable[[Path, dict[str, StageRecord]], dict[str, Any]]
    note: str = ""  # why the stage runs as it does (shown, not part of the fingerprint)


@dataclass
class StageRecord:
    name: str
    fingerprint: str
    folder: Path
    settings: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    reused: bool = False

    @property
    def model(self) -> Path:
        """The model or bundle the stage produced: its folder, or a directory outside it."""
        return Path(self.summary.get("model_outside") or self.folder)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "fingerprint": self.fingerprint, "settings": self.settings,
                "summary": self.summary, "seconds": round(self.seconds, 1),
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def fingerprint(name: str, settings: dict[str, Any], upstream: str) -> str:
    text = json.dumps({"stage": name, "settings": settings, "upstream": upstream}, sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_record(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _stamped(stages: list[Stage]) -> Iterator[tuple[Stage, str]]:
    """Each stage with its fingerprint, which covers its settings and every stage before it."""
    upstream = ""
    for stage in stages:
        upstream = fingerprint(stage.name, stage.settings, upstream)
        yield stage, upstream


def finished(stages: list[Stage], out: Path) -> bool:
    """Whether ``out`` holds every stage made with exactly these settings (nothing would run again)."""
    return all((read_record(out / stage.name) or {}).get("fingerprint") == stamp
               for stage, stamp in _stamped(stages))


def run_stages(stages: list[Stage], out: Path, log: Log = print) -> dict[str, StageRecord]:
    """Run or reuse every stage in order; a line per stage says which, and how long it took."""
    out.mkdir(parents=True, exist_ok=True)
    done: dict[str, StageRecord] = {}
    for index, (stage, stamp) in enumerate(_stamped(stages), start=1):
        label = f"[{index}/{len(stages)}] {stage.title}"
        folder = out / stage.name
        saved = read_record(folder)
        if saved and saved.get("fingerprint") == stamp:
            record = StageRecord(stage.name, stamp, folder, stage.settings, saved.get("summary", {}),
                                 saved.get("seconds", 0.0), reused=True)
            log(f"{label} ... reused ({folder}, made in {_duration(record.seconds)})")
        else:
            reasons = [reason for reason in ("its inputs changed" if saved else "", stage.note) if reason]
            log(f"{label} ... running" + (f" ({'; '.join(reasons)})" if reasons else ""))
            record = _run(stage, stamp, folder, out, done)
            log(f"{label} ... done in {_duration(record.seconds)} -> {folder}")
        done[stage.name] = record
    # Every stage is finished: what is left in the work folder belongs to settings given up on
    # (checkpoints of an interrupted stage whose inputs then changed), and can be large.
    shutil.rmtree(out / WORK_FOLDER, ignore_errors=True)
    return done


def describe(stages: list[Stage], out: Path) -> list[str]:
    """Every stage with what would happen to it, why, the earlier stages it reads and its settings."""
    lines, names = [], [stage.name for stage in stages]
    for index, (stage, stamp) in enumerate(_stamped(stages), start=1):
        saved = read_record(out / stage.name)
        status = ("would be reused" if saved and saved.get("fingerprint") == stamp else
                  "would run again (its inputs changed)" if saved else "would run")
        lines.append(f"[{index}/{len(stages)}] {stage.name}: {stage.title} ({status})")
        if stage.note:
            lines.append(f"      why: {stage.note}")
        inputs = [name for name in names[: index - 1] if _mentions(stage.settings, name)]
        lines.append(f"      inputs: {', '.join(inputs) or 'none from earlier stages'}")
        lines += [f"      {key} = {json.dumps(value, ensure_ascii=False)}"
                  for key, value in _flat(stage.settings) if value is not None]  # None: the default
    return lines


def _mentions(value: Any, name: str) -> bool:
    if isinstance(value, dict):
        return any(_mentions(v, name) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, name) for v in value)
    return value == name


def _flat(settings: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested settings as dotted keys, e.g. finetune.data.train."""
    for key, value in settings.items():
        if isinstance(value, dict) and value:
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _run(stage: Stage, stamp: str, folder: Path, out: Path, done: dict[str, StageRecord]) -> StageRecord:
    work = out / WORK_FOLDER / f"{stage.name}-{stamp}"
    work.mkdir(parents=True, exist_ok=True)
    product = work / "out"
    started = time.time()
    summary = stage.execute(product, done)
    product.mkdir(exist_ok=True)  # a stage that only points elsewhere has nothing of its own
    record = StageRecord(stage.name, stamp, folder, stage.settings, summary, time.time() - started)
    (product / RECORD_FILE).write_text(json.dumps(record.to_dict(), indent=2, ensure_ascii=False) + "\n")
    replace_directory(product, folder)
    shutil.rmtree(work, ignore_errors=True)
    return record


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
