"""The small JSON report every compression operation writes beside the model it produced."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPORT_FILE = "compression-report.json"


@dataclass
class CompressionReport:
    """What one operation did: its config, parameters before and after, and its own details.

    ``history`` holds the reports of the operations that produced the input model, oldest first,
    so a chain (trim, prune, reduce) is readable from the last directory alone.
    """

    operation: str
    headline: str  # one phrase, e.g. "vocabulary trimmed 250,002 -> 40,000 tokens"
    config: dict[str, Any]
    parameters_before: dict[str, Any]
    parameters_after: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def parameter_ratio(self) -> float:
        return self.parameters_after["total"] / self.parameters_before["total"]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "parameter_ratio": round(self.parameter_ratio, 4)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def write(self, path: str | Path) -> Path:
        from edgedistill.atomic import atomic_write_text

        atomic_write_text(path, self.to_json() + "\n")
        return Path(path)

    def summary_lines(self) -> list[str]:
        before, after = self.parameters_before, self.parameters_after
        return [
            f"{self.operation:<18} {self.headline}",
            f"parameters         {before['total']:,} -> {after['total']:,} "
            f"({self.parameter_ratio:.1%} of before)",
            f"  embeddings       {before['embeddings']:,} -> {after['embeddings']:,} "
            f"(share {before['embedding_share']:.1%} -> {after['embedding_share']:.1%})",
            f"  non-embedding    {before['non_embedding']:,} -> {after['non_embedding']:,}",
        ]


def previous_reports(model_dir: str | Path | None) -> list[dict[str, Any]]:
    """The chain of reports that produced ``model_dir`` (empty for an uncompressed model)."""
    if model_dir is None:
        return []
    path = Path(model_dir) / REPORT_FILE
    if not path.is_file():
        return []
    previous = json.loads(path.read_text(encoding="utf-8"))
    return [*previous.pop("history", []), previous]
