"""Where the runtime's peak RSS goes, step by step, and what each ONNX Runtime session option changes.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/studies/memory_breakdown.py  # the default Hausa students
    .venv/bin/python benchmarks/studies/memory_breakdown.py NAME=BUNDLE ... [--rounds 3] [--texts 200]
    .venv/bin/python benchmarks/studies/memory_breakdown.py --table-only       # rewrite the file from records

Every measurement is a fresh process that records its resident memory (VmRSS, split into anonymous and
file-backed pages, and the peak VmHWM) after each step: Python start, ``import numpy``, ``import
onnxruntime``, ``import tokenizers``, tokenizer load, InferenceSession creation, the first inference,
100 inferences, and the rest of the texts. The texts are real Hausa sentences (SIB-200 for classifiers,
MasakhaNER 2.0 for taggers), run one at a time (batch 1, tokenization included) for the p50 latency, or
16 at a time padded to the longest (the ``b16-`` rows); cold start is launch to the first prediction.
A variant changes one thing against ONNX Runtime's defaults (VARIANTS: session options, config
entries, run options, loading from bytes, the ORT format or external data, an environment
allocator), or runs the runtime's own Predictor. Variants are interleaved round by round, the order
rotated each round; figures are medians over rounds and the ratios against the reference row are
taken within a round. Records go to --records, the tables to benchmarks/results/memory_breakdown.md,
where the text below READING_MARK is kept on a rewrite.
"""

from __future__ import annotations

import json
import os
import sys
import time

# Only the standard library above: the worker's "Python start" step is measured after these imports.

STATUS_FIELDS = {"VmRSS": "rss", "VmHWM": "peak", "RssAnon": "anon", "RssFile": "file"}
PEAK_AFTER = 100  # inference calls before the "100 inferences" step
BATCH_CALLS = 30  # calls of a batched variant (its texts cycle)
ARENA_SAME_AS_REQUESTED = 1  # OrtArenaCfg arena_extend_strategy: kSameAsRequested (0: next power of two)
ORT_DIRECT = {"session.use_ort_model_bytes_directly": "1",
              "session.use_ort_model_bytes_for_initializers": "1"}

