"""``run_chain``: resolve a recipe with the command line's settings, plan its stages and run them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistill.chain.plan import ChainOptions, apply_language, build_stages, with_task_data
from edgedistill.chain.recipe import Recipe, override, recipe_path
from edgedistill.chain.runner import Log, StageRecord, describe, run_stages

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
                   ) -> Recipe:
    """The recipe, then each --set KEY=VALUE, then --teacher, then the user's --data, then --lang.

    ``data`` holds DataSpec keys (``{"dataset": "csv", "train": ..., "text_column": ...}``): the
    user's own task in place of the recipe's. The file is read once (its defaults filled in), every
    change is made on that dict form, and the result is read and checked once.
    """
    loaded = Recipe.load(recipe_path(recipe))
    if not (settings or teacher or data or lang):
        return loaded
    values = override(loaded.to_dict(), list(settings))
    if teacher:
        values = override(values, {"teacher.model": teacher})
    if data:
        values = with_task_data(values, data, lang)
    if lang:
        values = apply_language(values, lang)
    given = [("--set", bool(settings)), ("--teacher", bool(teacher)), ("--data", bool(data)),
             (f"--lang {lang}", bool(lang))]
    return Recipe.from_dict(values, where=f"{recipe} with {' '.join(name for name, used in given if used)}")


def default_out(config: Recipe) -> Path:
    data = config.data.task or config.data.raw
    language = data.language if data else None
    return DEFAULT_RUNS / (f"{config.name}-{language}" if language else config.name)


def run_chain(config: Recipe, out: Path | None = None, *, progress: bool = True,
              log: Log = print) -> ChainResult:
    """Run (or reuse) every stage of ``config`` under ``out``; return where everything is."""
    out = Path(out) if out else default_out(config)
    stages = build_stages(config, ChainOptions(out=out, progress=progress))
    log(f"edgedistill run {config.name}: {len(stages)} stages in {out}")
    return ChainResult(out, run_stages(stages, out, log))


def dry_run(config: Recipe, out: Path | None = None) -> list[str]:
    """What ``run_chain`` would do, stage by stage, after checking every input; nothing is written."""
    out = Path(out) if out else default_out(config)
    stages = build_stages(config, ChainOptions(out=out, progress=False))
    return [f"edgedistill run {config.name}: {len(stages)} stages in {out} (dry run: nothing is trained "
            f"or written)", *describe(stages, out)]
