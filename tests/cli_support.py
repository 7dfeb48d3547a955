"""What the command-line tests share: run a command, and check it was refused in one sentence."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner


def cli(*args, input: str | None = None):
    from edgedistill.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def assert_refused(result, *fragments: str, exit_code: int = 1) -> str:
    """Exit code; stderr ends with the one line starting with "Error:", holding the fragments; no traceback.

    Above it may stand progress ("round 1/1") or, for usage errors (exit 2), click's "Usage:" hint.
    """
    assert result.exit_code == exit_code, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def tiny_classifier_dir(folder: Path, texts: list[str]) -> Path:
    """A one-layer XLM-R sentiment classifier saved as a Hugging Face directory."""
    from edgedistill.fixtures import tiny_model

    return tiny_model("xlmr", "sequence-classification", texts=texts, num_layers=1, hidden_size=16,
                      num_heads=2, intermediate_size=32).save(folder)
