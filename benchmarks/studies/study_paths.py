"""Where the studies read and write. A study is a script, `.venv/bin/python benchmarks/studies/<name>.py`
from the project root: Python puts this folder first on sys.path, so studies import this module and each
other by plain name (the tests do the same through tests/studies.py)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the project root
RESULTS = ROOT / "benchmarks" / "results"
