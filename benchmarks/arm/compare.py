"""Compare the runtime's predictions on aarch64 (under qemu user emulation) with x86, bundle by bundle.

Driven by ``check_arm.sh`` beside it; four subcommands:

  texts    (host)  pick real sentences from ../shared/data, read in place -> texts.json
  build    (host, [dev] install: torch, onnx) tiny FP32 bundles + INT8 variants of them
  predict  (x86 and in the arm64 chroot) run every bundle with edgedistill.runtime.Predictor -> JSON
  compare  (host)  a reference run against other runs within tolerance -> markdown; exit 1 if they disagree

Only the standard library is imported at module level: ``predict`` must run in the arm64 rootfs
with the base install alone (onnxruntime, tokenizers, numpy), and the comparison logic is plain
Python, unit-tested in tests/test_arm_compare.py without onnxruntime.

What "agree" means (the tolerances are absolute, on probabilities in [0, 1] or on the components
of L2-normalised embeddings; FP32 and INT8 bundles each have their own, chosen from what this check
measured, see DEFAULT_TOLERANCE):
* sequence classification: every class probability within tolerance, and the same label; a
  different label is tolerated only where the reference's two best classes are within twice the
  tolerance of each other (a tie that rounding may break either way), and the report lists it;
* token classification: every token's label probabilities within tolerance (same tokens, same
  windows), and the same entities (label and character span); a different entity list is tolerated
  only in a text where a token's best label flipped on such a tie;
* embedding: every component within tolerance (the cosine is reported too).

INT8 outputs may legitimately differ more than that: arm64 and x86 INT8 kernels round differently,
and on a real 12-layer model the differences reach a few hundredths. An INT8 bundle outside its
tolerance still passes, marked "INT8-equivalent", when its FP32 original was checked alongside it
and the arm64 INT8 output is as faithful to FP32 as the x86 INT8 output (see int8_fidelity).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import re
import shutil
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

# Absolute tolerances, set from what this check measured (onnxruntime 1.31.1, qemu 7.2):
# * FP32: both sides run the same float32 graph with different SIMD kernels (AVX-512 vs NEON), so
#   they differ by rounding only: at most 9e-8 here. 1e-5 leaves two orders of magnitude.
# * INT8: activations are quantized at run time, and a rounding difference upstream can move a value
#   across a uint8 step, so a few activations shift by one step: at most 1.3e-4 here. 2e-3 leaves
#   a factor of 15, and still catches what a real miscomputation looked like: under qemu's default
#   `-cpu max` (which advertises SME) INT8 outputs moved 9e-3 to 7e-2 away from x86.
DEFAULT_TOLERANCE = {"fp32": 1e-5, "int8": 2e-3}


# arm64 hardware capabilities (Linux uapi asm/hwcap.h): what the kernel (here: qemu) tells a
# process the CPU can do. ONNX Runtime's MLAS picks its INT8 kernels from these bits.
HWCAP_BITS = {0: "fp", 1: "asimd", 3: "aes", 4: "pmull", 7: "crc32", 8: "atomics", 9: "fphp",
              10: "asimdhp", 12: "asimdrdm", 20: "asimddp", 22: "sve", 23: "asimdfhm"}
HWCAP2_BITS = {1: "sve2", 9: "svei8mm", 13: "i8mm", 14: "bf16", 23: "sme"}
AT_HWCAP, AT_HWCAP2 = 16, 26


class CheckError(Exception):
    """A prerequisite or an input is wrong; the message says which and what to do."""


# --------------------------------------------------------------------------- texts (host)

EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff]")
YORUBA_MARKS = {"\u0300", "\u0301", "\u0323"}  # grave, acute, dot below (after NFD)


def has_emoji(text: str) -> bool:
    return bool(EMOJI.search(text))


def has_yoruba_diacritics(text: str) -> bool:
    return any(ch in YORUBA_MARKS for ch in unicodedata.normalize("NFD", text))


def _tsv_column(path: Path, column: int) -> list[tuple[int, str]]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        next(handle)  # header
        for number, line in enumerate(handle, start=2):
            parts = line.rstrip("\n").split("\t")
            if len(parts) <= column:
                raise CheckError(f"{path}:{number}: expected at least {column + 1} tab-separated "
                                 f"columns, found {len(parts)}")
            rows.append((number, parts[column]))
    return rows


def _conll_sentences(path: Path) -> list[tuple[int, str]]:
    sentences, words, first = [], [], 1
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                if words:
                    sentences.append((first, " ".join(words)))
                words, first = [], number + 1
                continue
            words.append(line.split()[0])
    if words:
        sentences.append((first, " ".join(words)))
    return sentences


def select_texts(data_dir: Path, per_source: int = 4) -> list[dict]:
    """Real sentences, read in place: tweets with emoji, Yoruba with diacritics, news with entities.

    Deterministic: the first matching lines of each dev file. Each item says where it came from.
    """
    picks: list[dict] = []

    def take(source: str, rows: list[tuple[int, str]], keep, n: int = per_source) -> None:
        chosen = [(line, text) for line, text in rows if text.strip() and keep(text)][:n]
        if len(chosen) < n:
            raise CheckError(f"{data_dir / source}: found only {len(chosen)} suitable lines, "
                             f"wanted {n}")
        picks.extend({"source": f"{source}:{line}", "text": text} for line, text in chosen)

    def path(relative: str) -> Path:
        found = data_dir / relative
        if not found.is_file():
            raise CheckError(f"{found} is missing: point EDGEDISTILL_DATA at the shared data folder")
        return found

    for lang in ("yor", "hau"):
        source = f"afrisenti/{lang}/dev.tsv"
        take(source, _tsv_column(path(source), 0), has_emoji)
    take("afrisenti/yor/dev.tsv", _tsv_column(path("afrisenti/yor/dev.tsv"), 0),
         lambda t: has_yoruba_diacritics(t) and not has_emoji(t))
    for folder in ("yor_Latn", "hau_Latn", "swh_Latn"):
        source = f"sib200/{folder}/dev.tsv"
        take(source, _tsv_column(path(source), 2), lambda t: True, n=2 if folder != "yor_Latn" else 4)
    for lang in ("yor", "hau"):
        source = f"masakhaner2/{lang}/dev.txt"
        take(source, _conll_sentences(path(source)), lambda t: True, n=3)
    picks.append({"source": "edge case: empty string", "text": ""})
    if not any(has_emoji(p["text"]) for p in picks):
        raise CheckError("no selected text contains an emoji")
    if not any(has_yoruba_diacritics(p["text"]) for p in picks):
        raise CheckError("no selected text contains Yoruba diacritics")
    return picks


# --------------------------------------------------------------------------- build (host)

BUNDLE_HEADS = {"seqcls": "sequence-classification", "tokcls": "token-classification",
                "embed": "base"}
# INT8 variants: ONNX Runtime dynamic quantization (int8 weights, uint8 activations quantized at
# run time), per-tensor for two heads and per-channel for one, so both weight layouts are checked.
INT8_PER_CHANNEL = {"seqcls": False, "tokcls": True, "embed": False}


def build_bundles(out_dir: Path, train_texts: list[str]) -> list[Path]:
    """Tiny FP32 bundles (edgedistill.export.tiny_bundles) and an INT8 variant of each, as proper bundles."""
    from edgedistill.export.tiny_bundles import write_tiny_bundle

    made = []
    for short, head in BUNDLE_HEADS.items():
        fp32 = out_dir / f"{short}-fp32"
        write_tiny_bundle(fp32, head, train_texts)
        made.append(fp32)
        made.append(quantize_bundle(fp32, out_dir / f"{short}-int8", INT8_PER_CHANNEL[short]))
    return made


def quantize_bundle(src: Path, dest: Path, per_channel: bool) -> Path:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from edgedistill.runtime.bundle import MANIFEST_NAME, Manifest, seal_bundle

    dest.mkdir(parents=True)
    model = onnx.load(str(src / "model.onnx"))
    # Stale shape annotations can make quantize_dynamic's shape inference fail
    # (docs/export-and-quantization.md, "Facts the export code relies on").
    del model.graph.value_info[:]
    prepared = dest / "fp32-prepared.onnx"
    onnx.save(model, str(prepared))
    quantize_dynamic(str(prepared), str(dest / "model.onnx"), weight_type=QuantType.QInt8,
                     per_channel=per_channel, reduce_range=False)
    prepared.unlink()
    shutil.copyfile(src / "tokenizer.json", dest / "tokenizer.json")
    manifest = Manifest.from_dict(json.loads((src / MANIFEST_NAME).read_text(encoding="utf-8")))
    manifest.source = {**manifest.source, "fp32_bundle": src.name}
    manifest.quantization = {"kind": "dynamic", "weights": "int8", "activations": "uint8",
                             "per_channel": per_channel, "reduce_range": False,
                             "tool": "onnxruntime.quantization.quantize_dynamic"}
    seal_bundle(dest, manifest)
    return dest


# --------------------------------------------------------------------------- predict (both sides)


def read_hwcaps() -> list[str] | None:
    """The arm64 HWCAP feature names this process was given (from /proc/self/auxv), or None."""
    if platform.machine().lower() not in ("aarch64", "arm64"):
        return None
    try:
        return decode_auxv(Path("/proc/self/auxv").read_bytes())
    except OSError:
        return None


def decode_auxv(raw: bytes, byteorder: str = sys.byteorder) -> list[str]:
    """arm64 feature names from an auxiliary vector (pairs of 64-bit key, value)."""
    values = {}
    for i in range(0, len(raw) - 15, 16):
        key = int.from_bytes(raw[i : i + 8], byteorder)
        values[key] = int.from_bytes(raw[i + 8 : i + 16], byteorder)
    names = [n for bit, n in HWCAP_BITS.items() if values.get(AT_HWCAP, 0) >> bit & 1]
    names += [n for bit, n in HWCAP2_BITS.items() if values.get(AT_HWCAP2, 0) >> bit & 1]
    return names


def cpuinfo_summary() -> dict:
    """What /proc/cpuinfo tells this process (under qemu: the fake file check_arm.sh mounted)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return {}
    summary = {}
    for key in ("model name", "CPU implementer", "CPU part", "Features", "flags"):
        match = re.search(rf"^{key}\s*:\s*(.*)$", text, re.MULTILINE)
        if match:
            summary[key] = match.group(1).strip()
    if "flags" in summary:  # x86: keep the INT8-relevant ones only
        wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
        summary["flags"] = " ".join(f for f in summary["flags"].split() if f in wanted)
    return summary


