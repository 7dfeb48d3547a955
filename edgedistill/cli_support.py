"""What the commands share: which extra brings a module, a check that a command's modules are
installed before it starts, and options whose old spellings still work without showing in --help.

Only click and the standard library, so the device install's commands can use it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence

import click

from edgedistill.errors import EdgedistillError

# Which extra brings each heavy module, to answer a missing import with what to install.
EXTRA_OF_MODULE = {
    **dict.fromkeys(("torch", "transformers", "accelerate", "datasets", "safetensors",
                     "sentencepiece", "seqeval"), "distill"),
    **dict.fromkeys(("optimum", "onnx", "onnxscript", "neural_compressor",
                     "onnxruntime_extensions"), "export"),
    **dict.fromkeys(("sklearn", "sklearn_crfsuite", "pycrfsuite", "joblib"), "baselines"),
}


def missing_module_message(module: str, command: str = "this command") -> str:
    extra = EXTRA_OF_MODULE[module]
    return (f"{command} needs the [{extra}] extra, and {module} is not installed: "
            f"pip install 'edgedistill[{extra}]'")


def require_modules(modules: Iterable[str], command: str) -> None:
    """Fail with the extra to install when one of ``modules`` is missing, before any work starts."""
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package missing, or a module without a spec
            found = False
        if not found:
            raise EdgedistillError(missing_module_message(module, command))


class AliasedOption(click.Option):
    """An option that also answers to older spellings (``aliases``), which --help leaves out, so
    scripts written for the old name keep working while the help shows one name per concept."""

    def __init__(self, param_decls: Sequence[str], *, aliases: Sequence[str] = (), **attrs):
        super().__init__([*param_decls, *aliases], **attrs)
        self.aliases = tuple(aliases)

    def get_help_record(self, ctx: click.Context):
        every = self.opts
        self.opts = [name for name in every if name not in self.aliases]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = every


def show_progress(quiet: bool = False) -> bool:
    """Progress bars only for a person watching: not with --quiet, and not when stderr is a file or a
    pipe (a log would fill with redrawn bar frames)."""
    import sys

    return not quiet and sys.stderr.isatty()
