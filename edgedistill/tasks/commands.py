"""CLI commands for tasks: check-data, finetune, evaluate.

Only click and the standard library are imported here; readers, torch and transformers are imported
inside each command, so the CLI starts fast and ``edgedistill --help`` works on the device install.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgedistill.cli_support import AliasedOption, show_progress

DATA_HELP = """\b
DATA is a built-in collection read from ../shared/data (or $EDGEDISTILL_DATA), with --lang:
  afrisenti   AfriSenti tweet sentiment         hau ibo kin swa yor
  masakhaner  MasakhaNER 2.0 entities (BIO)     hau ibo kin swa yor
  sib200      SIB-200 topics (labels.txt)       hau ibo kin swh yor eng
  ud-pos      UD part-of-speech (test only)     yor
or a format for your own files, with --train/--dev/--test paths and named columns:
  csv tsv jsonl conll conllu, or hf (--source: a save_to_disk folder or a hub id;
  --train/--dev/--test are then split names, default train/validation/test).
"""


def data_options(command):
    """The options that build a DataSpec, shared by every task command."""
    options = [
        click.option("--data", "dataset", help="Built-in dataset or file format (see below)."),
        click.option("--lang", "language", help="Language of a built-in dataset (hau, ibo, swa...)."),
        click.option("--kind", type=click.Choice(["sequence-classification", "token-classification",
                                                  "embedding-similarity"]),
                     help="Task kind for csv/tsv/jsonl/hf data [default: sequence-classification]."),
        click.option("--train", help="Training file (or split name for hf)."),
        click.option("--dev", help="Dev file (or split name for hf)."),
        click.option("--test", help="Test file (or split name for hf)."),
        click.option("--source", help="hf only: a save_to_disk folder or a hub id."),
        click.option("--hf-config", help="hf only: the dataset configuration name."),
        click.option("--text-column", help="Column with the text [default: text]."),
        click.option("--text-pair-column", help="Column with a second text (pairs, similarity)."),
        click.option("--label-column", help="Column with the label or score [default: label]."),
        click.option("--tokens-column", help="jsonl/hf token tasks: column with the list of words."),
        click.option("--tags-column", help="jsonl/hf token tasks: column with the list of tags."),
        click.option("--tag-column", help="conllu only: upos (default) or xpos."),
        click.option("--labels-file", help="One label a line: fixes the labels and their order."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


DATA_KEYS = ("dataset", "language", "kind", "train", "dev", "test", "source", "hf_config", "text_column",
             "text_pair_column", "label_column", "tokens_column", "tags_column", "tag_column", "labels_file")


def _given(values: dict, keys) -> dict:
    return {k: values[k] for k in keys if values.get(k) is not None}


def _data_spec(values: dict, required: bool):
    from edgedistill.tasks.config import DataSpec

    given = _given(values, DATA_KEYS)
    if not given:
        if required:
            raise click.UsageError("say which data: --data (with --lang for a built-in dataset)")
        return None
    if "dataset" not in given:
        raise click.UsageError("--data is required when any other data option is given")
    return DataSpec(**given)


# ---------------------------------------------------------------- check-data

@click.command("check-data", epilog=DATA_HELP)
@data_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def check_data(as_json: bool, **values) -> None:
    """Read every split of a task, failing on the first malformed line, and summarise it.

    Prints each split's size and label counts, where the labels came from, and the majority-class
    baseline on dev/test. Without --data, lists the built-in datasets and the languages present.
    Needs no torch.
    """
    from edgedistill.tasks import task as tasks

    spec = _data_spec(values, required=False)
    if spec is None:
        listing = {name: {"description": b.description, "languages": tasks.builtin_languages(name)}
                   for name, b in tasks.BUILTINS.items()}
        click.echo(json.dumps(listing, indent=2) if as_json else "\n".join(
            f"{name:<11} {v['description']}: {' '.join(v['languages']) or '(not in the data folder)'}"
            for name, v in listing.items()))
        return
    summary = _task_summary(tasks.load_task(spec))
    click.echo(json.dumps(summary, indent=2, ensure_ascii=False) if as_json else _format_summary(summary))


def _task_summary(task) -> dict:
    from edgedistill.tasks.metrics import majority_baseline
    from edgedistill.tasks.task import SIMILARITY, label_counts

    splits = {}
    for name, split in task.splits.items():
        entry = {"source": split.source, "examples": len(split.examples)}
        if task.kind != SIMILARITY:
            entry["label_counts"] = dict(label_counts(task, name).most_common())
            if "train" in task.splits and name != "train":
                baseline = majority_baseline(task.kind, task.gold_labels("train"), task.gold_labels(name),
                                             task.labels)
                entry["majority_baseline"] = {task.primary_metric: baseline[task.primary_metric],
                                              "label": baseline["label"]}
        splits[name] = entry
    return {"task": task.name, "kind": task.kind, "labels": list(task.labels),
            "label_source": task.label_source, "primary_metric": task.primary_metric, "splits": splits}


def _format_summary(summary: dict) -> str:
    lines = [f"task           {summary['task']} ({summary['kind']})",
             f"labels         {', '.join(summary['labels'])}", f"  from         {summary['label_source']}",
             f"metric         {summary['primary_metric']}"]
    for name, split in summary["splits"].items():
        unit = "sentences" if summary["kind"] == "token-classification" else "examples"
        lines.append(f"{name:<14} {split['examples']:,} {unit} from {split['source']}")
        if "majority_baseline" in split:
            baseline = split["majority_baseline"]
            lines.append(f"  majority     {baseline['label']!r}: {summary['primary_metric']} "
                         f"{baseline[summary['primary_metric']]:.3f}")
    return "\n".join(lines)


# ---------------------------------------------------------------- finetune

TRAINING_KEYS = (
    "model", "output_dir", "epochs", "learning_rate", "head_learning_rate", "batch_size", "eval_batch_size",
    "max_length", "max_train_examples", "max_dev_examples", "max_test_examples", "warmup_ratio",
    "weight_decay", "seed", "freeze_word_embeddings", "class_weights", "text_prefix", "select_best_on_dev",
    "checkpoint_dir", "keep_checkpoints", "threads", "precision",
)


@click.command(epilog=DATA_HELP)
@data_options
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A FinetuneConfig as TOML or JSON; options given here override it.")
@click.option("--model", help="Teacher name (e5-small), model directory or hub id [default: e5-small].")
@click.option("--out", "output_dir", help="Where the fine-tuned model and results.json go.")
@click.option("--epochs", type=float, help="Training epochs [default: 3].")
@click.option("--lr", "learning_rate", type=float, help="Peak learning rate [default: 5e-5].")
@click.option("--head-lr", "head_learning_rate", type=float,
              help="Learning rate of the new classification head (and BERT's pooler) [default: --lr].")
@click.option("--batch-size", type=int, help="Training batch size [default: 32].")
@click.option("--eval-batch-size", type=int, help="Prediction batch size [default: 64].")
@click.option("--max-length", type=int, help="Sub-word tokens per example [default: 128].")
@click.option("--max-train-examples", type=int,
              help="Cap on training examples, a seeded shuffle of the split [default: all].")
@click.option("--max-dev-examples", type=int, help="Cap on dev examples used to pick the best epoch.")
@click.option("--max-test-examples", type=int, help="Cap on test examples scored [default: all].")
@click.option("--warmup-ratio", type=float, help="Share of steps with a rising learning rate [0.1].")
@click.option("--weight-decay", type=float, help="AdamW weight decay [default: 0.01].")
@click.option("--seed", type=int, help="Seed for sampling, initialisation and order [default: 42].")
@click.option("--freeze-word-embeddings/--train-word-embeddings", default=None,
              help="Freeze the word-embedding matrix (most of a multilingual encoder; about twice "
                   "as fast on a CPU) [default: train it].")
@click.option("--class-weights", type=click.Choice(["balanced"]),
              help="Sequence classification: weight the loss by inverse class frequency in the training "
                   "examples used (helps macro-F1 on skewed data) [default: unweighted].")
@click.option("--text-prefix", help="Text put before every input [default: the model's own \"query: \" "
                                    "for sentence tasks (multilingual-e5), none otherwise].")
@click.option("--select-best-on-dev/--last-epoch", default=None,
              help="Keep the epoch with the best dev metric, or the last [default: best on dev].")
@click.option("--checkpoint-dir", help="Epoch checkpoints [default: OUT.checkpoints]; the same run resumes.")
@click.option("--keep-checkpoints", is_flag=True, default=None, help="Keep checkpoints after success.")
@click.option("--threads", type=int, help="torch CPU threads (1 is fastest on a busy machine).")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]),
              help="bf16: bfloat16 autocast, about 2x faster on CPUs with AVX-512 BF16 [default: fp32].")
@click.option("--save-config", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the resolved config (TOML or JSON by suffix) and exit without training.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option("--quiet", cls=AliasedOption, aliases=["--no-progress"], is_flag=True, help="No progress bars.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the full results as JSON (and nothing else on stdout, so no progress either).")
def finetune(config_file: Path | None, save_config: Path | None, overwrite: bool, quiet: bool,
             as_json: bool, **values) -> None:
    """Fine-tune a model on a task with the Hugging Face Trainer and score it on dev and test.

    Writes a Hugging Face model directory to --out with results.json (macro-F1, weighted F1 and
    accuracy; seqeval entity F1 for NER; accuracy for POS; the majority-class baseline; sizes and
    wall time), edgedistill-task.json and the config used. Seeds are fixed; the same command
    resumes an interrupted run from its last epoch. Needs the [distill] extra.

    \b
    Example:
      edgedistill finetune --data afrisenti --lang hau --out runs/afrisenti-hau \\
          --max-train-examples 1500 --epochs 2 --batch-size 16 --freeze-word-embeddings
    """
    from edgedistill.config import read_config_file
    from edgedistill.tasks.config import FinetuneConfig

    base = read_config_file(config_file) if config_file else {}
    data = {**base.get("data", {}), **_given(values, DATA_KEYS)}
    merged = {**base, **_given(values, TRAINING_KEYS), "data": data}
    if not data.get("dataset"):
        raise click.UsageError("say which data: --data (with --lang for a built-in dataset) or --config")
    if not merged.get("output_dir"):
        raise click.UsageError("say where the model goes: --out (or output_dir in --config)")
    config = FinetuneConfig.from_dict(merged, where=str(config_file) if config_file else "the config")
    from edgedistill.output_guard import data_paths, refuse_output_over_inputs

    inputs = [config.model, config_file, *data_paths(config.data)]
    refuse_output_over_inputs(config.output_dir, inputs, option="--out")
    refuse_output_over_inputs(save_config, inputs, option="--save-config")
    if save_config:
        click.echo(f"wrote {config.save(save_config)}")
        return
    from edgedistill.tasks.finetune import finetune as run_finetune

    # The Trainer's progress display writes its log lines to stdout, which --json keeps for the JSON.
    results = run_finetune(config, overwrite=overwrite, progress=show_progress(quiet or as_json))
    click.echo(json.dumps(results, indent=2, ensure_ascii=False) if as_json else _format_results(results))


def _format_results(results: dict) -> str:
    metric = results["task"]["primary_metric"]
    lines = [f"model          {results['model']['display_name']}",
             f"task           {results['task']['name']} ({results['task']['kind']})",
             f"trained on     {results['data']['train_used']:,} examples, {results['training']['epochs']:g} "
             f"epochs, {results['training']['train_seconds'] / 60:.1f} min"]
    for split in ("dev", "test"):
        if results.get(split):
            baseline = results["majority_baseline"][split][metric]
            lines.append(f"{split:<14} {metric} {results[split][metric]:.4f} (majority class {baseline:.4f})")
    lines.append(f"written to     {results['config']['output_dir']}")
    return "\n".join(lines)


# ---------------------------------------------------------------- evaluate

@click.command(epilog=DATA_HELP)
@click.argument("model_dir", type=click.Path(path_type=Path))
@data_options
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "dev", "test"]))
@click.option("--batch-size", default=64, show_default=True, type=int)
@click.option("--max-length", type=int, help="Sub-word tokens per example [default: as fine-tuned, or 128].")
@click.option("--max-examples", type=int, help="Score a seeded sample of this many examples [default: all].")
@click.option("--seed", default=42, show_default=True, type=int, help="Seed of that sample.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Results JSON [default: MODEL_DIR/eval-<task>-<split>.json].")
@click.option("--threads", type=int, help="torch CPU threads.")
@click.option("--quiet", cls=AliasedOption, aliases=["--no-progress"], is_flag=True, help="No progress bars.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the full results as JSON (and nothing else on stdout, so no progress either).")
def evaluate(model_dir: Path, split: str, batch_size: int, max_length: int | None, max_examples: int | None,
             seed: int, out: Path | None, threads: int | None, quiet: bool, as_json: bool,
             **values) -> None:
    """Score MODEL_DIR on one split of a task and write the results as JSON next to it.

    A directory from `edgedistill finetune` knows its data, labels, text prefix and max length, so
    no data option is needed; give --data to score it (or any Hugging Face classification model)
    on other data. --kind embedding-similarity scores any encoder's mean-pooled embeddings
    (Spearman of cosine against the gold scores). Needs the [distill] extra.
    """
    kind = values.get("kind")
    spec = _data_spec(values, required=False)
    from edgedistill.output_guard import data_paths, refuse_output_over_inputs

    # --out may sit inside MODEL_DIR (its default does), but may not replace a file the model needs
    model_files = [p for p in (model_dir.iterdir() if model_dir.is_dir() else ())
                   if not p.name.startswith("eval-")]
    refuse_output_over_inputs(out, [*data_paths(spec), *model_files], option="--out")
    if threads:
        import torch

        torch.set_num_threads(threads)
    from edgedistill.tasks.evaluate import evaluate as run_evaluate

    result = run_evaluate(model_dir, spec, split=split, kind=kind, batch_size=batch_size,
                          max_length=max_length, max_examples=max_examples, seed=seed, out=out,
                          progress=show_progress(quiet))
    click.echo(json.dumps(result, indent=2, ensure_ascii=False) if as_json else _format_evaluation(result))


def _format_evaluation(result: dict) -> str:
    metrics = {k: v for k, v in result["metrics"].items() if isinstance(v, float)}
    lines = [f"model          {result['model_display_name']}",
             f"task           {result['task']} {result['split']} ({result['examples']:,} examples from "
             f"{result['source']})"]
    lines += [f"  {name:<12} {value:.4f}" for name, value in metrics.items()]
    if result.get("majority_baseline"):
        baseline = result["majority_baseline"]
        lines.append(f"majority class {baseline['label']!r}: " + ", ".join(
            f"{k} {v:.4f}" for k, v in baseline.items() if isinstance(v, float)))
    lines.append(f"written to     {result['written_to']}")
    return "\n".join(lines)


COMMANDS = [check_data, finetune, evaluate]