# name -> (what it does, settings). Settings: "options" (SessionOptions attributes), "config" (session
# config entries), "run_config" (RunOptions config entries), "from_bytes", "env_allocator",
# "malloc_trim" (glibc's malloc_trim(0) after the session is made), "model" ("ort": the model saved in
# the ORT format; "external": tensors in a side file; "empty": a one-node model, ONNX Runtime's own
# cost), "batch" (texts per call),
# "predictor" (keyword arguments of the runtime's Predictor), "env" (environment of the process).
VARIANTS: dict[str, tuple[str, dict]] = {
    "default": ("ONNX Runtime's defaults (as `edgedistill predict` without --threads)", {}),
    "threads-1": ("intra_op_num_threads 1, inter_op_num_threads 1",
                  {"options": {"intra_op_num_threads": 1, "inter_op_num_threads": 1}}),
    "no-arena": ("enable_cpu_mem_arena False", {"options": {"enable_cpu_mem_arena": False}}),
    "no-mem-pattern": ("enable_mem_pattern False", {"options": {"enable_mem_pattern": False}}),
    "no-arena-no-pattern": ("both of the above",
                            {"options": {"enable_cpu_mem_arena": False, "enable_mem_pattern": False}}),
    "no-mem-reuse": ("enable_mem_reuse False", {"options": {"enable_mem_reuse": False}}),
    "opt-disable-all": ("graph_optimization_level ORT_DISABLE_ALL",
                        {"options": {"graph_optimization_level": "ORT_DISABLE_ALL"}}),
    "opt-basic": ("graph_optimization_level ORT_ENABLE_BASIC",
                  {"options": {"graph_optimization_level": "ORT_ENABLE_BASIC"}}),
    "opt-extended": ("graph_optimization_level ORT_ENABLE_EXTENDED",
                     {"options": {"graph_optimization_level": "ORT_ENABLE_EXTENDED"}}),
    "no-prepacking": ("config session.disable_prepacking 1", {"config": {"session.disable_prepacking": "1"}}),
    "device-alloc-initializers": ("config session.use_device_allocator_for_initializers 1",
                                  {"config": {"session.use_device_allocator_for_initializers": "1"}}),
    "env-allocator": ("config session.use_env_allocators 1, with a CPU arena registered in the environment "
                      "that grows by what is asked (kSameAsRequested)", {"env_allocator": True}),
    "arena-shrinkage": ("run option memory.enable_memory_arena_shrinkage cpu:0 on every run",
                        {"run_config": {"memory.enable_memory_arena_shrinkage": "cpu:0"}}),
    "from-bytes": ("InferenceSession(the model file's bytes) instead of its path", {"from_bytes": True}),
    "ort-format": ("the model saved in the ORT format (optimized at ORT_ENABLE_EXTENDED), loaded from "
                   "its path", {"model": "ort"}),
    "ort-format-direct": ("ORT format, with session.use_ort_model_bytes_directly and "
                          "use_ort_model_bytes_for_initializers 1", {"model": "ort", "config": ORT_DIRECT}),
    "external-data": ("the model re-saved with its tensors in a side file (onnx external data, large "
                      "tensors 4 KiB-aligned), loaded from its path: ONNX Runtime maps the file instead of "
                      "copying it", {"model": "external"}),
    "malloc-trim": ("glibc malloc_trim(0) right after the session is made (heap freed but kept)",
                    {"malloc_trim": True}),
    "empty-model": ("a one-node model (Cast) instead of the bundle's: ONNX Runtime's cost without weights",
                    {"model": "empty"}),
    "predictor": ("the runtime's Predictor(bundle), its defaults; marks inside its loading",
                  {"predictor": {}}),
    "predictor-threads-1": ("Predictor(bundle, threads=1)", {"predictor": {"threads": 1}}),
    "predictor-no-tok-threads": ("Predictor(bundle) with TOKENIZERS_PARALLELISM=false",
                                 {"predictor": {}, "env": {"TOKENIZERS_PARALLELISM": "false"}}),
    "b16-default": ("16 texts a call, padded to the longest; defaults", {"batch": 16}),
    "b16-no-arena": ("16 a call; enable_cpu_mem_arena False",
                     {"batch": 16, "options": {"enable_cpu_mem_arena": False}}),
    "b16-no-mem-pattern": ("16 a call; enable_mem_pattern False",
                           {"batch": 16, "options": {"enable_mem_pattern": False}}),
    "b16-env-allocator": ("16 a call; the kSameAsRequested environment arena",
                          {"batch": 16, "env_allocator": True}),
    "b16-arena-shrinkage": ("16 a call; arena shrinkage on every run",
                            {"batch": 16, "run_config": {"memory.enable_memory_arena_shrinkage": "cpu:0"}}),
    "b16-no-pattern-shrinkage": ("16 a call; enable_mem_pattern False and arena shrinkage on every run",
                                 {"batch": 16, "options": {"enable_mem_pattern": False},
                                  "run_config": {"memory.enable_memory_arena_shrinkage": "cpu:0"}}),
    "b16-external-data": ("16 a call; the external-data model", {"batch": 16, "model": "external"}),
    "b16-predictor": ("16 a call; Predictor(bundle, batch_size=16)",
                      {"batch": 16, "predictor": {"batch_size": 16}}),
}


# ------------------------------------------------------------------------------------------ worker
def _memory() -> dict[str, int]:
    """Resident memory now (with its anonymous and file-backed parts) and the peak so far, in bytes."""
    found = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in STATUS_FIELDS:
                found[STATUS_FIELDS[key]] = int(rest.split()[0]) * 1024
    return found


class _Steps:
    def __init__(self, launched: float):
        self.launched = launched
        self.rows: list[dict] = []

    def mark(self, step: str) -> None:
        self.rows.append({"step": step, "s": time.time() - self.launched, **_memory()})


def _imports(steps: _Steps):
    import numpy as np

    steps.mark("import numpy")
    import onnxruntime as ort

    steps.mark("import onnxruntime")
    import tokenizers

    steps.mark("import tokenizers")
    return np, ort, tokenizers


def _new_session(ort, model_path: str, settings: dict):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    for name, value in settings.get("options", {}).items():
        if name == "graph_optimization_level":
            value = getattr(ort.GraphOptimizationLevel, value)
        setattr(options, name, value)
    for key, value in settings.get("config", {}).items():
        options.add_session_config_entry(key, value)
    if settings.get("env_allocator"):
        info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, ARENA_SAME_AS_REQUESTED, -1, -1))
        options.add_session_config_entry("session.use_env_allocators", "1")
    source: str | bytes = model_path
    if settings.get("from_bytes"):
        with open(model_path, "rb") as handle:
            source = handle.read()
    session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    run_options = ort.RunOptions()
    for key, value in settings.get("run_config", {}).items():
        run_options.add_run_config_entry(key, value)
    return session, run_options