def environment() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    def ver(dist: str) -> str | None:
        try:
            return version(dist)
        except PackageNotFoundError:
            return None

    return {"machine": platform.machine(), "python": platform.python_version(),
            "packages": {d: ver(d) for d in ("edgedistill", "onnxruntime", "tokenizers", "numpy")},
            "cpuinfo": cpuinfo_summary(), "hwcaps": read_hwcaps(),
            "torch_loaded": "torch" in sys.modules}


def predict_bundle(bundle_dir: Path, texts: list[str], threads: int) -> dict:
    """The runtime's own outputs on ``texts``: what a user of the Predictor gets, plus the
    per-token probabilities behind ``tag`` (from the Predictor's window merging) so that a
    changed entity can be traced to the token that changed it."""
    from edgedistill.runtime import Predictor

    predictor = Predictor(bundle_dir, threads=threads)
    manifest = predictor.manifest
    source_fp32 = (manifest.source or {}).get("fp32_bundle")  # written by `edgedistill quantize`
    entry = {"task": manifest.task, "labels": manifest.labels, "quantization": manifest.quantization,
             "fp32_bundle": Path(source_fp32).name if source_fp32 else None, "items": []}
    if manifest.task == "sequence-classification":
        for result in predictor.classify(texts):
            entry["items"].append({"label": result.label,
                                   "probabilities": [result.probabilities[x] for x in manifest.labels]})
    elif manifest.task == "embedding":
        for vector in predictor.embed(texts):
            entry["items"].append({"vector": [float(v) for v in vector]})
    else:
        tagged = predictor.tag(texts)
        for text, entities in zip(texts, tagged, strict=True):
            tokens = predictor.token_probabilities(text)  # (word, offsets, probabilities)
            entry["items"].append({
                "entities": [[e.label, e.start, e.end, e.score] for e in entities],
                "tokens": [[float(p) for p in probs] for _, _, probs in tokens]})
    return entry


