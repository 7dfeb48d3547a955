"""`edgedistill distill` and `edgedistill distill-ablation`: distillation from the command line.

Only click and the standard library are imported here; torch loads inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgedistill.cli_support import show_progress

SET_HELP = ("Set any key of the recipe by its dotted path, e.g. --set training.epochs=1 "
            "--set losses[0].temperature=4 --set data.task.language=yor (repeatable; 'none' removes a key).")


def _resolve(recipe: str, teacher: str | None, out: Path | None, settings: tuple[str, ...]):
    from edgedistill.chain.recipe import load_recipe, split_assignment

    overrides = [split_assignment(item) for item in settings]
    if teacher:
        overrides.append(("teacher.model", teacher))
    if out:
        overrides.append(("output_dir", str(out)))
    return load_recipe(recipe, dict(overrides) if overrides else None)


@click.command()
@click.argument("recipe", required=False)
@click.option("--teacher", help="Teacher: e5-small, a model directory or a hub id (sets teacher.model).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Where the student goes (sets output_dir).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
@click.option("--overwrite", is_flag=True, help="Replace the output directory if it exists.")
@click.option("--print-config", is_flag=True, help="Print the resolved recipe as TOML and stop.")
@click.option("--list", "list_only", is_flag=True, help="List the shipped recipes and stop.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the results as JSON (and nothing else on stdout, so no progress either).")
def distill(recipe: str | None, teacher: str | None, out: Path | None, settings: tuple[str, ...],
            overwrite: bool, print_config: bool, list_only: bool, quiet: bool, as_json: bool) -> None:
    """Distil a teacher into a small student as RECIPE says.

    RECIPE is a shipped recipe (comet, gurgurov, cruz, cruz-tiny; see --list) or a TOML file that
    states the whole run: teacher, data, student shape and initialisation, loss terms and weights,
    schedule. --print-config shows the resolved file, which runs again unchanged with
    `edgedistill distill that.toml`.

    \b
    Examples:
      edgedistill distill --list
      edgedistill distill comet --teacher runs/teachers/afrisenti-hau --out runs/comet-hau
      edgedistill distill comet --set training.epochs=1 --set data.max_train_examples=500 --print-config
      torchrun --nproc-per-node 2 -m edgedistill.cli distill my-run.toml     # several processes

    The student is written as a Hugging Face model directory with distill-config.toml and
    results.json (dev/test metrics for a task). Checkpoints go to OUT.checkpoints; running the same
    command again resumes from the last one.
    """
    from edgedistill.chain.recipe import list_recipes

    if list_only:
        for name, description in list_recipes().items():
            click.echo(f"{name:<12} {description}")
        return
    if not recipe:
        raise click.UsageError("give a RECIPE (a shipped name or a .toml file), or --list")
    config = _resolve(recipe, teacher, out, settings)
    if print_config:
        click.echo(config.to_toml(), nl=False)
        return
    from edgedistill.distill.run import distill as run_distill
    from edgedistill.output_guard import data_paths, refuse_output_over_inputs

    raw_file = config.data.raw.file if config.data.raw else None
    inputs = [recipe, config.teacher.model, config.student.path, raw_file, *data_paths(config.data.task)]
    refuse_output_over_inputs(config.output_dir, inputs, option="the output directory")

    # The Trainer's progress display writes its log lines to stdout, which --json keeps for the JSON.
    outcome = run_distill(config, overwrite=overwrite, progress=show_progress(quiet or as_json))
    if not outcome.results:
        return  # not the first of several processes
    if as_json:
        click.echo(json.dumps(outcome.results, indent=2, ensure_ascii=False))
    else:
        click.echo(format_summary(outcome.results, outcome.output_dir))


def format_summary(results: dict, output_dir: Path) -> str:
    student, teacher = results["student"], results["teacher"]
    shape = student["shape"]
    lines = [
        f"student            {shape['layers']}L/{shape['hidden_size']}H/{shape['heads']} heads/FFN "
        f"{shape['intermediate_size']} ({student['init']}), {student['parameters']['total']:,} parameters "
        f"({student['parameters']['non_embedding']:,} non-embedding)",
        f"teacher            {teacher['display_name']}, {teacher['parameters']['total']:,} parameters",
        f"training           {results['training']['steps']} steps on {results['data']['train_examples']} "
        f"examples in {results['training']['train_seconds']} s",
    ]
    for split in ("dev", "test"):
        scores = results.get(split)
        if scores:
            metric = "macro_f1" if "macro_f1" in scores else next(iter(scores))
            lines.append(f"{split:<18} {metric} {scores[metric]:.4f}")
    lines.append(f"written to         {output_dir}")
    return "\n".join(lines)


@click.command("distill-ablation")
@click.argument("recipe")
@click.option("--variant", "variants", multiple=True, metavar="NAME=TYPES",
              help="A student trained with only the recipe's loss terms of these types, e.g. "
                   "kd=kl, attention=attention, both=kl,attention (repeatable; default: those three). "
                   "Kept weights are rescaled to the recipe's total unless given as TYPE:WEIGHT, which "
                   "can also add a term the recipe lacks (both+labels=kl,attention,labels:0.5); "
                   "';KEY=VALUE' parts change other keys for that variant "
                   "(layers=kl;student.init=teacher-layers).")
@click.option("--teacher", help="Teacher (sets teacher.model).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
@click.option("--runs", type=click.Path(file_okay=False, path_type=Path), default="runs/distill/ablation",
              show_default=True, help="Folder for the students (one subfolder per variant).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The markdown results table to write (e.g. benchmarks/results/distill-comet-hau.md).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def distill_ablation(recipe: str, variants: tuple[str, ...], teacher: str | None, settings: tuple[str, ...],
                     runs: Path, out: Path, quiet: bool) -> None:
    """Train one student per loss variant of RECIPE on its task and tabulate them beside the teacher.

    Every variant shares the recipe's teacher, data and schedule (and the teacher cache, so the
    teacher runs once); the teacher is scored on the same dev and test examples. A variant whose
    folder under --runs is complete is reused, so an interrupted ablation picks up where it stopped.
    The table starts with the command that regenerates it.
    """
    from edgedistill.distill.ablation import parse_variants, run_ablation

    config = _resolve(recipe, teacher, None, settings)
    command = _canonical_command(recipe, variants, teacher, settings, runs, out)
    table = run_ablation(config, parse_variants(variants), runs, out, command=command,
                         progress=show_progress(quiet))
    click.echo(table)


def _canonical_command(recipe, variants, teacher, settings, runs, out) -> str:
    import shlex

    parts = ["edgedistill", "distill-ablation", recipe]
    parts += [f"--variant={v}" for v in variants]
    parts += [f"--teacher={teacher}"] if teacher else []
    parts += [f"--set={s}" for s in settings]
    parts += [f"--runs={runs}", f"--out={out}"]
    return " ".join(shlex.quote(p) for p in parts)


COMMANDS = [distill, distill_ablation]
