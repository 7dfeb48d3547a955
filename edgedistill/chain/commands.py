"""`edgedistill run`: the whole chain from the command line. Only click is imported at the top."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from edgedistill.cli_support import show_progress
from edgedistill.distill.commands import SET_HELP
from edgedistill.tasks.commands import DATA_HELP, data_options

RUN_DATA_HELP = DATA_HELP + """
With --data, your data replaces the recipe's task ([data.task], and the data of its finetune steps);
--lang is then the language of your text (optional). Vocabulary trimming and pruning count the raw
text of that language where the data folder has some, and your training text otherwise.
"""


@click.command("run", epilog=RUN_DATA_HELP)
@click.argument("recipe")
@data_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the stages (default runs/chain/<recipe>-<language>).")
@click.option("--teacher", help="Teacher: e5-small, a model directory or a hub id (sets teacher.model).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
@click.option("--dry-run", is_flag=True,
              help="Check every input, print every stage with its settings and inputs, and stop: nothing "
                   "is trained or written.")
@click.option("--quiet", is_flag=True, help="No progress bars (the line per stage stays).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the run's report, bundle and each stage's summary as JSON (stage lines go to "
                   "stderr).")
def run(recipe: str, out: Path | None, teacher: str | None, settings: tuple[str, ...], dry_run: bool,
        quiet: bool, as_json: bool, **values) -> None:
    """Run RECIPE end to end: teacher, distillation, compression, export, INT8, benchmark, report.

    \b
    Stages, each in its own folder under --out:
      fine-tune the teacher on the recipe's task (skipped when it is fine-tuned for it already),
      distil, the recipe's [[next]] steps (trim-vocab, prune-ffn, prune-heads, reduce-hidden,
      another distill round, finetune), export ONNX FP32, quantize INT8 behind the accuracy gate,
      score both bundles on the test sample, benchmark teacher vs student, write the report
      (report.md, report.png, and bundle/ with a model card README.md).

    A stage whose inputs (its settings and every stage before it) are unchanged is reused; a
    changed one is redone with everything after it. An interrupted run resumes from the last
    finished stage, and inside fine-tuning or distillation from the last checkpoint. The recipe's
    output_dir is not used: everything goes under --out.

    \b
    Examples:
      edgedistill run demo
      edgedistill run comet --teacher runs/teachers/afrisenti-hau --lang hau --out runs/chain/comet-hau
      edgedistill run demo --lang yor --set training.epochs=2
      edgedistill run demo --data csv --train train.csv --dev dev.csv --test test.csv --lang tgl --dry-run
    """
    from edgedistill.chain.run import dry_run as describe_run
    from edgedistill.chain.run import resolve_recipe, run_chain

    lang = values.pop("language")
    data = {key: value for key, value in values.items() if value is not None}
    if data and "dataset" not in data:
        raise click.UsageError("--data is required when any other data option is given")
    started = time.time()
    config = resolve_recipe(recipe, lang=lang, teacher=teacher, settings=settings, data=data or None)
    if dry_run:
        click.echo("\n".join(describe_run(config, out)))
        return
    result = run_chain(config, out, progress=show_progress(quiet or as_json),
                       log=lambda line: click.echo(line, err=True))
    minutes = (time.time() - started) / 60
    if as_json:
        stages = {name: {"folder": str(record.folder), "reused": record.reused,
                         "seconds": round(record.seconds, 1), "summary": record.summary}
                  for name, record in result.records.items()}
        click.echo(json.dumps({"out": str(result.out), "report": str(result.report),
                               "bundle": str(result.bundle), "minutes": round(minutes, 2), "stages": stages},
                              indent=2, default=str))
        return
    click.echo(f"report  {result.report}")
    click.echo(f"bundle  {result.bundle}")
    click.echo(f"done in {minutes:.1f} min")


COMMANDS = [run]