def run_predict(bundles: list[Path], texts_file: Path, out: Path, threads: int) -> dict:
    texts = [item["text"] for item in json.loads(texts_file.read_text(encoding="utf-8"))]
    result = {"environment": environment(), "texts": len(texts),
              "texts_sha256": hashlib.sha256(json.dumps(texts).encode()).hexdigest(), "bundles": {}}
    for bundle in bundles:
        result["bundles"][bundle.name] = predict_bundle(bundle, texts, threads)
    out.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    return result


# --------------------------------------------------------------------------- compare (pure Python)


@dataclass
class BundleVerdict:
    bundle: str
    run: str  # which run was compared with the reference, e.g. "neoverse-n1"
    task: str
    precision: str  # "FP32" or "INT8"
    tolerance: float
    items: int = 0
    same_labels: int = 0  # texts whose label (or entity list) is identical
    max_abs_diff: float = 0.0
    min_cosine: float | None = None
    tolerated: list[str] = field(default_factory=list)  # label flips on reference near-ties
    problems: list[str] = field(default_factory=list)
    # INT8 only: outside the tolerance, but as faithful to FP32 as the reference's INT8 (see
    # int8_fidelity); then this says so with the numbers, and `beyond` keeps what was outside.
    equivalent: str | None = None
    beyond: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def result(self) -> str:
        if self.problems:
            return "DISAGREE"
        return "INT8-equivalent" if self.equivalent else "agree"


def precision_of(entry: dict) -> str:
    return "INT8" if entry.get("quantization") else "FP32"


def top_two_margin(probs: list[float]) -> float:
    if len(probs) < 2:
        return math.inf
    first, second = sorted(probs, reverse=True)[:2]
    return first - second


