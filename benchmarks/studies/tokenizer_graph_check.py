"""Does the tokenizer in the graph give tokenizer.json's ids? Every AfriSenti and SIB-200 sentence.

The mobile variant tokenizes inside ONNX Runtime with onnxruntime-extensions' SentencepieceTokenizer,
from a SentencePiece model rebuilt from tokenizer.json (edgedistill.export.tokenizer_graph). This
script runs that graph and the Hugging Face tokenizers library on every text of every split of
AfriSenti (hau ibo kin swa yor: tweets, emoji, Yoruba diacritics) and SIB-200 (hau ibo kin swh yor
eng), with e5's "query: " prefix and truncation to 128, and reports where they differ and how.

    python benchmarks/studies/tokenizer_graph_check.py --out benchmarks/results/tokenizer_graph_e5.md

The results file starts with the command that produced it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import unicodedata
from collections import Counter
from pathlib import Path

from study_paths import ROOT

from edgedistill.atomic import atomic_write_text

EDGE_CASES = ["", " ", "  two  spaces  ", "tab\there", "new\nline", "\u200b", "ends with a joiner \u200d",
              "Ọjọ́ ìbí mi ni òní", unicodedata.normalize("NFD", "Ọjọ́ ìbí mi ni òní"),  # combining accents
              "🤲🤲😭😭👑", "x" * 2000]


def corpora(root: Path) -> dict[str, list[str]]:
    texts: dict[str, list[str]] = {}
    for path in sorted((root / "afrisenti").glob("*/*.tsv")):
        lines = path.read_text(encoding="utf-8").splitlines()[1:]
        texts.setdefault(f"afrisenti/{path.parent.name}", []).extend(line.split("\t")[0] for line in lines)
    for path in sorted((root / "sib200").glob("*/*.tsv")):
        lines = path.read_text(encoding="utf-8").splitlines()[1:]
        texts.setdefault(f"sib200/{path.parent.name}", []).extend(line.split("\t")[2] for line in lines)
    texts["edge cases"] = EDGE_CASES
    return texts


def kind_of_difference(text: str, expected: list[int], got: list[int], normalizers,
                       scores: list[float]) -> str:
    if sorted(expected) == sorted(got):
        return "same pieces, other order (equal-score segmentation tie)"
    same_score = abs(sum(scores[i] for i in expected) - sum(scores[i] for i in got)) < 1e-3
    if len(expected) == len(got) and same_score:
        return "other pieces with the same total score (segmentation tie)"
    if len(expected) == len(got) + 1 and expected[:-2] == got[:-1]:
        return ("tokenizer.json keeps a final '▁' that the graph drops (empty text, or text ending in "
                "whitespace or a zero-width character)")
    hugging_face, sentencepiece = normalizers
    if hugging_face(text) != sentencepiece(text):
        combining = any(unicodedata.combining(c) for c in text)
        return ("the normalisers differ: on decomposed (NFD) diacritics tokenizer.json drops a stacked "
                "tone mark that SentencePiece keeps" if combining else "the normalisers differ")
    return "other"


def normalizer_pair(tokenizer, tokenizer_json: Path, prefix: str):
    """Each library's normalised text, spaces written the same way, to tell normaliser differences."""
    import sentencepiece as spm

    from edgedistill.export.tokenizer_graph import sentencepiece_model_from_tokenizer_json

    processor = spm.SentencePieceProcessor(
        model_proto=sentencepiece_model_from_tokenizer_json(json.loads(tokenizer_json.read_text())))
    hugging_face = lambda text: " ".join(tokenizer.normalizer.normalize_str(prefix + text).split())  # noqa: E731
    sentencepiece = lambda text: " ".join(processor.normalize(prefix + text).replace("▁", " ").split())  # noqa: E731
    return hugging_face, sentencepiece


