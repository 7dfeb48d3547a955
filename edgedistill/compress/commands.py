"""`edgedistill trim-vocab`, `prune` and `reduce-hidden`: the compression operations on model directories.

Only click and the standard library are imported here; the operations load torch when they run.
Each command reads an optional config file (--config, JSON or TOML, the same keys as the Python
dataclass), lets its options override single keys, and can print the result (--print-config).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

HEAD_CHOICES = ("auto", "base", "mlm", "sequence-classification", "token-classification")


def _common_options(function):
    options = [
        click.argument("source"),
        click.argument("out", type=click.Path(file_okay=False, path_type=Path)),
        click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="A .json or .toml config with the operation's keys; options override it."),
        click.option("--print-config", is_flag=True,
                     help="Print the effective config as TOML and exit without running."),
        click.option("--head", type=click.Choice(HEAD_CHOICES), default="auto", show_default=True,
                     help="Which model class to load; auto reads config.json's architectures."),
        click.option("--overwrite", is_flag=True, help="Replace OUT if it exists."),
        click.option("--json", "as_json", is_flag=True, help="Print the report as JSON."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _text_options(function):
    options = [
        click.option("--lang", "languages", multiple=True,
                     help="Raw MAFAND sentences of this language from the data folder "
                          "(hau, ibo, kin, swa, yor); repeatable."),
        click.option("--text-file", "text_files", multiple=True,
                     type=click.Path(dir_okay=False, path_type=Path),
                     help="A text file, one text a line (or a .tsv with --tsv-column); repeatable."),
        click.option("--tsv-column", help="Column of .tsv text files to read, e.g. tweet or text."),
        click.option("--limit", type=click.IntRange(min=1),
                     help="At most this many texts from each language or file."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _refuse_out_over_inputs(out: Path, source: str, *paths) -> None:
    from edgedistill.output_guard import refuse_output_over_inputs

    refuse_output_over_inputs(out, [source, *paths], option="OUT")


def _effective_config(config_class, config_file: Path | None, cleared: tuple[str, ...] = (), **options):
    """Defaults, then the config file, then the options given on the command line (None: not given)."""
    values = config_class.load(config_file).to_dict() if config_file else {}
    values.update({key: value for key, value in options.items() if value is not None})
    values.update(dict.fromkeys(cleared))
    return config_class.from_dict(values, where=str(config_file) if config_file else "the options")


def _texts(languages, text_files, tsv_column, limit, split: str | None = None) -> list[str]:
    from edgedistill.compress.text import gather_texts

    return gather_texts(languages, text_files, column=tsv_column, limit_per_source=limit, split=split)


def _finish(report, out: Path, as_json: bool, extra_lines: list[str]) -> None:
    if as_json:
        click.echo(report.to_json())
        return
    click.echo("\n".join([*report.summary_lines(), *extra_lines, f"written to         {out}"]))


@click.command("trim-vocab")
@_common_options
@_text_options
@click.option("--size", "target_size", type=click.IntRange(min=1),
              help="Vocabulary size after trimming, special tokens included (default 40000).")
@click.option("--coverage", type=click.FloatRange(0, 1, min_open=True),
              help="Instead of --size: the smallest vocabulary covering this share of the text's tokens.")
@click.option("--keep-characters/--no-keep-characters", default=None,
              help="Keep the single-character token of every character in the text (default on).")
@click.option("--fill/--no-fill", default=None,
              help="Fill up to --size with the tokenizer's most likely tokens when the text has fewer "
                   "distinct tokens (default on).")
@click.option("--eval-file", "eval_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Held-out text for the fallback report (default: the test split of each --lang).")
def trim_vocab(source, out, config_file, print_config, head, overwrite, as_json, languages, text_files,
               tsv_column, limit, target_size, coverage, keep_characters, fill, eval_files) -> None:
    """Keep only the tokens a target language uses; write the trimmed model to OUT.

    Token frequencies come from --lang (raw MAFAND sentences) and/or --text-file; the kept tokens
    are the most frequent ones, up to --size (or --coverage). Special tokens keep their ids (XLM-R
    <pad> stays 1). The tokenizer files (tokenizer.json, and sentencepiece.bpe.model, vocab.txt or
    vocab.json + merges.txt where present), the input embeddings, any MLM decoder and its bias, and
    the config are rewritten. OUT/compression-report.json gives parameters before and after, the
    share of the text's tokens kept, and how much held-out text falls back to <unk> or shorter
    pieces. SOURCE is a Hugging Face model directory or the built-in teacher name e5-small.

    \b
    Example:
      edgedistill trim-vocab e5-small out/e5-hau-40k --lang hau --size 40000
    """
    from edgedistill.compress.text import read_text_file
    from edgedistill.compress.vocab import VocabTrimConfig, VocabularyTrimmer

    _refuse_out_over_inputs(out, source, config_file, *text_files, *eval_files)
    # --coverage alone replaces the default target size rather than adding to it.
    cleared = ("target_size",) if coverage is not None and target_size is None else ()
    config = _effective_config(VocabTrimConfig, config_file, cleared, target_size=target_size,
                               coverage=coverage, keep_characters=keep_characters, fill=fill)
    if print_config:
        click.echo(config.to_toml(), nl=False)
        return
    texts = _texts(languages, text_files, tsv_column, limit)
    held_out = [t for path in eval_files for t in read_text_file(path)]
    if not eval_files and languages:
        held_out = _texts(languages, (), None, limit, split="test")
    report = VocabularyTrimmer(config).compress_directory(source, out, texts, held_out=held_out or None,
                                                          head=head, overwrite=overwrite)
    _finish(report, out, as_json, _trim_lines(report.details))


def _trim_lines(details: dict) -> list[str]:
    lines = [f"vocabulary         {details['vocabulary_before']:,} -> {details['vocabulary_after']:,} "
             f"({details['tokenizer_family']}; kept {json.dumps(details['kept_by_reason'])})",
             f"text tokens kept   {details['kept_token_coverage']:.2%} of {details['counted_tokens']:,} "
             f"tokens in {details['counted_texts']:,} texts"]
    held = details.get("fallback_on_held_out_text")
    if held:
        lines.append(f"held-out fallback  {held['texts_unchanged']:.1%} of {held['texts']:,} texts tokenized "
                     f"as before; {held['texts_with_unk']:.1%} contain <unk>; tokens x{held['length_ratio']}")
    return lines


def _heads_option(value: str | None):
    if value is None:
        return None
    try:
        counts = tuple(int(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number or a comma-separated list of numbers",
                                 param_hint="--heads") from None
    return counts[0] if len(counts) == 1 else counts


@click.command("prune")
@_common_options
@_text_options
@click.option("--heads", help="Attention heads to keep per layer: one number, or one per layer (6,6,4,...).")
@click.option("--ffn", "ffn_size", type=click.IntRange(min=1),
              help="FFN neurons to keep in every layer (e.g. 2048 of 3072).")
@click.option("--objective", type=click.Choice(("auto", "mlm", "output")),
              help="Loss whose gradients score heads and neurons: mlm (masked-LM models), output "
                   "(label-free, any model: how strongly the final hidden states react to each unit) or "
                   "auto (mlm when the model has an MLM head, else output). Default auto.")
@click.option("--batches", type=click.IntRange(min=1), help="Batches to score on (default 32).")
@click.option("--batch-size", type=click.IntRange(min=1), help="Texts per batch (default 8).")
@click.option("--max-length", type=click.IntRange(min=8), help="Tokens per text at most (default 128).")
@click.option("--seed", type=int, help="Seed for shuffling texts and masking tokens (default 0).")
def prune(source, out, config_file, print_config, head, overwrite, as_json, languages, text_files, tsv_column,
          limit, heads, ffn_size, objective, batches, batch_size, max_length, seed) -> None:
    """Remove the least important attention heads and FFN neurons; write the smaller model to OUT.

    Importance is first-order: |sum of grad x weight| over each FFN neuron's weights, and the
    gradient of a per-head mask for heads, summed over batches of target-language text (--lang,
    --text-file). The rows and columns are removed, not masked: the model is smaller and faster and
    loads with from_pretrained (removed heads are recorded in config.pruned_heads). Task-labelled
    batches are available from the Python API (StructuredPruner.prune(batches=...)).

    \b
    Example:
      edgedistill prune e5-small out/e5-pruned --lang hau --heads 6 --ffn 768
    """
    from edgedistill.compress.pruning import PruneConfig, StructuredPruner

    _refuse_out_over_inputs(out, source, config_file, *text_files)
    config = _effective_config(PruneConfig, config_file, heads_per_layer=_heads_option(heads),
                               ffn_size=ffn_size, objective=objective, batches=batches,
                               batch_size=batch_size, max_length=max_length, seed=seed)
    if print_config:
        click.echo(config.to_toml(), nl=False)
        return
    texts = _texts(languages, text_files, tsv_column, limit)
    report = StructuredPruner(config).compress_directory(source, out, texts, head=head, overwrite=overwrite)
    details = report.details
    _finish(report, out, as_json, [
        f"heads per layer    {details['shape_before']['heads']} -> {details['shape_after']['heads']}",
        f"FFN per layer      {details['shape_before']['ffn'][0]} -> {details['shape_after']['ffn'][0]}",
        f"scored on          {details['scored_batches']} batches, {details['scored_tokens']:,} tokens, "
        f"objective {details['objective']} ({details['seconds']} s)"])


@click.command("reduce-hidden")
@_common_options
@click.option("--size", "hidden_size", type=click.IntRange(min=1),
              help="New hidden size, divisible by the number of heads (e.g. 564, 456, 312 for 768).")
@click.option("--method", type=click.Choice(("truncate", "svd")),
              help="truncate: keep the first coordinates; svd: keep the top singular directions of the "
                   "word embeddings (default svd).")
def reduce_hidden(source, out, config_file, print_config, head, overwrite, as_json, hidden_size,
                  method) -> None:
    """Narrow the hidden size of every weight on the hidden axis; write the model to OUT.

    Embeddings, attention and FFN projections, pooler and heads are mapped through one basis
    (truncation or SVD), LayerNorms are cut to match, and each head keeps H'/heads dimensions. The
    outputs change: the result is an initialisation for another round of distillation.

    \b
    Example:
      edgedistill reduce-hidden student/ out/student-312 --size 312 --method svd
    """
    from edgedistill.compress.hidden import HiddenReduceConfig, HiddenSizeReducer

    _refuse_out_over_inputs(out, source, config_file)
    config = _effective_config(HiddenReduceConfig, config_file, hidden_size=hidden_size, method=method)
    if print_config:
        click.echo(config.to_toml(), nl=False)
        return
    report = HiddenSizeReducer(config).compress_directory(source, out, head=head, overwrite=overwrite)
    _finish(report, out, as_json, [
        f"hidden size        {report.details['hidden_before']} -> {report.details['hidden_after']} "
        f"(head size {report.details['head_size_before']} -> {report.details['head_size_after']}); "
        f"word-embedding energy kept {report.details['word_embedding_energy_kept']:.1%}"])


COMMANDS = [trim_vocab, prune, reduce_hidden]
