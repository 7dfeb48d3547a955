"""Errors of the export stage. Each is one sentence a user can act on; the CLI prints it and exits 1."""

from __future__ import annotations

from edgedistill.errors import EdgedistillError


class ExportError(EdgedistillError):
    """A model could not be exported, converted or quantized as asked."""


class ValidationError(ExportError):
    """An exported model does not reproduce its reference; subclasses say how."""

    def __init__(self, message: str, output: str):
        super().__init__(message)
        self.output = output


class MissingOutput(ValidationError):
    """The exported model lacks an output the reference has."""

    def __init__(self, output: str, available: list[str], artifact: str):
        super().__init__(f"{artifact} has no output {output!r} (it has {', '.join(available) or 'none'})",
                         output)
        self.available = available


class ShapeMismatch(ValidationError):
    """An output has a different shape from the reference's."""

    def __init__(self, output: str, expected: tuple, got: tuple, artifact: str):
        super().__init__(f"{artifact} output {output!r} has shape {tuple(got)} where the reference has "
                         f"{tuple(expected)}", output)
        self.expected, self.got = tuple(expected), tuple(got)


class OutputMismatch(ValidationError):
    """An output differs from the reference by more than its tolerance."""

    def __init__(self, output: str, max_abs_diff: float, tolerance: float, artifact: str):
        super().__init__(f"{artifact} output {output!r} differs from the reference by up to "
                         f"{max_abs_diff:.3g} (tolerance {tolerance:.3g})", output)
        self.max_abs_diff, self.tolerance = max_abs_diff, tolerance


class TokenizerMismatch(ExportError):
    """The tokenizer inside a graph gives different ids from tokenizer.json."""
