"""The chain's report: report.md, report.png, and the bundle with its model card (README.md).

Every number comes from a stage record of this run (results.json of the trainers, the compression
reports, the bundle manifests, scores.json, bench.json); nothing here is typed in.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistill.atomic import read_json
from edgedistill.chain.runner import StageRecord

# The project's targets (issue 8): retention of the teacher's metric, bundle size, INT8 speed-up.
TARGET_RETENTION = 0.95
TARGET_SMALLER = 0.97
TARGET_SPEEDUP = 20.0


@dataclass(frozen=True)
class DataCard:
    """What a model card says about a built-in dataset: its name, Hugging Face id, licence, source."""

    name: str
    hub_id: str
    license: str  # a Hugging Face licence id
    license_text: str
    source: str


# From ../shared/data/README.md and MANIFEST.tsv (the repositories the files were copied from).
BUILTIN_DATA = {
    "afrisenti": DataCard("AfriSenti (SemEval-2023 Task 12)", "shmuhammad/AfriSenti-twitter-sentiment",
                          "cc-by-4.0", "CC BY 4.0", "https://github.com/afrisenti-semeval/afrisent-semeval-2023"),
    "masakhaner": DataCard("MasakhaNER 2.0", "masakhane/masakhaner2", "cc-by-nc-4.0", "CC BY-NC 4.0",
                           "https://github.com/masakhane-io/masakhane-ner"),
    "sib200": DataCard("SIB-200", "Davlan/sib200", "cc-by-sa-4.0",
                       "CC BY-SA 4.0 (its FLORES-200 sentences; the repository's code is Apache-2.0)",
                       "https://github.com/dadelani/sib-200"),
    "ud-pos": DataCard("Universal Dependencies, Yoruba YTB", "universal_dependencies", "cc-by-sa-4.0",
                       "CC BY-SA 4.0", "https://github.com/UniversalDependencies/UD_Yoruba-YTB"),
}
PIPELINE_TAGS = {"sequence-classification": "text-classification",
                 "token-classification": "token-classification", "embedding": "feature-extraction"}
ORT_CLASSES = {"sequence-classification": "ORTModelForSequenceClassification",
               "token-classification": "ORTModelForTokenClassification",
               "embedding": "ORTModelForFeatureExtraction"}
EXAMPLE_TEXTS = {"sequence-classification": "Ina son wannan waka sosai",
                 "token-classification": "Aliko Dangote ya je Kano"}
HF_METRICS = {"macro_f1": "f1", "weighted_f1": "f1", "accuracy": "accuracy", "entity_f1": "seqeval",
              "spearman": "spearmanr"}


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
    manifest = read_json(done[settings["int8"]].model / "edgedistill.json")
    task_record = (manifest.get("source") or {}).get("task") or {}
    facts = {
        "recipe": settings["recipe"], "task": int8.get("task"), "labels": int8.get("labels"),
        "label_source": task_record.get("label_source"), "data": task_record.get("data") or {},
        "input_prefix": manifest.get("input_prefix", ""),
        "metric": metric, "test_examples": scores.get("examples"), "seed": scores.get("seed"),
        "teacher": {"name": teacher.get("display_name"), "test": _metric(teacher.get("test"), metric),
                    "test_examples": teacher.get("test_examples"), "model": teacher.get("model"),
                    **_teacher_origin(teacher.get("model"))},
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


def _teacher_origin(model: str | None) -> dict[str, Any]:
    """The teacher's original (a hub id) and licence, from the provenance its directory carries."""
    if not model:
        return {"original": None, "license": None}
    provenance = read_json(Path(model) / "edgedistill-teacher.json")
    hub_id = model if not Path(model).exists() and model.count("/") == 1 else None
    return {"original": provenance.get("original") or hub_id, "license": provenance.get("license")}


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
    """README.md of the shipped bundle: Hugging Face front matter, then what the model is and how well it
    does, how to run it (the runtime, or Optimum and transformers' pipeline), and the licences."""
    bundle = facts["bundles"]["int8"]
    arch, params = bundle["architecture"] or {}, bundle["parameters"] or {}
    retention, smaller, speedup = (t["shown"] for t in facts["targets"])
    int8 = facts["bench"]["variants"].get("student-onnx-int8", {})
    bench = facts["bench"]["config"] or {}
    verbs = {"sequence-classification": "classify", "token-classification": "tag"}
    example = json.dumps([EXAMPLE_TEXTS.get(facts["task"], "...")], ensure_ascii=False)
    lines = [
        front_matter(facts),
        f"# {facts['recipe']} student: {facts['task']}", "",
        f"An INT8 ONNX bundle made by `edgedistill run` (recipe `{facts['recipe']}`) from the teacher "
        f"{facts['teacher']['name']}.", "",
        "## Model", "",
        f"- {arch.get('layers')} layers, hidden size {arch.get('hidden_size')}, {arch.get('heads')} heads, "
        f"FFN {arch.get('intermediate_size')}, vocabulary {_num(bundle['vocab_size'], ',')} "
        f"tokens; {_num(params.get('total'), ',')} parameters ({_num(params.get('non_embedding'), ',')} "
        f"non-embedding).",
        f"- {_labels_line(facts)}",
        f"- {_prefix_line(facts.get('input_prefix') or '')}",
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
        f"predictor.{verbs.get(facts['task'], 'embed')}({example})",
        "```", "",
        "Needs only `pip install edgedistill` (onnxruntime, tokenizers, numpy). The runtime checks every "
        "file against the SHA-256 in edgedistill.json; this README.md is not one of them.", "",
        *_optimum_usage(facts), "",
        "## Licences", "", *_licence_lines(facts), "",
        "## Limits", "",
        "Trained and scored on one dataset and language; the numbers above come from one run on one "
        "machine (see report.md beside this folder for how they were measured).",
    ]
    return "\n".join(lines) + "\n"


