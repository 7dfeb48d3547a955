"""Write the golden files the Android core's JVM tests compare against.

Builds two tiny bundles (edgedistill.export.tiny_bundles: a 2-layer XLM-R-style encoder with
a SentencePiece tokenizer trained on real text; sequence and token classification), runs real sentences from
../shared/data (AfriSenti tweets, MasakhaNER 2.0 sentences) through the Python runtime
(edgedistill.runtime.Predictor), and records, per sentence, the model's raw logits, the tokens'
words and code-point spans, and what the runtime answered. The Java core is fed the same logits
and must give the same labels, probabilities, entities and offsets.

Where onnxruntime-extensions and the export stage's SentencePiece rebuild are installed, each
token-classification case also records the UTF-8 start of every token as the in-graph
SentencePiece operator reports it, so the Java side can check that it recovers the runtime's spans
from what the Android model gives.

    .venv/bin/python android_demo/make_golden.py [OUT_DIR]

OUT_DIR defaults to android_demo/core/src/test/resources/golden (the committed copies, which the
Gradle build's unit tests read). tests/test_android_jvm.py also regenerates them at test time into
a temporary folder, so the Java core is checked against the runtime as it is today.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_DIR = ROOT / "android_demo" / "core" / "src" / "test" / "resources" / "golden"
LANGUAGES = ("hau", "ibo", "kin", "swa", "yor")
MAX_LENGTH = 128  # long enough that every golden sentence fits in one window


def _data_root() -> Path:
    from edgedistill.shared_data import data_root

    return data_root()


def afrisenti_tweets(per_language: int = 1, emoji: bool = True) -> list[tuple[str, str]]:
    """(source, text): per language, the first dev tweets with (or without) a character beyond U+FFFF."""
    found = []
    for lang in LANGUAGES:
        path = _data_root() / "afrisenti" / lang / "dev.tsv"
        lines = path.read_text(encoding="utf-8").splitlines()
        picked = 0
        for number, line in enumerate(lines[1:], start=2):
            text = line.split("\t")[0]
            if any(ord(ch) > 0xFFFF for ch in text) == emoji and len(text) <= 100:
                found.append((f"afrisenti/{lang}/dev.tsv:{number}", text))
                picked += 1
                if picked == per_language:
                    break
    return found


def masakhaner_sentences(per_language: int = 1) -> list[tuple[str, str]]:
    """(source, text): per language, the first dev sentences that hold an entity, tokens joined by spaces."""
    found = []
    for lang in LANGUAGES:
        path = _data_root() / "masakhaner2" / lang / "dev.txt"
        words, tags, first_line, picked = [], [], 1, 0
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines() + [""], start=1):
            if line.strip():
                if not words:
                    first_line = number
                token, tag = line.rsplit(" ", 1)
                words.append(token)
                tags.append(tag)
                continue
            if words and any(tag != "O" for tag in tags) and len(words) <= 15:
                found.append((f"masakhaner2/{lang}/dev.txt:{first_line}", " ".join(words)))
                picked += 1
            words, tags = [], []
            if picked == per_language:
                break
    return found


def build_bundles(workdir: Path) -> dict[str, Path]:
    """The two tiny bundles, written under ``workdir``."""
    from edgedistill.export.tiny_bundles import write_tiny_bundle
    from edgedistill.fixtures import fixture_texts

    texts = fixture_texts()
    made = {}
    for head in ("sequence-classification", "token-classification"):
        write_tiny_bundle(workdir / head, head, texts, max_length=MAX_LENGTH)
        made[head] = workdir / head
    return made


class _Float32(float):
    """A float32 written as the shortest decimal that reads back to the same float32."""

    def __repr__(self) -> str:
        return np.format_float_positional(np.float32(self), unique=True, trim="-") \
            if abs(self) >= 1e-4 or self == 0 else np.format_float_scientific(np.float32(self), unique=True)


def _floats(values) -> list[float]:
    return [_Float32(v) for v in np.asarray(values, dtype=np.float32).ravel()]


def classification_cases(bundle: Path, sentences: list[tuple[str, str]]) -> list[dict]:
    from edgedistill.runtime import Predictor

    predictor = Predictor(bundle)
    cases = []
    for source, text in sentences:
        [(_, encoding)] = predictor.windows(text)
        [logits] = predictor.raw_outputs([encoding])
        [result] = predictor.classify([text])
        cases.append({"source": source, "text": text, "logits": [_floats(logits)],
                      "expected": {"label": result.label, "score": result.score,
                                   "probabilities": result.probabilities}})
    return cases


def tagging_cases(bundle: Path, sentences: list[tuple[str, str]]) -> list[dict]:
    """Sentences longer than one window are left out: the Android graph truncates them."""
    from edgedistill.runtime import Predictor
    from edgedistill.runtime.predictor import clean_text

    predictor = Predictor(bundle)
    graph_tokenizer = _graph_tokenizer(bundle / "tokenizer.json")
    cases = []
    for source, text in sentences:
        windows = predictor.windows(text)
        if len(windows) != 1:  # the Android graph truncates where the runtime windows: not comparable
            continue
        [(_, window)] = windows
        [logits] = predictor.raw_outputs([window])
        content = [i for i, special in enumerate(window.special_tokens_mask) if not special]
        ids = [window.ids[i] for i in content]
        words = [-1 if window.word_ids[i] is None else window.word_ids[i] for i in content]
        tokens = [[word, *window.offsets[i]] for word, i in zip(words, content, strict=True)]
        [entities] = predictor.tag([text])
        case = {"source": source, "text": clean_text(text), "logits": [_floats(logits[i]) for i in content],
                "tokens": tokens, "expected": [e.to_dict() for e in entities], "utf8_starts": None}
        if graph_tokenizer is not None:
            graph_ids, starts = graph_tokenizer(predictor.manifest.input_prefix + clean_text(text))
            case["utf8_starts"] = starts if graph_ids == ids else None
        cases.append(case)
    return cases


def _graph_tokenizer(tokenizer_json: Path):
    """A function text -> (ids, UTF-8 token starts) running onnxruntime-extensions' SentencePiece op
    on a model rebuilt from tokenizer.json by the export stage; None where either is not installed."""
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper
        from onnxruntime_extensions import get_library_path

        from edgedistill.export.tokenizer_graph import CONTRIB, sentencepiece_model_from_tokenizer_json
    except ImportError:
        return None
    model = sentencepiece_model_from_tokenizer_json(json.loads(tokenizer_json.read_text(encoding="utf-8")))
    flags = [("nbest", TensorProto.INT64, [0]), ("alpha", TensorProto.FLOAT, [0.0]),
             ("bos", TensorProto.BOOL, [False]), ("eos", TensorProto.BOOL, [False]),
             ("reverse", TensorProto.BOOL, [False]), ("fairseq", TensorProto.BOOL, [True])]
    initializers = [helper.make_tensor(name, kind, [1], value) for name, kind, value in flags]
    node = helper.make_node("SentencepieceTokenizer", ["text", *(name for name, _, _ in flags)],
                            ["ids", "splits", "starts"], domain=CONTRIB, model=model)
    graph = helper.make_graph([node], "sentencepiece", [helper.make_tensor_value_info(
        "text", TensorProto.STRING, [None])], [
        helper.make_tensor_value_info("ids", TensorProto.INT32, [None]),
        helper.make_tensor_value_info("splits", TensorProto.INT64, [None]),
        helper.make_tensor_value_info("starts", TensorProto.INT32, [None])], initializer=initializers)
    onnx_model = helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17),
                                                                       helper.make_opsetid(CONTRIB, 1)])
    options = ort.SessionOptions()
    options.register_custom_ops_library(get_library_path())
    session = ort.InferenceSession(onnx_model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])

    def tokenize(text: str) -> tuple[list[int], list[int]]:
        ids, _, starts = session.run(None, {"text": np.array([text], dtype=object)})
        return ids.tolist(), starts.tolist()

    return tokenize


def write_golden(out_dir: Path, bundles: dict[str, Path] | None = None) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        bundles = bundles or build_bundles(Path(scratch))
        tweets = afrisenti_tweets()
        sets = {"sequence-classification": classification_cases(
                    bundles["sequence-classification"], tweets + afrisenti_tweets(emoji=False)),
                "token-classification": tagging_cases(bundles["token-classification"],
                                                      masakhaner_sentences() + tweets)}
        written = []
        for task, cases in sets.items():
            manifest = (bundles[task] / "edgedistill.json").read_text(encoding="utf-8")
            payload = {"generated_by": "android_demo/make_golden.py",
                       "what": "logits of a tiny random bundle on real sentences, and what the Python "
                               "runtime answered for them",
                       "manifest_json": manifest, "cases": cases}
            path = out_dir / f"{task}.json"
            path.write_text(_dumps(payload), encoding="utf-8")
            written.append(path)
    return written


def _dumps(payload: dict) -> str:
    """One case per line: readable in a diff, and small (json.dumps would write every float on a line)."""
    head = {key: value for key, value in payload.items() if key != "cases"}
    lines = [json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "cases": [']
    cases = [" " + _compact(case) for case in payload["cases"]]
    return "\n".join(lines) + "\n" + ",\n".join(cases) + "\n ]\n}\n"


def _compact(value) -> str:
    if isinstance(value, _Float32):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_compact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=GOLDEN_DIR)
    args = parser.parse_args()
    for path in write_golden(args.out_dir):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
