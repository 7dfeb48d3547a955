"""Per-text latency of bundles in headless Chromium (the browser demo: onnxruntime-web, WebAssembly, one
thread) beside the Python runtime's (onnxruntime, one thread) on the same texts, and how close the
browser's answers are to the runtime's.

    .venv/bin/python benchmarks/studies/web_latency.py                     # the default Hausa students
    .venv/bin/python benchmarks/studies/web_latency.py NAME=BUNDLE ... [--texts 100] [--rounds 3]

Each text runs alone (batch 1) in both, tokenizing and post-processing included, after a warm-up;
rounds alternate the browser and Python. The texts are the first Hausa dev sentences of SIB-200 (for
classifiers) or MasakhaNER 2.0 (for taggers). Writes benchmarks/results/web_demo_latency.md, and
web_demo/screenshot.png: the page after running its example sentences on the first tagger.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np
from study_paths import ROOT

from edgedistill.atomic import atomic_write_bytes, atomic_write_text
from edgedistill.headless import HeadlessChromium
from edgedistill.runtime import Predictor
from edgedistill.shared_data import data_root
from edgedistill.tasks.readers import read_conll, read_sib200
from edgedistill.teachers import cache_root
from edgedistill.web_demo import WEB_DIR, bundle_files, check_web_dir, make_server, server_url

OUT = ROOT / "benchmarks" / "results" / "web_demo_latency.md"
SCREENSHOT = WEB_DIR / "screenshot.png"
COMMAND = ".venv/bin/python benchmarks/studies/web_latency.py"
STUDENTS = cache_root() / "runs" / "students"
DEFAULT_BUNDLES = {
    "masakhaner-hau INT8": STUDENTS / "default-masakhaner-hau" / "05-quantize",
    "masakhaner-hau FP32": STUDENTS / "default-masakhaner-hau" / "04-export",
    "sib200-hau INT8": STUDENTS / "default-sib200-hau" / "05-quantize",
}


def hausa_texts(task: str, count: int) -> list[str]:
    if task == "token-classification":
        sentences = read_conll(data_root() / "masakhaner2" / "hau" / "dev.txt")[:count]
        return [" ".join(e.tokens) for e in sentences]
    return [e.text for e in read_sib200(data_root() / "sib200" / "hau_Latn" / "dev.tsv")[:count]]


def python_run(predictor: Predictor, texts: list[str]) -> tuple[list[float], list]:
    """Milliseconds per text and the answers, each text alone."""
    run = predictor.tag if predictor.manifest.task == "token-classification" else predictor.classify
    times, answers = [], []
    for text in texts:
        start = time.perf_counter()
        answers.append(run(text))
        times.append((time.perf_counter() - start) * 1000)
    return times, answers


def agreement(task: str, page: list[dict], python: list) -> str:
    """Labels (or entity spans) identical, and the largest score difference."""
    if task == "sequence-classification":
        same = sum(p["result"]["label"] == r.label for p, r in zip(page, python, strict=True))
        diff = max(abs(p["result"]["probabilities"][k] - v) for p, r in zip(page, python, strict=True)
                   for k, v in r.probabilities.items())
        return f"{same}/{len(page)} labels, max prob. diff {diff:.1e}"
    spans = [[(e["label"], e["start"], e["end"]) for e in p["result"]] for p in page]
    same = sum(s == [(e.label, e.start, e.end) for e in r] for s, r in zip(spans, python, strict=True))
    diff = max((abs(a["score"] - b.score) for p, r in zip(page, python, strict=True)
                for a, b in zip(p["result"], r, strict=False)), default=0.0)
    return f"{same}/{len(page)} texts' spans, max score diff {diff:.1e}"


def measure(browser: HeadlessChromium, site: str, name: str, bundle: Path, count: int, rounds: int) -> dict:
    manifest = json.loads((bundle / "edgedistill.json").read_text())
    texts = hausa_texts(manifest["task"], count)
    start = time.perf_counter()
    browser.open(f"{site}?bundle=/bundles/{name}/")
    browser.evaluate("window.demo.ready.then(() => true)")
    load_s = time.perf_counter() - start
    predictor = Predictor(bundle, threads=1, batch_size=1)
    browser.evaluate(f"window.demo.runTexts({json.dumps(texts[:5])})")  # warm-up
    python_run(predictor, texts[:5])
    web_ms, py_ms = [], []
    for _ in range(rounds):
        page = browser.evaluate(f"window.demo.runTexts({json.dumps(texts)})")
        web_ms += [p["ms"] for p in page]
        times, answers = python_run(predictor, texts)
        py_ms += times
    size = sum((bundle / f).stat().st_size for f in (manifest["model_file"], manifest["tokenizer_file"]))
    return {"name": name, "task": manifest["task"], "mb": size / 1e6, "texts": len(texts), "load_s": load_s,
            "web": np.percentile(web_ms, [50, 90]), "py": np.percentile(py_ms, [50, 90]),
            "agreement": agreement(manifest["task"], page, answers)}


def screenshot(browser: HeadlessChromium, site: str, name: str) -> None:
    browser.open(f"{site}?bundle=/bundles/{name}/")
    browser.evaluate("window.demo.ready.then(() => window.demo.runTexts("
                     "document.getElementById('texts').value.split('\\n')))")
    browser.evaluate("window.demo.runTexts(document.getElementById('texts').value.split('\\n'))")
    atomic_write_bytes(SCREENSHOT, browser.screenshot())


def report(rows: list[dict], chromium: str, rounds: int, load_before: str) -> str:
    import onnxruntime

    ort_web = json.loads((WEB_DIR / "package.json").read_text())["dependencies"]["onnxruntime-web"]
    lines = [
        f"<!-- generated by `{COMMAND}`; regenerate, never edit -->", "",
        "# The bundle in a browser: latency beside the Python runtime", "",
        f"Generated by: `{COMMAND}` ({datetime.now():%Y-%m-%d %H:%M}). Each text runs alone (batch 1), "
        "tokenizing and post-processing included, after a 5-text warm-up; "
        f"{rounds} rounds alternate the browser and Python, and the percentiles are over every text of every "
        f"round. Browser: headless {chromium}, onnxruntime-web {ort_web} (WebAssembly, SIMD, 1 thread), the "
        "page of web_demo/ as `edgedistill serve-demo` serves it. Python: edgedistill.runtime.Predictor, "
        f"onnxruntime {onnxruntime.__version__}, threads=1, batch_size=1. Machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, shared with training jobs while this ran (load average {load_before} "
        "at the start), so compare the two columns of a row, not absolute milliseconds with other tables.",
        "", "| bundle | task | weights MB | texts | page ready s | browser p50 / p90 ms | "
        "Python p50 / p90 ms | browser / Python (p50) | browser vs Python answers |",
        "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['task']} | {r['mb']:.1f} | {r['texts']} | {r['load_s']:.1f} | "
                     f"{r['web'][0]:.1f} / {r['web'][1]:.1f} | {r['py'][0]:.1f} / {r['py'][1]:.1f} | "
                     f"{r['web'][0] / r['py'][0]:.2f}x | {r['agreement']} |")
    lines += ["", "\"page ready\": from opening the page to the bundle loaded (download from localhost, "
              "SHA-256 of each file, tokenizer and session built, one check run). Dynamically quantized INT8 "
              "bundles do not give exactly the runtime's scores in the browser: DynamicQuantizeLinear in the "
              "WebAssembly build rounds some activations one step differently from the x86 build, and the "
              "difference grows through the layers (FP32 bundles agree to about 1e-6). "
              "tests/test_web_demo.py holds the page to the runtime on FP32 bundles, where scores must agree "
              "within 1e-4.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundles", nargs="*", help="NAME=BUNDLE_DIR (default: the default Hausa students)")
    parser.add_argument("--texts", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bundles = dict(item.split("=", 1) for item in args.bundles) if args.bundles else DEFAULT_BUNDLES
    bundles = {name.replace(" ", "-"): Path(path) for name, path in bundles.items()}
    check_web_dir()
    server = make_server({f"/bundles/{name}/": bundle_files(path) for name, path in bundles.items()})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    with HeadlessChromium() as browser:
        rows = []
        for name, path in bundles.items():
            rows.append(measure(browser, server_url(server), name, path, args.texts, args.rounds))
            print(rows[-1])
        tagger = next((r["name"] for r in rows if r["task"] == "token-classification"), None)
        if tagger:
            screenshot(browser, server_url(server), tagger)
        chromium = browser.version
    server.shutdown()
    atomic_write_text(OUT, report(rows, chromium, args.rounds, load_before))
    print(f"wrote {OUT}" + (f" and {SCREENSHOT}" if tagger else ""))


if __name__ == "__main__":
    main()
