"""The chain's report: report.md, report.png, and the bundle with its model card (README.md).

Every number comes from a stage record of this run (results.json of the trainers, the compression
reports, the bundle manifests, scores.json, bench.json); nothing here is typed in.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from edgedistill.chain.stages import StageRecord

# The project's targets (issue 8): retention of the teacher's metric, bundle size, INT8 speed-up.
TARGET_RETENTION = 0.95
TARGET_SMALLER = 0.97
TARGET_SPEEDUP = 20.0


def write_chain_report(settings: dict[str, Any], done: dict[str, StageRecord], product: Path) -> None:
    shutil.rmtree(product, ignore_errors=True)  # a report left half-written by a stopped attempt
    product.mkdir(parents=True)
    facts = gather(settings, done)
    bundle = product / "bundle"
    shutil.copytree(done[settings["int8"]].model, bundle, ignore=shutil.ignore_patterns("stage.json"))
    (bundle / "README.md").write_text(model_card(facts), encoding="utf-8")
    plotted = write_plot(facts, product / "report.png")
    (product / "report.md").write_text(report_markdown(facts, plotted), encoding="utf-8")
    (product / "facts.json").write_text(json.dumps(facts, indent=2, ensure_ascii=False) + "\n")


def gather(settings: dict[str, Any], done: dict[str, StageRecord]) -> dict[str, Any]:
    """The numbers the report states, each taken from a stage record."""
    teacher = done[settings["teacher"]].summary
    trained = [done[name] for name in settings["stages"][1:] if done[name].summary.get("test") is not None]
    student = trained[-1].summary if trained else {}
    int8, fp32 = done[settings["int8"]].summary, done[settings["fp32"]].summary
    scores = done[settings["scores"]].summary
    bench = done[settings["bench"]].summary
    metric = scores.get("metric") or "macro_f1"
    facts = {
        "recipe": settings["recipe"], "task": int8.get("task"), "labels": int8.get("labels"),
        "metric": metric, "test_examples": scores.get("examples"), "seed": scores.get("seed"),
        "teacher": {"name": teacher.get("display_name"), "test": _metric(teacher.get("test"), metric),
                    "test_examples": teacher.get("test_examples"), "model": teacher.get("model")},
        "final_model_stage": settings["student"],
        "student": {"stage": trained[-1].name if trained else None,
                    "test": _metric(student.get("test"), metric),
                    "test_examples": student.get("test_examples"), "shape": student.get("shape")},
        "bundles": {"fp32": {"test": scores.get("bundles", {}).get("fp32"), "bytes": fp32.get("model_bytes")},
                    "int8": {"test": scores.get("bundles", {}).get("int8"), "bytes": int8.get("model_bytes"),
                             "dev": int8.get("dev"), "gate_choice": int8.get("gate_choice"),
                             "parameters": int8.get("parameters"), "architecture": int8.get("architecture"),
                             "vocab_size": int8.get("vocab_size")}},
        "baseline": done[settings["baseline"]].summary if "baseline" in settings else {},
        "bench": {"config": bench.get("config"), "command": bench.get("command"),
                  "variants": bench.get("summary", {})},
        "stages": [_stage(done[name]) for name in settings["stages"]],
    }
    facts["targets"] = targets(facts)
    return facts


def _stage(record: StageRecord) -> dict[str, Any]:
    return {"name": record.name, "fingerprint": record.fingerprint, "seconds": round(record.seconds, 1),
            "reused": record.reused, "headline": record.summary.get("headline"),
            "parameters": (record.summary.get("parameters") or {}).get("total")}


def _metric(scores: dict | None, metric: str) -> float | None:
    return scores.get(metric) if scores else None


def targets(facts: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the measured value; a value that was not measured stays None."""
    teacher_test, int8_test = facts["teacher"]["test"], facts["bundles"]["int8"]["test"]
    same_sample = facts["teacher"]["test_examples"] == facts["test_examples"]
    retention = int8_test / teacher_test if teacher_test and int8_test is not None and same_sample else None
    variants = facts["bench"]["variants"]
    teacher, student = variants.get("teacher-pytorch-fp32", {}), variants.get("student-onnx-int8", {})
    smaller = None
    if teacher.get("size_bytes") and student:
        smaller = 1 - student["size_bytes"] / teacher["size_bytes"]
    speedup = student.get("speedup_vs_reference")
    return [
        {"target": f"retention of the teacher's {facts['metric']} >= {TARGET_RETENTION:.0%}",
         "value": retention, "met": None if retention is None else retention >= TARGET_RETENTION,
         "shown": "-" if retention is None else f"{retention:.1%}"},
        {"target": f"INT8 weights >= {TARGET_SMALLER:.0%} smaller than the teacher's FP32 weights",
         "value": smaller, "met": None if smaller is None else smaller >= TARGET_SMALLER,
         "shown": "-" if smaller is None else f"{smaller:.1%} smaller"},
        {"target": f"INT8 student >= {TARGET_SPEEDUP:g}x faster than the PyTorch FP32 teacher",
         "value": speedup, "met": None if speedup is None else speedup >= TARGET_SPEEDUP,
         "shown": "-" if speedup is None else f"{speedup:.1f}x"},
    ]