def argmax(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def _max_diff(a: list[float], b: list[float]) -> float:
    return max((abs(x - y) for x, y in zip(a, b, strict=True)), default=0.0)


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else (1.0 if not any(a) and not any(b) else 0.0)


def compare_bundle(name: str, run: str, ref: dict, other: dict, tolerances: dict[str, float],
                   texts: list[str] | None = None) -> BundleVerdict:
    """How ``other`` (e.g. the arm64 run) differs from ``ref`` (x86) on one bundle."""
    precision = precision_of(ref)
    verdict = BundleVerdict(name, run, ref["task"], precision, tolerances[precision.lower()])
    tol = verdict.tolerance

    def where(i: int) -> str:
        return f"text {i}" + (f" ({texts[i][:40]!r})" if texts and i < len(texts) else "")

    if other.get("task") != ref["task"] or other.get("labels") != ref.get("labels"):
        verdict.problems.append(f"task or labels differ: {ref['task']} {ref.get('labels')} vs "
                                f"{other.get('task')} {other.get('labels')}")
        return verdict
    if len(other["items"]) != len(ref["items"]):
        verdict.problems.append(f"{len(ref['items'])} results on the reference, "
                                f"{len(other['items'])} here")
        return verdict
    verdict.items = len(ref["items"])
    for i, (a, b) in enumerate(zip(ref["items"], other["items"], strict=True)):
        if ref["task"] == "sequence-classification":
            diff = _max_diff(a["probabilities"], b["probabilities"])
            verdict.max_abs_diff = max(verdict.max_abs_diff, diff)
            if diff > tol:
                verdict.problems.append(f"{where(i)}: probabilities differ by {diff:.3g} > {tol:g}")
            if a["label"] == b["label"]:
                verdict.same_labels += 1
            elif top_two_margin(a["probabilities"]) <= 2 * tol:
                verdict.tolerated.append(f"{where(i)}: {a['label']} -> {b['label']} on a near-tie "
                                         f"(reference margin {top_two_margin(a['probabilities']):.2g})")
            else:
                verdict.problems.append(f"{where(i)}: label {a['label']} on the reference, "
                                        f"{b['label']} here")
        elif ref["task"] == "embedding":
            if len(a["vector"]) != len(b["vector"]):
                verdict.problems.append(f"{where(i)}: embedding sizes differ")
                continue
            diff = _max_diff(a["vector"], b["vector"])
            verdict.max_abs_diff = max(verdict.max_abs_diff, diff)
            cosine = _cosine(a["vector"], b["vector"])
            verdict.min_cosine = cosine if verdict.min_cosine is None else min(verdict.min_cosine, cosine)
            verdict.same_labels += 1  # no labels: counted as agreeing when within tolerance
            if diff > tol:
                verdict.same_labels -= 1
                verdict.problems.append(f"{where(i)}: embedding components differ by {diff:.3g} > {tol:g}")
        else:
            _compare_tags(verdict, i, a, b, tol, where)
    return verdict


def _compare_tags(verdict: BundleVerdict, i: int, a: dict, b: dict, tol: float, where) -> None:
    if len(a["tokens"]) != len(b["tokens"]):
        verdict.problems.append(f"{where(i)}: {len(a['tokens'])} tokens on the reference, "
                                f"{len(b['tokens'])} here (tokenization differs)")
        return
    near_tie_flip = False
    for j, (pa, pb) in enumerate(zip(a["tokens"], b["tokens"], strict=True)):
        diff = _max_diff(pa, pb)
        verdict.max_abs_diff = max(verdict.max_abs_diff, diff)
        if diff > tol:
            verdict.problems.append(f"{where(i)} token {j}: probabilities differ by {diff:.3g} > {tol:g}")
        if pa and argmax(pa) != argmax(pb):
            if top_two_margin(pa) <= 2 * tol:
                near_tie_flip = True
            else:
                verdict.problems.append(f"{where(i)} token {j}: best label {argmax(pa)} on the "
                                        f"reference, {argmax(pb)} here")
    spans_a = [tuple(e[:3]) for e in a["entities"]]
    spans_b = [tuple(e[:3]) for e in b["entities"]]
    if spans_a == spans_b:
        verdict.same_labels += 1
        score_diff = _max_diff([e[3] for e in a["entities"]], [e[3] for e in b["entities"]])
        if score_diff > tol:
            verdict.problems.append(f"{where(i)}: entity scores differ by {score_diff:.3g} > {tol:g}")
    elif near_tie_flip:
        verdict.tolerated.append(f"{where(i)}: entities differ after a token's best label flipped "
                                 f"on a near-tie")
    else:
        verdict.problems.append(f"{where(i)}: entities {spans_a} on the reference, {spans_b} here")


def compare_runs(reference: dict, runs: dict[str, dict], tolerances: dict[str, float],
                 texts: list[str] | None = None) -> list[BundleVerdict]:
    """Every bundle of every run against the reference; a bundle missing anywhere is a problem."""
    verdicts = []
    for run_name, run in runs.items():
        if run.get("texts_sha256") != reference.get("texts_sha256"):
            raise CheckError(f"run {run_name} was made on different texts than the reference")
        for name, ref_entry in reference["bundles"].items():
            if name not in run["bundles"]:
                verdict = BundleVerdict(name, run_name, ref_entry["task"], precision_of(ref_entry),
                                        tolerances[precision_of(ref_entry).lower()])
                verdict.problems.append("no result in this run")
                verdicts.append(verdict)
                continue
            verdict = compare_bundle(name, run_name, ref_entry, run["bundles"][name], tolerances, texts)
            if verdict.precision == "INT8" and not verdict.ok:
                int8_fidelity(verdict, name, reference["bundles"], run["bundles"])
            verdicts.append(verdict)
        for name in sorted(set(run["bundles"]) - set(reference["bundles"])):
            entry = run["bundles"][name]
            verdict = BundleVerdict(name, run_name, entry["task"], precision_of(entry),
                                    tolerances[precision_of(entry).lower()])
            verdict.problems.append("no result on the reference")
            verdicts.append(verdict)
    return verdicts


# How much further from FP32 the arm64 INT8 output may be than the reference's INT8 output, when
# the two INT8 outputs differ by more than the tolerance. Measured on multilingual-e5-small exported
# and quantized by edgedistill (`quantize --preset arm64`): arm64 and x86 INT8 embeddings differed
# by up to 0.03 per component, yet both sat 0.0285 (mean per-text max deviation) from FP32: the
# arm64 kernels round differently, not worse. Under qemu's `-cpu max` (SME) the tiny bundles' INT8
# sat 10 to 100 times further from FP32 than x86's: that is what this rule still rejects.
FIDELITY_FACTOR = 1.25


def fp32_partner(name: str, entry: dict, bundles: dict) -> str | None:
    """The FP32 bundle an INT8 bundle was quantized from, when it is part of the check."""
    for candidate in (entry.get("fp32_bundle"), name.replace("int8", "fp32"), name.replace("-int8", "")):
        if candidate and candidate != name and candidate in bundles and not bundles[candidate].get(
                "quantization"):
            return candidate
    return None


def _deviation(task: str, a: dict, b: dict) -> float:
    """How far item ``b`` is from item ``a``: max abs difference (mean over tokens for tagging)."""
    if task == "sequence-classification":
        return _max_diff(a["probabilities"], b["probabilities"])
    if task == "embedding":
        return _max_diff(a["vector"], b["vector"])
    if len(a["tokens"]) != len(b["tokens"]):
        return math.inf
    per_token = [_max_diff(x, y) for x, y in zip(a["tokens"], b["tokens"], strict=True)]
    return sum(per_token) / len(per_token) if per_token else 0.0


def _decision(task: str, item: dict):
    if task == "sequence-classification":
        return item["label"]
    if task == "token-classification":
        return [tuple(e[:3]) for e in item["entities"]]
    return None


def fidelity(task: str, fp32: dict, int8: dict) -> tuple[float, int]:
    """Mean deviation of an INT8 output from the FP32 output, and on how many texts the label
    (or the entity list) is the same as FP32's."""
    pairs = list(zip(fp32["items"], int8["items"], strict=True))
    deviation = sum(_deviation(task, a, b) for a, b in pairs) / max(1, len(pairs))
    same = sum(_decision(task, a) == _decision(task, b) for a, b in pairs)
    return deviation, same


def int8_fidelity(verdict: BundleVerdict, name: str, reference: dict, run: dict) -> None:
    """An INT8 bundle outside the tolerance passes if its arm64 output is as faithful to FP32 as
    the reference's INT8 output is: mean deviation from the reference FP32 output at most
    FIDELITY_FACTOR times the reference INT8's (plus the tolerance), and the same label as FP32
    on at least as many texts (one text, or 2%, of slack)."""
    partner = fp32_partner(name, reference[name], reference)
    if partner is None or partner not in run:
        verdict.problems.append("outside the INT8 tolerance, and no FP32 version of this bundle was "
                                "checked alongside it to judge whether the difference is mere rounding "
                                "(pass the FP32 bundle too)")
        return
    task, fp32 = verdict.task, reference[partner]
    if len(run[name]["items"]) != len(fp32["items"]):
        return
    dev_ref, same_ref = fidelity(task, fp32, reference[name])
    dev_here, same_here = fidelity(task, fp32, run[name])
    n = len(fp32["items"])
    what = "label" if task == "sequence-classification" else "entities"
    numbers = (f"mean deviation from the reference's FP32 output ({partner}) {dev_here:.3g} here vs "
               f"{dev_ref:.3g} for the reference's INT8")
    if task != "embedding":
        numbers += f"; same {what} as FP32 on {same_here}/{n} texts here vs {same_ref}/{n}"
    slack = max(1, round(0.02 * n))
    if dev_here <= FIDELITY_FACTOR * dev_ref + verdict.tolerance and same_here >= same_ref - slack:
        verdict.equivalent = ("outside the INT8 tolerance, but as faithful to FP32 as the reference's "
                              "INT8: " + numbers)
        verdict.beyond, verdict.problems = verdict.problems, []
    else:
        verdict.problems.insert(0, "further from FP32 than the reference's INT8: " + numbers)


# --------------------------------------------------------------------------- report


def _features(env: dict) -> str:
    if env.get("hwcaps") is not None:
        return " ".join(env["hwcaps"]) or "(none)"
    info = env.get("cpuinfo", {})
    return info.get("flags") or info.get("Features") or "?"


def render_report(command: str, reference: dict, runs: dict[str, dict], verdicts: list[BundleVerdict],
                  tolerances: dict[str, float], texts: list[dict], emulation: dict[str, dict]) -> str:
    """The markdown report: headed by the command, then the verdict, what was emulated, the table."""
    disagree = sum(not v.ok for v in verdicts)
    equivalent = sum(v.ok and v.equivalent is not None for v in verdicts)
    failures = [(cpu, f) for cpu, run in emulation.items() for f in run.get("failures", [])]
    agreed = (f"all {len(verdicts)} bundle x CPU comparisons agree within tolerance"
              if not equivalent else
              f"{len(verdicts) - equivalent} of {len(verdicts)} bundle x CPU comparisons agree within "
              f"tolerance and {equivalent} are INT8-equivalent (outside the INT8 tolerance, but as "
              f"faithful to FP32 as x86's INT8)")
    if disagree:
        result = (f"**Result: FAIL**: {disagree} of {len(verdicts)} bundle x CPU comparisons disagree "
                  f"(details below).")
    elif failures:
        result = f"**Result: FAIL**: {agreed}, but the command line failed on arm64 (details below)."
    else:
        result = (f"**Result: PASS**: {agreed}; `edgedistill env` and `edgedistill predict` ran on "
                  f"arm64.")
    lines = [
        "# Runtime on aarch64 (qemu user emulation) vs x86: do the predictions agree?",
        "",
        "Produced by this command (regenerate the file with it; do not edit it by hand):",
        "",
        "```sh",
        command,
        "```",
        "",
        result,
        "",
        "This is a correctness check only. The arm64 side ran under qemu user-mode emulation on an x86 "
        "machine, so its timings mean nothing about ARM speed, and none are recorded here. Nothing in "
        "this report was measured on real ARM hardware.",
        "",
        "## What ran where",
        "",
        "| side | machine | CPU the process saw | CPU features the process saw | python | onnxruntime "
        "| tokenizers | numpy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    sides = {"x86, native (reference)": reference,
             **{f"arm64, qemu `-cpu {k}`": v for k, v in runs.items()}}
    for label, run in sides.items():
        env = run["environment"]
        info = env.get("cpuinfo", {})
        part = info.get("CPU part")
        cpu = info.get("model name") or (f"ARM part {part} ({CPU_PARTS.get(part, 'unknown')})"
                                         if part else "?")
        pkgs = env["packages"]
        lines.append(f"| {label} | {env['machine']} | {cpu} | {_features(env)} | {env['python']} | "
                     f"{pkgs.get('onnxruntime')} | {pkgs.get('tokenizers')} | {pkgs.get('numpy')} |")
    lines += ["", "On x86 the features are the INT8-relevant /proc/cpuinfo flags; on arm64 they are the "
              "HWCAP bits qemu gave the process (what onnxruntime's kernels are chosen from)."]
    for cpu, run in emulation.items():
        lines += ["", f"Emulation, `-cpu {cpu}`:", ""]
        lines += [f"- {key}: {value}" for key, value in run.get("details", {}).items()]
        lines += [f"- **FAILED**: {failure}" for failure in run.get("failures", [])]
    lines += [
        "",
        "## Agreement per bundle",
        "",
        f"Tolerance, absolute, on class probabilities, per-token label probabilities, or components of "
        f"L2-normalised embeddings: FP32 {tolerances['fp32']:g}, INT8 {tolerances['int8']:g}. Labels "
        f"and entities must be identical; a flip is tolerated only on a reference near-tie (top-two "
        f"margin at most twice the tolerance) and is then listed below. An INT8 bundle outside its "
        f"tolerance passes as INT8-equivalent only if its FP32 original was checked too and the "
        f"arm64 INT8 output stays as close to FP32 as x86's INT8 output (mean deviation at most "
        f"{FIDELITY_FACTOR:g} x x86's plus the tolerance, and as many labels or entity lists equal "
        f"to FP32's, within one text or 2%).",
        "",
        "| bundle | task | precision | emulated CPU | texts | same labels / entities | max abs diff "
        "| min cosine | tolerance | result |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        cosine = f"{v.min_cosine:.7f}" if v.min_cosine is not None else "-"
        same = f"{v.same_labels}/{v.items}" if v.task != "embedding" else "-"
        lines.append(f"| {v.bundle} | {v.task} | {v.precision} | {v.run} | {v.items} | {same} | "
                     f"{v.max_abs_diff:.2g} | {cosine} | {v.tolerance:g} | {v.result} |")
    notes = [(v, v.equivalent, "INT8-equivalent") for v in verdicts if v.equivalent]
    notes += [(v, m, "outside the tolerance") for v in verdicts for m in v.beyond[:3]]
    notes += [(v, m, "tolerated") for v in verdicts for m in v.tolerated]
    notes += [(v, m, "problem") for v in verdicts for m in v.problems[:10]]
    if notes:
        lines += ["", "Details:", ""]
        lines += [f"- {kind}: {v.bundle} on {v.run}: {m}" for v, m, kind in notes]
    sources: dict[str, int] = {}
    for item in texts:
        key = item["source"].rsplit(":", 1)[0]
        sources[key] = sources.get(key, 0) + 1
    lines += [
        "",
        "How to read it: the tiny bundles (`seqcls`, `tokcls`, `embed`, each FP32 and INT8) are "
        "randomly initialised 2-layer encoders from `tests/bundles.py`, quantized with onnxruntime's "
        "`quantize_dynamic`. Their class probabilities sit close to uniform, so for them the "
        "probability tolerance is the real test and the labels say little; trained bundles given on "
        "the command line make the label comparison meaningful.",
        "",
        "## Inputs",
        "",
        f"{len(texts)} texts, read in place from the shared data folder (the first suitable lines of "
        f"each dev file): " + ", ".join(f"{k} ({n})" for k, n in sources.items()) + ". "
        f"{sum(has_emoji(t['text']) for t in texts)} contain emoji, "
        f"{sum(has_yoruba_diacritics(t['text']) for t in texts)} Yoruba diacritics "
        f"(tone marks, dot below).",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- what was emulated

CPU_PARTS = {"0xd0c": "Neoverse-N1", "0xd0b": "Cortex-A76", "0xd08": "Cortex-A72", "0xd03": "Cortex-A53"}


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


def describe_run(cpu: str, qemu: str, rootfs: str, files: Path, name: str) -> dict:
    """What one arm64 run emulated and how the CLI smoke test went, from the files it left."""
    fake = cpuinfo_fields(_read(files / f"cpuinfo-{name}"))
    part = fake.get("CPU part", "?")
    flags = [line.split(None, 2)[-1] for line in _read(files / f"env-{name}.txt").splitlines()
             if line.startswith("cpu flags")]
    cli_lines = _read(files / f"cli-{name}.jsonl").splitlines()
    failures = []
    if not flags:
        failures.append("`edgedistill env` failed: " + _last_line(_read(files / f"env-{name}.err")))
    try:
        cli_label = json.loads(cli_lines[0])["label"] if len(cli_lines) == 1 else None
    except (json.JSONDecodeError, KeyError, TypeError):
        cli_label = None
    if cli_label is None:
        failures.append("`edgedistill predict` gave no JSON line with a label: "
                        + _last_line(_read(files / f"cli-{name}.err")))
    warnings = [line.strip() for line in _read(files / f"arm-{name}.stderr").splitlines()
                if line.strip() and not line.startswith("edgedistill ")]
    details = {
        "qemu": f"{qemu}, `-cpu {cpu}`",
        "fake /proc/cpuinfo": f"CPU part {part} ({CPU_PARTS.get(part, 'unknown')}), Features "
                              f"{fake.get('Features', '?')}",
        "rootfs": rootfs,
        "`edgedistill env` cpu flags": flags[0] if flags else "FAILED",
        "`edgedistill predict`": f"label {cli_label}" if cli_label else "FAILED",
        "onnxruntime warnings": "; ".join(dict.fromkeys(warnings)) or "none",
    }
    return {"details": details, "failures": failures}


def cpuinfo_fields(text: str) -> dict:
    fields_ = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields_:
            fields_[key.strip()] = value.strip()
    return fields_


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no error output)"


# --------------------------------------------------------------------------- command line


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckError(f"cannot read {path}: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_texts = sub.add_parser("texts", help="pick real sentences from the shared data")
    p_texts.add_argument("--data", type=Path,
                         help="data folder (default: $EDGEDISTILL_DATA or ../shared/data)")
    p_texts.add_argument("--out", type=Path, required=True)
    p_build = sub.add_parser("build", help="write tiny FP32 and INT8 bundles")
    p_build.add_argument("--out", type=Path, required=True)
    p_predict = sub.add_parser("predict", help="run bundles with the runtime")
    p_predict.add_argument("--texts", type=Path, required=True)
    p_predict.add_argument("--out", type=Path, required=True)
    p_predict.add_argument("--threads", type=int, default=1)
    p_predict.add_argument("bundles", type=Path, nargs="+")
    p_record = sub.add_parser("record", help="add what one arm64 run emulated to a JSON file")
    p_record.add_argument("--emulation", type=Path, required=True)
    p_record.add_argument("--cpu", required=True)
    p_record.add_argument("--qemu", required=True)
    p_record.add_argument("--rootfs", required=True)
    p_record.add_argument("--files", type=Path, required=True, help="the work folder of check_arm.sh")
    p_record.add_argument("--name", required=True, help="the run's file name stem")
    p_compare = sub.add_parser("compare", help="compare runs with the reference; exit 1 if they disagree")
    p_compare.add_argument("--reference", type=Path, required=True)
    p_compare.add_argument("--run", action="append", default=[], metavar="NAME=FILE", required=True)
    p_compare.add_argument("--texts", type=Path, required=True)
    p_compare.add_argument("--emulation", type=Path, help="JSON: what was emulated, per run")
    p_compare.add_argument("--command-line", required=True, help="the command that heads the report")
    p_compare.add_argument("--report", type=Path, required=True)
    p_compare.add_argument("--fp32-tolerance", type=float, default=DEFAULT_TOLERANCE["fp32"])
    p_compare.add_argument("--int8-tolerance", type=float, default=DEFAULT_TOLERANCE["int8"])
    args = parser.parse_args(argv)

    try:
        if args.command == "texts":
            if args.data is None:
                from edgedistill.shared_data import data_root

                args.data = data_root()
            picks = select_texts(args.data)
            args.out.write_text(json.dumps(picks, ensure_ascii=False, indent=1), encoding="utf-8")
            print(f"{len(picks)} texts from {args.data}")
        elif args.command == "build":
            from edgedistill.fixtures import fixture_texts

            for bundle in build_bundles(args.out, fixture_texts()):
                print(bundle)
        elif args.command == "predict":
            result = run_predict(args.bundles, args.texts, args.out, args.threads)
            env = result["environment"]
            print(f"{len(result['bundles'])} bundles x {result['texts']} texts on {env['machine']} "
                  f"(onnxruntime {env['packages']['onnxruntime']}) -> {args.out}")
        elif args.command == "record":
            data = _load(args.emulation) if args.emulation.is_file() else {}
            data[args.cpu] = describe_run(args.cpu, args.qemu, args.rootfs, args.files, args.name)
            args.emulation.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
            for failure in data[args.cpu]["failures"]:
                print(f"compare.py: under -cpu {args.cpu}: {failure}", file=sys.stderr)
        else:
            tolerances = {"fp32": args.fp32_tolerance, "int8": args.int8_tolerance}
            reference = _load(args.reference)
            runs = {}
            for spec in args.run:
                name, sep, file = spec.rpartition("=")  # a qemu CPU may contain "=" (max,sme=off)
                if not sep:
                    raise CheckError(f"--run takes NAME=FILE, got {spec!r}")
                runs[name] = _load(Path(file))
            texts = json.loads(args.texts.read_text(encoding="utf-8"))
            emulation = _load(args.emulation) if args.emulation else {}
            verdicts = compare_runs(reference, runs, tolerances, [t["text"] for t in texts])
            report = render_report(args.command_line, reference, runs, verdicts, tolerances, texts,
                                   emulation)
            args.report.parent.mkdir(parents=True, exist_ok=True)
            tmp = args.report.with_name(args.report.name + ".tmp")
            tmp.write_text(report, encoding="utf-8")
            os.replace(tmp, args.report)
            for v in verdicts:
                print(f"{v.result:<15} {v.bundle:<16} {v.precision} on {v.run:<12} "
                      f"max abs diff {v.max_abs_diff:.2g} (tolerance {v.tolerance:g}), "
                      f"{len(v.tolerated)} near-tie flips")
                for line in ([v.equivalent] if v.equivalent else []) + v.problems[:5]:
                    print(f"                {line}")
            print(f"wrote {args.report}")
            if not all(v.ok for v in verdicts):
                print("the arm64 predictions DISAGREE with x86 (see above)", file=sys.stderr)
                return 1
            failures = [f for run in emulation.values() for f in run.get("failures", [])]
            if failures:
                print("the predictions agree, but the CLI failed on arm64: "
                      + "; ".join(dict.fromkeys(failures)), file=sys.stderr)
                return 3
    except CheckError as exc:
        print(f"compare.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
