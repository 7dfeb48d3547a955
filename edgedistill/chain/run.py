"""``run_chain``: resolve a recipe with the command line's settings, plan its stages and run them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistill.chain.plan import ChainOptions, apply_language, build_stages, with_task_data
from edgedistill.chain.runner import Log, StageRecord, describe, run_stages
from edgedistill.distill.config import DistillConfig

DEFAULT_RUNS = Path("runs/chain")


@dataclass
class ChainResult:
    out: Path
    records: dict[str, StageRecord]

    @property
    def report(self) -> Path:
        return list(self.records.values())[-1].folder / "report.md"

    @property
    def bundle(self) -> Path:
        return list(self.records.values())[-1].folder / "bundle"


def resolve_recipe(recipe: str, *, lang: str | None = None, teacher: str | None = None,
                   settings: list[str] | tuple[str, ...] = (), data: dict[str, Any] | None = None
                   ) -> DistillConfig:
    """The recipe, then each --set KEY=VALUE, then --teacher, then the user's --data, then --lang.

    ``data`` holds DataSpec keys (``{"dataset": "csv", "train": ..., "text_column": ...}``): the
    user's own task in place of the recipe's.
    """
    from edgedistill.distill.recipes import apply_overrides, load_recipe

    config = load_recipe(recipe, list(settings) or None)
    if teacher:
        config = apply_overrides(config, {"teacher.model": teacher})
    if data or lang:
        values = with_task_data(config.to_dict(), data, lang) if data else config.to_dict()
        values = apply_language(values, lang) if lang else values
        given = " ".join(part for part in (data and "--data", lang and f"--lang {lang}") if part)
        config = DistillConfig.from_dict(values, source=f"{recipe} with {given}")
    return config


def default_out(config: DistillConfig) -> Path:
    data = config.data.task or config.data.raw
    language = data.language if data else None
    return DEFAULT_RUNS / (f"{config.name}-{language}" if language else config.name)


def run_chain(config: DistillConfig, out: Path | None = None, *, progress: bool = True,
              log: Log = print) -> ChainResult:
    """Run (or reuse) every stage of ``config`` under ``out``; return where everything is."""
    out = Path(out) if out else default_out(config)
    stages = build_stages(config, ChainOptions(out=out, progress=progress))
    log(f"edgedistill run {config.name}: {len(stages)} stages in {out}")
    return ChainResult(out, run_stages(stages, out, log))


def dry_run(config: DistillConfig, out: Path | None = None) -> list[str]:
    """What ``run_chain`` would do, stage by stage, after checking every input; nothing is written."""
    out = Path(out) if out else default_out(config)
    stages = build_stages(config, ChainOptions(out=out, progress=False))
    return [f"edgedistill run {config.name}: {len(stages)} stages in {out} (dry run: nothing is trained "
            f"or written)", *describe(stages, out)]
