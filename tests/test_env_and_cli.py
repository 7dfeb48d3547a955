"""`edgedistill env`, the CLI's help and its one-sentence errors."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from edgedistill.cli import main
from edgedistill.env import cpu_flags, cpu_model

X86 = """processor\t: 0
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16
"""
PI5 = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
"""
PI4 = """Features\t: fp asimd evtstrm crc32 cpuid
Hardware\t: BCM2835
"""


def test_cpu_flags_from_x86_and_arm():
    assert {"avx2", "avx512_vnni", "avx512_bf16"} <= set(cpu_flags(X86))
    assert "asimddp" in cpu_flags(PI5) and "asimd" in cpu_flags(PI5)
    assert "asimddp" not in cpu_flags(PI4)
    assert cpu_model(X86) == "AMD EPYC 9R14" and cpu_model(PI4) == "BCM2835"


def test_env_json_reports_what_matters():
    result = CliRunner().invoke(main, ["env", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["cores"]["usable"] >= 1
    assert report["packages"]["onnxruntime"]
    assert set(report["extras"]) == {"distill", "export", "teacher", "baselines"}
    assert "CPUExecutionProvider" in report["onnxruntime_providers"]


def test_env_text_names_flags_and_extras():
    result = CliRunner().invoke(main, ["env"])
    assert result.exit_code == 0
    assert "cpu flags" in result.output and "[distill]" in result.output


def test_help_guides_a_newcomer():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "edgedistill env" in result.output and "teacher" in result.output


def test_bad_teacher_path_is_one_sentence_and_exit_1(tmp_path):
    result = subprocess.run([sys.executable, "-m", "edgedistill.cli", "teacher",
                             str(tmp_path / "missing")], capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == \
        f"Error: teacher directory {tmp_path / 'missing'} does not exist"


def test_verify_needs_a_builtin_teacher(tmp_path):
    result = CliRunner().invoke(main, ["teacher", str(tmp_path), "--verify"])
    assert result.exit_code == 2 and "--verify" in result.output


def test_progress_bars_only_for_a_terminal(monkeypatch, tmp_path):
    import sys

    from edgedistill.cli_support import show_progress

    class Terminal:
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    assert show_progress() and not show_progress(quiet=True)
    with (tmp_path / "run.log").open("w") as log:  # a log file, as under nohup
        monkeypatch.setattr(sys, "stderr", log)
        assert not show_progress()