def _malloc_trim() -> None:
    import ctypes

    ctypes.CDLL("libc.so.6").malloc_trim(0)


def _session_steps(request: dict, steps: _Steps):
    """A bare InferenceSession with the variant's settings, fed as the Predictor feeds it."""
    np, ort, tokenizers = _imports(steps)
    settings = request["settings"]
    tokenizer = tokenizers.Tokenizer.from_file(request["tokenizer"])
    tokenizer.enable_truncation(request["max_length"])
    tokenizer.enable_padding(pad_id=request["pad_id"])
    steps.mark("tokenizer load")
    session, run_options = _new_session(ort, request["model"], settings)
    steps.mark("session creation")
    if settings.get("malloc_trim"):
        _malloc_trim()
        steps.mark("malloc_trim")
    names = {i.name for i in session.get_inputs()}
    prefix = request["prefix"]

    def infer(texts: list[str]):
        encodings = tokenizer.encode_batch([prefix + text for text in texts])
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return session.run(None, {k: v for k, v in feeds.items() if k in names}, run_options)

    return infer


def _predictor_steps(request: dict, steps: _Steps):
    """The runtime's Predictor, marked inside its loading after the tokenizer and after the session."""
    _imports(steps)
    from edgedistill.runtime.predictor import Predictor

    steps.mark("import edgedistill.runtime")

    class Marked(Predictor):
        def _load_tokenizer(self):
            tokenizer = super()._load_tokenizer()
            steps.mark("tokenizer load")
            return tokenizer

        def _load_session(self, *args):
            session = super()._load_session(*args)
            steps.mark("session creation")
            return session

    predictor = Marked(request["bundle"], **request["settings"]["predictor"])
    steps.mark("load-time check run")
    return predictor.tag if predictor.manifest.task == "token-classification" else predictor.classify


