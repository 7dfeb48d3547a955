"""Where each cell's baseline record lives, and how other code reads one (standard library only)."""

from __future__ import annotations

import json
from pathlib import Path

from edgedistill.shared_data import PROJECT_ROOT, RAW_TEXT_ALIASES
from edgedistill.tasks.task import LANGUAGE_ALIASES

# Written by benchmarks/studies/baselines.py: one results.json of `edgedistill baseline` per cell.
RECORDS_DIR = PROJECT_ROOT / "benchmarks" / "results" / "baselines"


def record_path(dataset: str, language: str, records_dir: Path | None = None) -> Path:
    """The record file of a cell, e.g. benchmarks/results/baselines/sib200-swh.json."""
    return (records_dir or RECORDS_DIR) / f"{dataset}-{language}.json"


def load_baseline_record(dataset: str, language: str, records_dir: Path | None = None) -> dict | None:
    """The baseline's results for one dataset and language, or None when that cell has no record.

    Swahili is ``swh`` in SIB-200 and ``swa`` elsewhere; either code finds the record.
    """
    codes = (language, LANGUAGE_ALIASES.get(dataset, {}).get(language), RAW_TEXT_ALIASES.get(language))
    for code in codes:
        path = record_path(dataset, code, records_dir) if code else None
        if path is not None and path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
    return None
