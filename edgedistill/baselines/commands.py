"""CLI command: baseline. Only click and the standard library at the top; scikit-learn inside."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgedistill.tasks.commands import DATA_HELP, DATA_KEYS, data_options


@click.command(epilog=DATA_HELP)
@data_options
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML or JSON with a [data] table and output_dir (a finetune config works as it is; "
                   "its training keys are not used). Options given here override it.")
@click.option("--out", "output_dir", help="Where model.joblib and results.json go.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the full results as JSON.")
def baseline(config_file: Path | None, output_dir: str | None, overwrite: bool, as_json: bool,
             **values) -> None:
    """Train the simple baseline of a task and score it on dev and test.

    Sentence tasks: TF-IDF (word 1-2 grams + char_wb 2-5 grams) and a class-balanced logistic regression,
    C chosen on dev. Token tasks: a CRF on word, lowercase, prefix, suffix and shape features of +-2 words,
    c1/c2 chosen on dev. Fitted on the whole training split, scored with the same metrics as fine-tuning on
    the whole test split. Writes model.joblib and results.json (every candidate's dev score, test
    metrics, model size, median ms per text at batch 1 and peak RSS measured in a fresh process). Needs
    the [baselines] extra.

    \b
    Example:
      edgedistill baseline --data afrisenti --lang hau --out runs/baselines/afrisenti-hau
    """
    from edgedistill.config import read_config_file
    from edgedistill.tasks.config import DataSpec

    base = read_config_file(config_file) if config_file else {}
    data = {**base.get("data", {}), **{k: values[k] for k in DATA_KEYS if values.get(k) is not None}}
    output_dir = output_dir or base.get("output_dir")
    if not data.get("dataset"):
        raise click.UsageError("say which data: --data (with --lang for a built-in dataset) or --config")
    if not output_dir:
        raise click.UsageError("say where the model goes: --out (or output_dir in --config)")
    spec = DataSpec.from_dict(data, where=f"[data] of {config_file or 'the options'}")
    from edgedistill.baselines.train import train_baseline
    from edgedistill.output_guard import data_paths, refuse_output_over_inputs

    refuse_output_over_inputs(output_dir, [config_file, *data_paths(spec)], option="--out")

    results = train_baseline(spec, output_dir, overwrite=overwrite)
    click.echo(json.dumps(results, indent=2, ensure_ascii=False) if as_json
               else format_results(results, output_dir))


def format_results(results: dict, output_dir: str) -> str:
    metric, chosen = results["task"]["primary_metric"], results["baseline"]["chosen"]
    best_dev = max(c["dev"] for c in results["baseline"]["candidates"])
    prediction = results["prediction"]
    lines = [f"baseline       {results['baseline']['description']}",
             f"task           {results['task']['name']} ({results['task']['kind']})",
             f"chosen on dev  {_params(chosen)} (dev {metric} {best_dev:.4f}; "
             f"{len(results['baseline']['candidates'])} candidates, {results['fit_seconds']:.1f} s)"]
    for split in ("dev", "test"):
        if results.get(split):
            majority = results["majority_baseline"][split][metric]
            lines.append(f"{split:<14} {metric} {results[split][metric]:.4f} (majority class {majority:.4f}) "
                         f"on {results['data'][split]['examples']:,} examples")
    lines += [f"model          {results['model']['bytes'] / 1e6:.1f} MB; "
              f"{prediction['ms_per_text_median']:.2f} ms per text (median, batch 1, {prediction['split']}); "
              f"peak RSS {prediction['peak_rss_bytes'] / 1e6:.0f} MB",
              f"written to     {output_dir}"]
    return "\n".join(lines)


def _params(params: dict) -> str:
    return ", ".join(f"{name}={value:g}" for name, value in params.items())


COMMANDS = [baseline]