def check(tokenizer_json: Path, texts: dict[str, list[str]], prefix: str, max_length: int) -> dict:
    import onnxruntime as ort
    from onnxruntime_extensions import get_library_path
    from tokenizers import Tokenizer

    from edgedistill.export.tokenizer_graph import graph_ids, tokenizer_graph

    options = ort.SessionOptions()
    options.register_custom_ops_library(get_library_path())
    graph = tokenizer_graph(tokenizer_json, max_length=max_length, prefix=prefix)
    session = ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
    reference = Tokenizer.from_file(str(tokenizer_json))
    reference.no_padding()
    reference.enable_truncation(max_length)
    per_source, kinds, examples = {}, Counter(), []
    normalizers = normalizer_pair(reference, tokenizer_json, prefix)
    scores = [score for _, score in json.loads(tokenizer_json.read_text())["model"]["vocab"]]
    for source, group in texts.items():
        expected = [e.ids for e in reference.encode_batch([prefix + t for t in group])]
        got = [ids for start in range(0, len(group), 64)
               for ids in graph_ids(session, group[start : start + 64], True)]
        differing = [(t, a, b) for t, a, b in zip(group, expected, got, strict=True) if a != b]
        per_source[source] = {"texts": len(group), "differing": len(differing)}
        for text, a, b in differing:
            kind = kind_of_difference(text, a, b, normalizers, scores)
            kinds[kind] += 1
            if sum(e["kind"] == kind for e in examples) < 4:
                examples.append({"source": source, "kind": kind, "text": text[:120],
                                 "tokenizer_json": [reference.id_to_token(i) for i in a][-12:],
                                 "graph": [reference.id_to_token(i) for i in b][-12:]})
    return {"per_source": per_source, "kinds": dict(kinds), "examples": examples}


def write(out: Path, command: str, tokenizer_json: Path, result: dict, seconds: float) -> None:
    total = sum(s["texts"] for s in result["per_source"].values())
    differing = sum(s["differing"] for s in result["per_source"].values())
    lines = [f"# {command}", "",
             f"Tokenizer: {tokenizer_json}. In-graph tokenizer (onnxruntime-extensions "
             f"SentencepieceTokenizer on a SentencePiece model rebuilt from tokenizer.json) vs the "
             f"tokenizers library, prefix "
             f"\"query: \", truncation 128. {total} texts, {differing} with different ids "
             f"({100 * differing / total:.2f}%); {seconds:.0f} s.", "",
             "| source | texts | different ids |", "|---|---|---|"]
    lines += [f"| {name} | {s['texts']} | {s['differing']} |" for name, s in result["per_source"].items()]
    lines += ["", "Kinds of difference:", ""]
    lines += [f"- {kind}: {count}" for kind, count in result["kinds"].items()]
    lines += ["", "Examples (last tokens of each sequence):", ""]
    for example in result["examples"]:
        lines.append(f"- {example['source']} ({example['kind']}): {example['text']!r}")
        lines.append(f"  - tokenizer.json: {' '.join(example['tokenizer_json'])}")
        lines.append(f"  - graph:          {' '.join(example['graph'])}")
    lines += ["", "```json", json.dumps(result, indent=1, ensure_ascii=False), "```", ""]
    atomic_write_text(out, "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokenizer", type=Path, help="tokenizer.json (default: the e5-small teacher's)")
    parser.add_argument("--prefix", default="query: ")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tokenizer_graph_e5.md")
    args = parser.parse_args()
    command = "python " + shlex.join([str(Path(sys.argv[0]).resolve().relative_to(ROOT)), *sys.argv[1:]])
    from edgedistill.shared_data import data_root
    from edgedistill.teachers import builtin_teacher_dir

    tokenizer_json = args.tokenizer or builtin_teacher_dir("e5-small") / "tokenizer.json"
    started = time.perf_counter()
    result = check(tokenizer_json, corpora(data_root()), args.prefix, args.max_length)
    write(args.out, command, tokenizer_json, result, time.perf_counter() - started)
    print(args.out.read_text().split("```json")[0])


if __name__ == "__main__":
    main()