def worker(request: dict) -> dict:
    steps = _Steps(request["launched"])
    with open(request["texts"], encoding="utf-8") as handle:
        texts = json.load(handle)
    steps.mark("python start")
    settings = request["settings"]
    infer = (_predictor_steps if "predictor" in settings else _session_steps)(request, steps)
    batch = settings.get("batch", 1)
    calls = ([texts[i : i + 1] for i in range(len(texts))] if batch == 1 else
             [[texts[(k * batch + j) % len(texts)] for j in range(batch)] for k in range(BATCH_CALLS)])
    infer(calls[0])
    steps.mark("first inference")
    cold_start_s = time.time() - request["launched"]
    latencies = []
    for i, call in enumerate(calls[1:], start=1):
        started = time.perf_counter()
        infer(call)
        latencies.append(time.perf_counter() - started)
        if i == PEAK_AFTER:
            steps.mark(f"{PEAK_AFTER} inferences")
    steps.mark(f"all {len(calls)} calls")
    latencies.sort()
    return {"steps": steps.rows, "cold_start_s": cold_start_s, "peak": steps.rows[-1]["peak"],
            "p50_ms": latencies[len(latencies) // 2] * 1000, "calls": len(calls), "batch": batch}


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    print(json.dumps(worker(json.loads(sys.argv[2]))))
    sys.exit(0)


# ------------------------------------------------------------------------------------------ driver
import argparse  # noqa: E402 - the driver's imports come after the worker has exited
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

from study_paths import ROOT  # noqa: E402

from edgedistill.atomic import atomic_write_text  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "memory_breakdown.md"
RECORDS = ROOT / "benchmarks" / "results" / "memory_breakdown"
COMMAND = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/studies/memory_breakdown.py"
READING_MARK = "<!-- reading: written by hand from the figures above; kept when the tables are rewritten -->"
MB = 1e6


class BreakdownError(RuntimeError):
    """A bundle or a measurement failed; the message says which."""


def default_bundles(table_only: bool = False) -> dict[str, Path]:
    """The default Hausa students that exist, else the INT8 bundle of ``make demo``."""
    from edgedistill.teachers import cache_root

    students = cache_root() / "runs" / "students"
    named = {"sib200-hau INT8": students / "default-sib200-hau" / "05-quantize",
             "masakhaner-hau INT8": students / "default-masakhaner-hau" / "05-quantize"}
    found = {name: path for name, path in named.items() if (path / "edgedistill.json").is_file()}
    demo = sorted((ROOT / "runs" / "chain" / "demo-hau").glob("*-quantize"))
    if table_only or found:
        return found or named
    if demo:
        return {"demo INT8": demo[-1]}
    raise BreakdownError(f"no bundle given and none of the defaults exists (the students under {students}, "
                         f"the demo's INT8 bundle under runs/chain/demo-hau, which `make demo` builds); "
                         f"give NAME=BUNDLE")


def hausa_texts(task: str, count: int) -> list[str]:
    """The first ``count`` Hausa test (then dev) sentences of SIB-200 or MasakhaNER 2.0."""
    from edgedistill.shared_data import data_root
    from edgedistill.tasks.readers import read_conll, read_sib200

    texts: list[str] = []
    for split in ("test", "dev"):
        if task == "token-classification":
            sentences = read_conll(data_root() / "masakhaner2" / "hau" / f"{split}.txt")
            texts += [" ".join(e.tokens) for e in sentences]
        else:
            texts += [e.text for e in read_sib200(data_root() / "sib200" / "hau_Latn" / f"{split}.tsv")]
    return texts[:count]


def initializer_bytes(model: Path) -> int:
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    return sum(len(t.raw_data) or onnx.numpy_helper.to_array(t).nbytes for t in graph.initializer)


def write_side_models(model: Path, folder: Path) -> dict[str, Path]:
    """The bundle's model in the ORT format and with external data, and a one-node model."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(folder / "model.ort")
    options.add_session_config_entry("session.save_model_format", "ORT")
    ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    loaded = onnx.load(str(model))
    (folder / "external").mkdir()
    onnx.save(loaded, str(folder / "external" / "model.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="model.onnx.data")
    inputs = list(loaded.graph.input)
    cast = helper.make_node("Cast", ["input_ids"], ["logits"], to=TensorProto.FLOAT)
    output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)
    graph = helper.make_graph([cast], "empty", inputs, [output])
    empty = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    empty.ir_version = 8
    onnx.save(empty, str(folder / "empty.onnx"))
    return {"ort": folder / "model.ort", "external": folder / "external" / "model.onnx",
            "empty": folder / "empty.onnx"}


def run_one(request: dict, env: dict[str, str]) -> dict:
    request = {**request, "launched": time.time()}
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(request)],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1", **env},
                          timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BreakdownError(f"variant {request['variant']} on {request['bundle']} failed "
                             f"(exit {done.returncode}): {tail}")
    return json.loads(lines[-1])


def measure_bundle(name: str, bundle: Path, rounds: int, count: int, only: list[str] | None) -> dict:
    from edgedistill.runtime.bundle import load_manifest, resolve_inside

    manifest = load_manifest(bundle)
    model, tokenizer = (resolve_inside(bundle, f) for f in (manifest.model_file, manifest.tokenizer_file))
    texts = hausa_texts(manifest.task, count)
    names = [v for v in VARIANTS if only is None or v in only]
    record = {"name": name, "bundle": str(bundle), "task": manifest.task, "texts": len(texts),
              "model_bytes": model.stat().st_size, "initializer_bytes": initializer_bytes(model),
              "tokenizer_bytes": tokenizer.stat().st_size, "variants": {v: VARIANTS[v][0] for v in names},
              "rounds": [], "started": datetime.now().strftime("%Y-%m-%d %H:%M"),
              "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as scratch:
        models = {None: model, **write_side_models(model, Path(scratch))}
        texts_file = Path(scratch) / "texts.json"
        atomic_write_text(texts_file, json.dumps(texts, ensure_ascii=False))
        base = {"bundle": str(bundle), "tokenizer": str(tokenizer), "texts": str(texts_file),
                "prefix": manifest.input_prefix, "max_length": manifest.max_length,
                "pad_id": manifest.pad_token_id or 0}
        for index in range(rounds):
            shift = index % len(names)
            measured = {}
            for variant in names[shift:] + names[:shift]:
                print(f"{name}: round {index + 1}/{rounds}: {variant}", flush=True)
                settings = VARIANTS[variant][1]
                measured[variant] = run_one({**base, "variant": variant, "settings": settings,
                                             "model": str(models[settings.get("model")])},
                                            settings.get("env", {}))
            record["rounds"].append(measured)
    record["load_after"] = os.getloadavg()
    return record


# ------------------------------------------------------------------------------------------ report
def _median_steps(rounds: list[dict], variant: str) -> list[dict]:
    per_round = [r[variant]["steps"] for r in rounds]
    keys = ("s", "rss", "peak", "anon", "file")
    return [{"step": rows[0]["step"], **{k: statistics.median(row[k] for row in rows) for k in keys}}
            for rows in zip(*per_round, strict=True)]


def _step_table(record: dict, variant: str) -> list[str]:
    lines = ["| step | RSS MB | added MB | anonymous MB | file-backed MB | peak so far MB | s since launch |",
             "|---|---|---|---|---|---|---|"]
    previous = 0.0
    for row in _median_steps(record["rounds"], variant):
        lines.append(f"| {row['step']} | {row['rss'] / MB:.1f} | {(row['rss'] - previous) / MB:+.1f} | "
                     f"{row['anon'] / MB:.1f} | {row['file'] / MB:.1f} | {row['peak'] / MB:.1f} | "
                     f"{row['s']:.2f} |")
        previous = row["rss"]
    return lines


def _session_figures(result: dict) -> dict:
    """RSS the session adds, the peak reached while making it, what the first run adds, and the time."""
    steps = result["steps"]
    names = [row["step"] for row in steps]
    before, after = steps[names.index("session creation") - 1], steps[names.index("session creation")]
    first = steps[names.index("first inference")]
    return {"added": after["rss"] - before["rss"], "peak": after["peak"], "s": after["s"] - before["s"],
            "first": first["rss"] - steps[names.index("first inference") - 1]["rss"]}


def _percent(ratio: float) -> str:
    return f"{(ratio - 1) * 100:+.0f}%"


def _variant_row(record: dict, variant: str, reference: str) -> str:
    rounds = record["rounds"]

    def median(fn) -> float:
        return statistics.median(fn(r) for r in rounds)

    def session(key: str) -> float:
        return median(lambda r: _session_figures(r[variant])[key])

    peak_ratio = median(lambda r: r[variant]["peak"] / r[reference]["peak"])
    p50_ratio = median(lambda r: r[variant]["p50_ms"] / r[reference]["p50_ms"])
    return (f"| {variant} | {median(lambda r: r[variant]['peak']) / MB:.1f} | {_percent(peak_ratio)} | "
            f"{session('added') / MB:.1f} | {session('peak') / MB:.1f} | {session('first') / MB:+.1f} | "
            f"{session('s'):.2f} | {median(lambda r: r[variant]['cold_start_s']):.2f} | "
            f"{median(lambda r: r[variant]['p50_ms']):.2f} | {_percent(p50_ratio)} |")


def _variant_table(record: dict, variants: list[str], reference: str) -> list[str]:
    return ["| variant | peak RSS MB | peak vs ref. | session +MB | peak at session MB | first run +MB | "
            "load s | cold start s | p50 ms | p50 vs ref. |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *[_variant_row(record, v, reference) for v in variants]]


def bundle_section(record: dict) -> list[str]:
    variants = list(record["variants"])
    load = " / ".join(" ".join(f"{x:.1f}" for x in record[k]) for k in ("load_before", "load_after"))
    shown = record["bundle"].replace(str(Path.home()), "~", 1)
    lines = [f"## {record['name']} ({record['task']}, measured {record['started']})", "",
             f"`{shown}`: model.onnx {record['model_bytes'] / MB:.1f} MB (initializers "
             f"{record['initializer_bytes'] / MB:.1f} MB), tokenizer.json "
             f"{record['tokenizer_bytes'] / MB:.1f} MB; "
             f"{record['texts']} texts, {len(record['rounds'])} rounds; load average {load} "
             f"(before / after; 1, 5, 15 min).", ""]
    for variant in [v for v in ("default", "predictor", "external-data", "malloc-trim") if v in variants]:
        lines += [f"Step by step, `{variant}` ({record['variants'][variant]}), medians:", "",
                  *_step_table(record, variant), ""]
    single = [v for v in variants if not v.startswith("b16-")]
    batched = [v for v in variants if v.startswith("b16-")]
    legend = ("peak RSS: the process's VmHWM after all calls; session +MB: RSS added by making the "
              "InferenceSession (the Predictor's includes its file checks), peak at session: VmHWM right "
              "after it; first run +MB: RSS the first inference adds; load s: session creation; cold start: "
              "launch to the first prediction; p50: one call, tokenization included; vs ref.: against the "
              "reference row within each round, median")
    if single and "default" in single:
        lines += [f"Batch 1, {record['texts']} texts one at a time, reference `default` ({legend}):", "",
                  *_variant_table(record, single, "default"), ""]
    if batched and "b16-default" in batched:
        lines += [f"Batch 16, {BATCH_CALLS} calls of 16 texts padded to the longest, reference `b16-default` "
                  f"(p50 is per call of 16):", "", *_variant_table(record, batched, "b16-default"), ""]
    return lines


def write_report(records: list[dict], out: Path) -> None:
    import onnxruntime

    from edgedistill.env import cpu_model

    kept = "\n"
    if out.is_file() and READING_MARK in out.read_text(encoding="utf-8"):
        kept = out.read_text(encoding="utf-8").split(READING_MARK, 1)[1]
    lines = [f"<!-- generated by `{COMMAND}` from its records; regenerate, do not edit above the reading -->",
             "", "# Where the runtime's memory goes", "",
             f"Generated by: `{COMMAND}` (`--table-only` rewrites the tables from the records). Machine: "
             f"{cpu_model()}, {os.cpu_count()} cores, shared with model-training jobs while this ran (load "
             f"averages per bundle below), Python {sys.version.split()[0]}, onnxruntime "
             f"{onnxruntime.__version__}. Each measurement is a fresh process, variants interleaved round by "
             f"round, medians of the rounds; MB are 10^6 bytes. Memory hardly moves with the load; "
             f"milliseconds do, so compare latencies within a table.", ""]
    for record in records:
        lines += bundle_section(record)
        described = [f"- `{v}`: {what}" for v, what in record["variants"].items()]
        lines += ["What each variant does:", "", *described, ""]
    atomic_write_text(out, "\n".join(lines) + READING_MARK + kept)


def parse_bundles(specs: list[str], table_only: bool) -> dict[str, Path]:
    if not specs:
        return default_bundles(table_only)
    bundles = {}
    for spec in specs:
        name, _, path = spec.rpartition("=")
        bundles[name or Path(path).name] = Path(path).expanduser()
    return bundles


def record_path(folder: Path, name: str) -> Path:
    return folder / ("".join(c if c.isalnum() or c in "-." else "_" for c in name) + ".json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundles", nargs="*", help="NAME=BUNDLE (default: the Hausa default students)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--texts", type=int, default=200, help="texts per measurement")
    parser.add_argument("--variants", nargs="+", help="only these variants (default: all)")
    parser.add_argument("--records", type=Path, default=RECORDS,
                        help="folder of the JSON records [default: benchmarks/results/memory_breakdown]")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--table-only", action="store_true", help="rewrite --out from the records only")
    args = parser.parse_args(argv)
    records_dir = args.records
    unknown = sorted(set(args.variants or []) - set(VARIANTS))
    if unknown:
        print(f"Error: unknown variants {unknown}; known: {', '.join(VARIANTS)}.", file=sys.stderr)
        return 1
    if args.rounds < 1 or args.texts <= PEAK_AFTER:
        print(f"Error: --rounds must be at least 1 and --texts more than {PEAK_AFTER}.", file=sys.stderr)
        return 1
    try:
        bundles = parse_bundles(args.bundles, args.table_only)
    except BreakdownError as exc:
        print(f"Error: {exc}.", file=sys.stderr)
        return 1
    records = []
    for name, bundle in bundles.items():
        path = record_path(records_dir, name)
        if not args.table_only:
            if not (bundle / "edgedistill.json").is_file():
                print(f"Error: {bundle} is not a bundle (it has no edgedistill.json).", file=sys.stderr)
                return 1
            try:
                record = measure_bundle(name, bundle, args.rounds, args.texts, args.variants)
            except BreakdownError as exc:
                print(f"Error: {exc}", file=sys.stderr)
                return 1
            atomic_write_text(path, json.dumps(record, indent=1))
        if path.is_file():
            records.append(json.loads(path.read_text(encoding="utf-8")))
    if not records:
        print(f"Error: no records under {records_dir} for {', '.join(bundles)}; run without --table-only.",
              file=sys.stderr)
        return 1
    write_report(records, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
