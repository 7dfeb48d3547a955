"""``run_chain``: resolve a recipe with the command line's settings, plan its stages and run them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgedistill.chain.plan import ChainOptions, apply_language, build_stages
from edgedistill.chain.stages import Log, StageRecord, run_stages
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
                   settings: list[str] | tuple[str, ...] = ()) -> DistillConfig:
    """The recipe, then each --set KEY=VALUE, then --teacher, then --lang."""
    from edgedistill.distill.recipes import apply_overrides, load_recipe

    config = load_recipe(recipe, list(settings) or None)
    if teacher:
        config = apply_overrides(config, {"teacher.model": teacher})
    if lang:
        config = DistillConfig.from_dict(apply_language(config.to_dict(), lang),
                                         source=f"{recipe} with --lang {lang}")
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
