"""The ARM check's comparison logic (benchmarks/arm/compare.py): pure Python, fast, always on.

The check itself (qemu, an arm64 chroot) is tests/test_arm_qemu.py, which runs only when asked.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = PROJECT_ROOT / "benchmarks" / "arm" / "check_arm.sh"


def _load_compare():
    spec = importlib.util.spec_from_file_location("edgedistill_arm_compare",
                                                  PROJECT_ROOT / "benchmarks" / "arm" / "compare.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


compare = _load_compare()
TOL = {"fp32": 1e-5, "int8": 2e-3}
LABELS = ["negative", "neutral", "positive"]


def classification(probabilities: list[list[float]], quantization=None) -> dict:
    return {"task": "sequence-classification", "labels": LABELS, "quantization": quantization,
            "items": [{"label": LABELS[max(range(3), key=p.__getitem__)], "probabilities": p}
                      for p in probabilities]}


def tagging(tokens: list[list[list[float]]], entities: list[list], quantization=None) -> dict:
    return {"task": "token-classification", "labels": ["O", "B-PER", "I-PER"],
            "quantization": quantization,
            "items": [{"tokens": t, "entities": e} for t, e in zip(tokens, entities, strict=True)]}


def embedding(vectors: list[list[float]]) -> dict:
    return {"task": "embedding", "labels": [], "quantization": None,
            "items": [{"vector": v} for v in vectors]}


def run(bundles: dict, machine: str = "aarch64") -> dict:
    return {"environment": {"machine": machine, "python": "3.11", "cpuinfo": {}, "hwcaps": ["asimd"],
                            "packages": {"onnxruntime": "1.31.1", "tokenizers": "0.22.2",
                                         "numpy": "2.4.6"}},
            "texts": 2, "texts_sha256": "abc", "bundles": bundles}


def test_identical_runs_agree_for_every_task():
    bundles = {"cls": classification([[0.1, 0.2, 0.7], [0.5, 0.3, 0.2]]),
               "tag": tagging([[[0.9, 0.05, 0.05], [0.2, 0.7, 0.1]]], [[["PER", 3, 8, 0.7]]]),
               "emb": embedding([[0.6, 0.8], [1.0, 0.0]])}
    verdicts = compare.compare_runs(run(bundles, "x86_64"), {"n1": run(bundles)}, TOL)
    assert [v.ok for v in verdicts] == [True, True, True]
    by_name = {v.bundle: v for v in verdicts}
    assert by_name["cls"].same_labels == 2 and by_name["cls"].max_abs_diff == 0
    assert by_name["tag"].same_labels == 1
    assert by_name["emb"].min_cosine == pytest.approx(1.0)


def test_tolerance_depends_on_precision():
    ref = classification([[0.1, 0.2, 0.7]])
    moved = classification([[0.1005, 0.2, 0.6995]])
    fp32 = compare.compare_bundle("b", "n1", ref, moved, TOL)
    assert not fp32.ok and "differ by 0.0005 > 1e-05" in fp32.problems[0] and fp32.precision == "FP32"
    int8 = compare.compare_bundle("b", "n1", {**ref, "quantization": {"kind": "dynamic"}},
                                  {**moved, "quantization": {"kind": "dynamic"}}, TOL)
    assert int8.ok and int8.precision == "INT8" and int8.tolerance == 2e-3


def test_label_flip_is_tolerated_only_on_a_near_tie():
    ref = classification([[0.3, 0.3500, 0.3500 - 1e-6]])
    other = classification([[0.3, 0.3500 - 1e-6, 0.3500]])
    tie = compare.compare_bundle("b", "n1", ref, other, {"fp32": 1e-5, "int8": 1e-5})
    assert tie.ok and tie.same_labels == 0 and "near-tie" in tie.tolerated[0]

    clear_ref = {**ref, "items": [{"label": "neutral", "probabilities": [0.1, 0.8, 0.1]}]}
    clear_other = {**ref, "items": [{"label": "positive", "probabilities": [0.1, 0.8, 0.1]}]}
    flip = compare.compare_bundle("b", "n1", clear_ref, clear_other, TOL)
    assert not flip.ok and "label neutral on the reference, positive here" in flip.problems[0]


def test_entities_must_match_unless_a_token_flipped_on_a_near_tie():
    tokens = [[[0.9, 0.05, 0.05], [0.2, 0.7, 0.1]]]
    ref = tagging(tokens, [[["PER", 3, 8, 0.7]]])
    lost = compare.compare_bundle("t", "n1", ref, tagging(tokens, [[]]), TOL)
    assert not lost.ok and "entities" in lost.problems[0]

    tied = [[[0.9, 0.05, 0.05], [0.45, 0.45 + 1e-7, 0.1 - 1e-7]]]
    tied_other = [[[0.9, 0.05, 0.05], [0.45 + 1e-7, 0.45, 0.1 - 1e-7]]]
    verdict = compare.compare_bundle("t", "n1", tagging(tied, [[["PER", 3, 8, 0.45]]]),
                                     tagging(tied_other, [[]]), TOL)
    assert verdict.ok and verdict.tolerated

    shorter = compare.compare_bundle("t", "n1", ref, tagging([tokens[0][:1]], [[["PER", 3, 8, 0.7]]]),
                                     TOL)
    assert not shorter.ok and "tokenization differs" in shorter.problems[0]


def test_embeddings_compare_componentwise():
    ref = embedding([[0.6, 0.8]])
    verdict = compare.compare_bundle("e", "n1", ref, embedding([[0.6, 0.8001]]), TOL)
    assert not verdict.ok and verdict.min_cosine > 0.9999
    assert not compare.compare_bundle("e", "n1", ref, embedding([[0.6]]), TOL).ok


def test_missing_or_extra_bundles_and_other_texts_are_problems():
    ref = run({"a": classification([[0.2, 0.3, 0.5]]), "b": embedding([[1.0]])}, "x86_64")
    other = run({"a": classification([[0.2, 0.3, 0.5]]), "c": embedding([[1.0]])})
    verdicts = {v.bundle: v for v in compare.compare_runs(ref, {"n1": other}, TOL)}
    assert verdicts["a"].ok
    assert verdicts["b"].problems == ["no result in this run"]
    assert verdicts["c"].problems == ["no result on the reference"]
    with pytest.raises(compare.CheckError, match="different texts"):
        compare.compare_runs(ref, {"n1": {**other, "texts_sha256": "zzz"}}, TOL)


def test_report_is_headed_by_the_command_and_reports_no_timings():
    bundles = {"cls": classification([[0.1, 0.2, 0.7]])}
    reference, runs = run(bundles, "x86_64"), {"neoverse-n1": run(bundles)}
    verdicts = compare.compare_runs(reference, runs, TOL)
    texts = [{"source": "afrisenti/yor/dev.tsv:3", "text": "Ọlọ́run 🙏"}]
    emulation = {"neoverse-n1": {"details": {"qemu": "qemu-aarch64 version 7.2"}, "failures": []}}
    report = compare.render_report("sudo benchmarks/arm/check_arm.sh", reference, runs, verdicts, TOL,
                                   texts, emulation)
    lines = report.splitlines()
    assert lines[0].startswith("# ") and "sudo benchmarks/arm/check_arm.sh" in lines[:8]
    assert "**Result: PASS**" in report
    assert "Nothing in this report was measured on real ARM hardware" in report
    assert "1 contain emoji, 1 Yoruba diacritics" in report
    assert " ms" not in report and "latency" not in report.lower()

    failed = {"neoverse-n1": {"details": {}, "failures": ["`edgedistill env` failed: boom"]}}
    assert "**Result: FAIL**" in compare.render_report("c", reference, runs, verdicts, TOL, texts, failed)


def _write(path: Path, data) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_compare_command_exit_codes(tmp_path):
    texts = _write(tmp_path / "texts.json", [{"source": "x:2", "text": "Sannu"}])
    ref = _write(tmp_path / "x86.json", run({"cls": classification([[0.1, 0.2, 0.7]])}, "x86_64"))
    same = _write(tmp_path / "same.json", run({"cls": classification([[0.1, 0.2, 0.7]])}))
    off = _write(tmp_path / "off.json", run({"cls": classification([[0.2, 0.1, 0.7]])}))
    report = tmp_path / "out" / "report.md"

    def main(run_file: Path, emulation: dict | None = None) -> int:
        args = ["compare", "--reference", str(ref), "--run", f"max,sme=off={run_file}", "--texts",
                str(texts), "--command-line", "cmd", "--report", str(report)]
        if emulation is not None:
            args += ["--emulation", str(_write(tmp_path / "emulation.json", emulation))]
        return compare.main(args)

    assert main(same) == 0 and "**Result: PASS**" in report.read_text()
    assert "`-cpu max,sme=off`" in report.read_text()
    assert main(off) == 1 and "DISAGREE" in report.read_text()
    broken = {"max,sme=off": {"details": {}, "failures": ["`edgedistill env` failed: x"]}}
    assert main(same, broken) == 3
    assert compare.main(["compare", "--reference", str(tmp_path / "nope.json"), "--run", f"a={same}",
                         "--texts", str(texts), "--command-line", "c", "--report", str(report)]) == 2


def test_describe_run_reads_what_the_arm64_run_left(tmp_path):
    (tmp_path / "cpuinfo-n1").write_text("processor\t: 0\nFeatures\t: fp asimd asimddp\n"
                                         "CPU part\t: 0xd0c\n")
    (tmp_path / "env-n1.txt").write_text("python 3.11\ncpu flags   asimd asimddp\n")
    (tmp_path / "cli-n1.jsonl").write_text('{"label": "positive", "score": 0.4}\n')
    (tmp_path / "arm-n1.stderr").write_text("")
    described = compare.describe_run("neoverse-n1", "qemu 7.2", "Debian", tmp_path, "n1")
    assert described["failures"] == []
    assert described["details"]["`edgedistill env` cpu flags"] == "asimd asimddp"
    assert "Neoverse-N1" in described["details"]["fake /proc/cpuinfo"]

    (tmp_path / "env-n1.txt").write_text("")
    (tmp_path / "env-n1.err").write_text("Traceback\nModuleNotFoundError: No module named 'x'\n")
    (tmp_path / "cli-n1.jsonl").write_text("")
    failures = compare.describe_run("neoverse-n1", "q", "r", tmp_path, "n1")["failures"]
    assert len(failures) == 2 and "No module named 'x'" in failures[0]


def test_hwcaps_are_decoded_from_the_auxiliary_vector():
    def pair(key: int, value: int) -> bytes:
        return key.to_bytes(8, "little") + value.to_bytes(8, "little")

    raw = pair(6, 4096) + pair(16, (1 << 1) | (1 << 20)) + pair(26, 1 << 23) + pair(0, 0)
    assert compare.decode_auxv(raw, "little") == ["asimd", "asimddp", "sme"]


def test_text_features():
    assert compare.has_emoji("Mo dúpẹ́ 🙏") and not compare.has_emoji("Sannu da zuwa")
    assert compare.has_yoruba_diacritics("Ọlọ́run") and compare.has_yoruba_diacritics("àárọ̀")
    assert not compare.has_yoruba_diacritics("Habari za asubuhi")


def test_texts_come_from_the_real_data_with_emoji_and_yoruba(data_dir):
    picks = compare.select_texts(data_dir)
    assert picks == compare.select_texts(data_dir)  # deterministic
    sources = {p["source"].split("/")[0] for p in picks}
    assert {"afrisenti", "sib200", "masakhaner2"} <= sources
    assert sum(compare.has_emoji(p["text"]) for p in picks) >= 4
    assert sum(compare.has_yoruba_diacritics(p["text"]) for p in picks) >= 4


def test_script_is_valid_bash_and_explains_itself():
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
    shellcheck = shutil.which("shellcheck")
    if shellcheck:
        result = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout
    usage = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True)
    assert usage.returncode == 0 and "--offline" in usage.stdout and "--cpu" in usage.stdout


def test_script_fails_loudly_on_a_missing_prerequisite(tmp_path):
    """Before touching anything it says, in one line, what is missing (root or the venv here)."""
    env = {**os.environ, "PYTHON": str(tmp_path / "no-python"),
           "EDGEDISTILL_ARM_CACHE": str(tmp_path / "cache")}
    result = subprocess.run(["bash", str(SCRIPT), "--offline"], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("check_arm.sh: ") and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "cache").exists()
    unknown = subprocess.run(["bash", str(SCRIPT), "--frobnicate"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "unknown option --frobnicate" in unknown.stderr


def test_int8_outside_tolerance_passes_only_when_as_faithful_to_fp32_as_the_reference():
    """arm64 and x86 INT8 kernels round differently: equal fidelity to FP32 passes, worse fails."""
    int8 = {"kind": "dynamic"}
    fp32 = embedding([[0.6, 0.8], [1.0, 0.0]])
    ref_int8 = {**embedding([[0.62, 0.78], [0.98, 0.02]]), "quantization": int8}
    same_fidelity = {**embedding([[0.58, 0.82], [1.0, 0.02]]), "quantization": int8}
    worse = {**embedding([[0.5, 0.9], [0.9, 0.1]]), "quantization": int8}
    reference = run({"m-fp32": fp32, "m-int8": ref_int8}, "x86_64")

    ok = {v.bundle: v for v in compare.compare_runs(
        reference, {"n1": run({"m-fp32": fp32, "m-int8": same_fidelity})}, TOL)}["m-int8"]
    assert ok.ok and ok.result == "INT8-equivalent" and "0.02 here vs 0.02" in ok.equivalent
    assert ok.beyond  # what was outside the tolerance is kept for the report

    bad = {v.bundle: v for v in compare.compare_runs(
        reference, {"n1": run({"m-fp32": fp32, "m-int8": worse})}, TOL)}["m-int8"]
    assert not bad.ok and bad.problems[0].startswith("further from FP32 than the reference's INT8")

    alone = compare.compare_runs(run({"m-int8": ref_int8}, "x86_64"),
                                 {"n1": run({"m-int8": same_fidelity})}, TOL)[0]
    assert not alone.ok and "no FP32 version" in alone.problems[-1]


def test_int8_equivalence_also_needs_as_many_labels_as_fp32():
    int8 = {"kind": "dynamic"}
    fp32 = classification([[0.1, 0.2, 0.7], [0.7, 0.2, 0.1]])
    ref_int8 = {**classification([[0.11, 0.2, 0.69], [0.69, 0.2, 0.11]]), "quantization": int8}
    flipped = {**classification([[0.1, 0.2, 0.7], [0.1, 0.2, 0.7]]), "quantization": int8}
    verdicts = compare.compare_runs(run({"c-fp32": fp32, "c-int8": ref_int8}, "x86_64"),
                                    {"n1": run({"c-fp32": fp32, "c-int8": flipped})}, TOL)
    verdict = {v.bundle: v for v in verdicts}["c-int8"]
    assert not verdict.ok and "same label as FP32 on 1/2 texts here vs 2/2" in verdict.problems[0]
    assert compare.fp32_partner("c-int8", {"fp32_bundle": None}, {"c-fp32": fp32}) == "c-fp32"