def versus_baseline(facts: dict[str, Any]) -> str:
    """One sentence: is the INT8 bundle ahead of the baseline on the same test examples, and by how much."""
    baseline, int8 = facts.get("baseline") or {}, facts["bundles"]["int8"]["test"]
    if baseline.get("skipped"):
        return f"No baseline was fitted: {baseline['skipped']}."
    if baseline.get("score") is None or int8 is None:
        return "No baseline score to compare with."
    gap = 100 * (int8 - baseline["score"])
    where = "ahead of" if gap >= 0 else "behind"
    return (f"This INT8 bundle is {where} the baseline ({baseline['description']}, fitted on the "
            f"task's whole training split, settings chosen on dev) by {abs(gap):.1f} points of test "
            f"{facts['metric']}: {int8:.4f} against {baseline['score']:.4f}. The baseline's model file is "
            f"{_mb(baseline.get('bytes'))} MB and predicts in {_num(baseline.get('ms_per_text'), '.2f')} ms "
            f"per text.")


# ---------------------------------------------------------------- report.md

def _num(value, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, int | float) else "-"


def _mb(value) -> str:
    return f"{value / 1e6:.1f}" if isinstance(value, int | float) else "-"


def report_markdown(facts: dict[str, Any], plotted: bool) -> str:
    metric, n = facts["metric"], facts["test_examples"]
    lines = [f"# edgedistill run: {facts['recipe']}", "",
             f"Teacher: {facts['teacher']['name']}. Task: {facts['task']} "
             f"({', '.join(facts['labels'] or [])}). "
             f"Test metric: {metric} on the same {n} test examples (shuffled with seed {facts['seed']}) for "
             f"every row; the INT8 gate's numbers are on dev data.", "",
             "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for target in facts["targets"]:
        met = {True: "yes", False: "no", None: "not measured"}[target["met"]]
        lines.append(f"| {target['target']} | {target['shown']} | {met} |")
    lines += ["", "## Accuracy and size", "", f"| model | test {metric} | weights MB |", "|---|---|---|"]
    bench = facts["bench"]["variants"]
    bundles = facts["bundles"]
    rows = [("teacher (PyTorch FP32)", facts["teacher"]["test"], "teacher-pytorch-fp32"),
            (f"student, PyTorch FP32 (scored after {facts['student']['stage']}, weights of the final "
             f"model)", facts["student"]["test"], "student-pytorch-fp32"),
            ("student bundle ONNX FP32", bundles["fp32"]["test"], "student-onnx-fp32"),
            ("student bundle ONNX INT8", bundles["int8"]["test"], "student-onnx-int8")]
    for name, score, variant in rows:
        lines.append(f"| {name} | {_num(score, '.4f')} | {_mb(bench.get(variant, {}).get('size_bytes'))} |")
    baseline = facts.get("baseline") or {}
    if baseline.get("kind"):
        lines.append(f"| baseline: {baseline['description']} | {_num(baseline.get('score'), '.4f')} | "
                     f"{_mb(baseline.get('bytes'))} |")
    lines += ["", versus_baseline(facts)]
    dev = facts["bundles"]["int8"]["dev"] or {}
    if dev:
        lines += ["", f"INT8 accuracy gate ({dev.get('metric')}, {dev.get('sentences')} dev examples): FP32 "
                      f"{_num(dev.get('fp32'), '.2f')}, INT8 {_num(dev.get('int8'), '.2f')} "
                      f"(drop {_num(dev.get('drop'), '+.2f')}); chosen: {bundles['int8']['gate_choice']}."]
    lines += ["", "## Speed and memory", "", _bench_table(facts), "",
              f"Measured by `{facts['bench']['command']}` (each round and variant in a fresh process, "
              f"ratios taken within each round, then the median); full tables in the bench stage folder.", "",
              "## Stages", "", "| stage | what it did | parameters after | time | this run |",
              "|---|---|---|---|---|"]
    for stage in facts["stages"]:
        lines.append(f"| {stage['name']} | {stage['headline'] or '-'} | {_num(stage['parameters'], ',')} | "
                     f"{stage['seconds']} s | {'reused' if stage['reused'] else 'ran'} |")
    if plotted:
        lines += ["", "![latency and accuracy against size](report.png)"]
    return "\n".join(lines) + "\n"


def _bench_table(facts: dict[str, Any]) -> str:
    config = facts["bench"]["config"] or {}
    lines = [f"Seq {config.get('seq_len')}, batch {config.get('batch_size')}, {config.get('threads')} "
             f"thread(s), {config.get('rounds')} round(s).", "",
             "| variant | p50 ms | speed-up vs teacher | peak RSS MB | RSS ratio | weights MB |",
             "|---|---|---|---|---|---|"]
    for name, s in facts["bench"]["variants"].items():
        lines.append(f"| {name} | {_num(s.get('p50_ms'), '.2f')} | "
                     f"{_num(s.get('speedup_vs_reference'), '.2f')}x | "
                     f"{_mb(s.get('peak_rss_bytes'))} | {_num(s.get('rss_ratio_vs_reference'), '.3f')} | "
                     f"{_mb(s.get('size_bytes'))} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- plot

def write_plot(facts: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    variants = facts["bench"]["variants"]
    scores = {"teacher-pytorch-fp32": facts["teacher"]["test"],
              "student-pytorch-fp32": facts["student"]["test"],
              "student-onnx-fp32": facts["bundles"]["fp32"]["test"],
              "student-onnx-int8": facts["bundles"]["int8"]["test"]}
    if facts["student"]["stage"] != facts["final_model_stage"]:
        scores["student-pytorch-fp32"] = None  # scored before a later stage changed it: not at this size
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for index, (name, s) in enumerate(variants.items()):
        size, colour = s["size_bytes"] / 1e6, f"C{index}"  # one colour per variant in both panels
        left.scatter(size, s["p50_ms"], color=colour)
        left.annotate(name, (size, s["p50_ms"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
        if scores.get(name) is not None:
            right.scatter(size, scores[name], color=colour)
            right.annotate(name, (size, scores[name]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    for ax in (left, right):
        ax.margins(0.2)
    left.set(xscale="log", yscale="log", xlabel="weights on disk (MB)", ylabel="p50 latency (ms)",
             title="latency against size")
    right.set(xscale="log", xlabel="weights on disk (MB)", ylabel=f"test {facts['metric']}",
              title=f"accuracy against size ({facts['test_examples']} test examples)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ---------------------------------------------------------------- model card

def model_card(facts: dict[str, Any]) -> str:
    bundle = facts["bundles"]["int8"]
    arch, params = bundle["architecture"] or {}, bundle["parameters"] or {}
    retention, smaller, speedup = (t["shown"] for t in facts["targets"])
    int8 = facts["bench"]["variants"].get("student-onnx-int8", {})
    bench = facts["bench"]["config"] or {}
    usage = {"sequence-classification": 'predictor.classify(["Ina son wannan waka sosai"])',
             "token-classification": 'predictor.tag(["Aliko Dangote ya je Kano"])'}
    lines = [
        f"# {facts['recipe']} student: {facts['task']}", "",
        f"An INT8 ONNX bundle made by `edgedistill run` (recipe `{facts['recipe']}`) from the teacher "
        f"{facts['teacher']['name']}.", "",
        "## Model", "",
        f"- {arch.get('layers')} layers, hidden size {arch.get('hidden_size')}, {arch.get('heads')} heads, "
        f"FFN {arch.get('intermediate_size')}, vocabulary {_num(bundle['vocab_size'], ',')} "
        f"tokens; {_num(params.get('total'), ',')} parameters ({_num(params.get('non_embedding'), ',')} "
        f"non-embedding).",
        f"- Labels: {', '.join(facts['labels'] or [])}.",
        f"- INT8 scheme: {bundle['gate_choice']} (chosen by the accuracy gate).", "",
        "## Measured", "",
        f"- Test {facts['metric']} on {facts['test_examples']} examples: this bundle "
        f"{_num(bundle['test'], '.4f')}, the teacher {_num(facts['teacher']['test'], '.4f')} "
        f"(retention {retention}).",
        f"- {versus_baseline(facts)}",
        f"- Weights {_mb(int8.get('size_bytes'))} MB ({smaller} than the teacher's FP32 weights).",
        f"- Latency p50 {_num(int8.get('p50_ms'), '.2f')} ms at seq {bench.get('seq_len')}, "
        f"batch {bench.get('batch_size')}, {bench.get('threads')} "
        f"thread(s): {speedup} against the teacher in PyTorch FP32 on the same machine; "
        f"peak RSS {_mb(int8.get('peak_rss_bytes'))} MB.", "",
        "## Use", "", "```python", "from edgedistill.runtime import Predictor",
        'predictor = Predictor("path/to/this/folder", threads=1)',
        usage.get(facts["task"], 'predictor.embed(["..."])'),
        "```", "",
        "Needs only `pip install edgedistill` (onnxruntime, tokenizers, numpy). The runtime checks every "
        "file against the SHA-256 in edgedistill.json; this README.md is not one of them.", "",
        "## Limits", "",
        "Trained and scored on one dataset and language; the numbers above come from one run on one "
        "machine (see report.md beside this folder for how they were measured).",
    ]
    return "\n".join(lines) + "\n"