def front_matter(facts: dict[str, Any]) -> str:
    """The YAML block the Hugging Face Hub reads; strings are written as JSON, which YAML reads as is."""
    data = facts.get("data") or {}
    card = BUILTIN_DATA.get(data.get("dataset"))
    fields: dict[str, Any] = {
        "language": [data["language"]] if data.get("language") else None,
        "license": card.license if card else "other",  # the data's: e5-small's MIT asks less
        "datasets": [card.hub_id] if card else None,
        "metrics": [HF_METRICS.get(facts["metric"], facts["metric"])],
        "base_model": facts["teacher"].get("original"),
        "pipeline_tag": PIPELINE_TAGS.get(facts["task"]),
        "tags": ["edgedistill", "onnx", "int8", "knowledge-distillation"],
    }
    lines = ["---"]
    for key, value in fields.items():
        if isinstance(value, list):
            lines += [f"{key}:", *(f"- {json.dumps(item, ensure_ascii=False)}" for item in value)]
        elif value is not None:
            lines.append(f"{key}: {json.dumps(value, ensure_ascii=False)}")
    return "\n".join([*lines, "---", ""])


def _labels_line(facts: dict[str, Any]) -> str:
    labels = [str(label) for label in facts["labels"] or []]
    line = f"Labels, in the order of the model's outputs: {', '.join(labels)}"
    source = facts.get("label_source")
    if labels and all(label.lstrip("-").isdigit() for label in labels):
        return (f"{line}: the values of the label column{f' ({source})' if source else ''}, which gives "
                f"them no names; a label column that holds names (negative, positive...) gives named "
                f"outputs.")
    return f"{line} (from {source})." if source else f"{line}."


def _prefix_line(prefix: str) -> str:
    if not prefix:
        return "Input prefix: none; texts go to the model as they are."
    return (f"Input prefix: {json.dumps(prefix)}. The model was trained on texts that begin with it; the "
            f"Predictor adds it, other tools (transformers' pipeline(), Optimum) do not: add it yourself.")


def _optimum_usage(facts: dict[str, Any]) -> list[str]:
    task, prefix = facts["task"], facts.get("input_prefix") or ""
    texts = 'texts' if not prefix else f'[{json.dumps(prefix)} + text for text in texts]'
    extra = ", top_k=None" if task == "sequence-classification" else ""
    return [
        "With Optimum and transformers (the folder holds config.json, tokenizer_config.json and "
        "special_tokens_map.json for them):", "", "```python",
        f"from optimum.onnxruntime import {ORT_CLASSES.get(task, 'ORTModel')}",
        "from transformers import AutoTokenizer, pipeline", "",
        'folder = "path/to/this/folder"',
        f"texts = {json.dumps([EXAMPLE_TEXTS.get(task, '...')], ensure_ascii=False)}",
        f"model = {ORT_CLASSES.get(task, 'ORTModel')}.from_pretrained(folder)",
        f'run = pipeline("{PIPELINE_TAGS.get(task, task)}", model=model, '
        f"tokenizer=AutoTokenizer.from_pretrained(folder){extra})",
        f"run({texts})", "```", "",
        f"They give the Predictor's probabilities{' when the prefix is added' if prefix else ''}. "
        + ("The pipeline groups SentencePiece pieces into words by its own rule, so its entity spans can "
           "differ from the Predictor's; the scores of each token are the same. " if task ==
           "token-classification" else "")
        + "Dynamic INT8 quantizes activations per batch, so results can differ in the last digits "
          "between batch sizes.",
    ]


def _licence_lines(facts: dict[str, Any]) -> list[str]:
    teacher = facts["teacher"]
    original = f" ({teacher['original']})" if teacher.get("original") else ""
    licence = teacher.get("license") or "licence not recorded"
    data = facts.get("data") or {}
    card = BUILTIN_DATA.get(data.get("dataset"))
    if card:
        data_line = f"- Data: {card.name}, {card.license_text}, from {card.source}."
    else:
        files = ", ".join(Path(data[k]).name for k in ("train", "dev", "test") if data.get(k))
        data_line = (f"- Data: your own {data.get('dataset') or ''} files ({files or 'not recorded'}); their "
                     f"licence was not recorded: set `license` in the front matter above to it.")
    return [f"- Teacher: {teacher['name']}{original}, {licence}.", data_line,
            "- The weights derive from both: the front matter's `license` is the data's, and the "
            "teacher's terms apply too."]
