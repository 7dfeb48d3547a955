"""Run a bundle: tokenizer.json + ONNX Runtime + NumPy, nothing else.

Truncation policy, stated once:
* ``classify`` and ``embed`` keep the first ``max_length`` tokens (special tokens included) and
  drop the rest. Only the first ``CHARS_PER_TOKEN * max_length`` characters of a text are
  tokenized (8,192 at max_length 128): tokenizing a whole 50 MB line to keep 128 tokens would cost
  gigabytes. Natural text needs 3-6 characters a token, so the cut changes nothing unless a text
  packs fewer than max_length tokens into that many characters (long runs of spaces or of
  characters the tokenizer drops);
* ``tag`` never drops text: a long input is cut into overlapping windows of ``max_length`` tokens
  (``stride`` tokens of overlap) and every token takes its prediction from the window in which it
  sits furthest from an edge. A text over ``TAG_BLOCK_CHARS`` characters is tagged block by block
  (blocks end at whitespace where one is near), so memory stays bounded; each block is windowed as a
  text of its own, so tokens beside a block boundary see context from one side only.

Inputs are grouped by length (length bucketing) so that a batch pads to similar lengths, and
results come back in input order. Any text gives a prediction: empty strings, whitespace, control
characters, emoji and lone surrogates (replaced by U+FFFD before tokenization) included.
"""

from __future__ import annotations

import os
import posixpath
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import overload

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from edgedistill.runtime.bundle import BundleError, Manifest, load_manifest, resolve_inside
from edgedistill.runtime.onnx_external import MalformedModel, external_data_locations

PAD_TOKENS = ("<pad>", "[PAD]")
CHARS_PER_TOKEN = 64  # characters of a text read per token of max_length (classify, embed)
TAG_BLOCK_CHARS = 1 << 16  # tag() reads longer texts in blocks of this many characters
THREADS_PER_CORE = 4
DEFAULT_BATCH_SIZE = 16  # texts per run, except on dynamic INT8 bundles (see Predictor)


def max_threads() -> int:
    """The most intra-op threads a Predictor takes: more than the cores only adds contention, and
    ONNX Runtime would start every one of them (100,000 took 16 GB)."""
    return THREADS_PER_CORE * (os.cpu_count() or 1)


def check_threads(threads: object) -> None:
    """None (ONNX Runtime's default) or an integer from 1 to ``max_threads()``; else ValueError."""
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= max_threads():
        raise ValueError(f"threads must be an integer from 1 to {max_threads()} ({THREADS_PER_CORE} x the "
                         f"{os.cpu_count() or 1} CPU cores of this machine), got {_short(threads)}")


def _short(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


@dataclass
class Classification:
    label: str
    score: float
    probabilities: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Entity:
    label: str
    text: str
    start: int  # character offsets into the input text
    end: int
    score: float

    def to_dict(self) -> dict:
        return asdict(self)


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Make any Python string encodable: each lone surrogate becomes U+FFFD (one character for one,
    so character offsets into the cleaned text are offsets into the original)."""
    if not isinstance(text, str):
        raise TypeError(f"expected a string, got {type(text).__name__}")
    return _SURROGATE.sub("\ufffd", text)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class Predictor:
    """A loaded, verified bundle, ready to classify, tag or embed text.

    ``threads`` sets ONNX Runtime's intra-op thread count, from 1 to ``max_threads()`` (4 x the
    CPU cores; None: ONNX Runtime's default); ``providers`` picks execution providers (default
    CPU). One Predictor may be shared between threads. Loading runs the model once on a padded
    two-text batch holding the largest token id, so a manifest that does not fit the model (label
    count, output shape, vocab_size) is refused here, with one sentence, and not at the first text.

    ``batch_size`` None (the default) runs texts 16 at a time, except on a dynamically quantized
    INT8 bundle, where each text runs alone: its activation scales are computed per batch, so a
    text's scores would depend on the texts batched with it (docs/runtime-and-benchmarks.md).
    """

    def __init__(self, bundle_dir: str | Path, *, threads: int | None = None,
                 providers: list[str] | None = None, batch_size: int | None = None, stride: int = 32,
                 verify: bool = True):
        check_threads(threads)
        self.bundle_dir = Path(bundle_dir)
        self.manifest: Manifest = load_manifest(self.bundle_dir, verify=verify)
        self.verify = verify
        self.batch_size = max(1, batch_size) if batch_size is not None else self._default_batch_size()
        self.tokenizer = self._load_tokenizer()
        self.pad_id = self._pad_id()
        self.specials = self.tokenizer.num_special_tokens_to_add(False)
        self.stride = min(stride, max(0, (self.manifest.max_length - self.specials) // 2))
        self.session = self._load_session(threads, providers)
        self._check_outputs()

    def _default_batch_size(self) -> int:
        return 1 if self.manifest.quantizes_per_batch else DEFAULT_BATCH_SIZE

    @property
    def read_chars(self) -> int:
        """Characters of one text read at once: classify/embed ignore the rest, tag reads on."""
        if self.manifest.task == "token-classification":
            return max(TAG_BLOCK_CHARS, CHARS_PER_TOKEN * self.manifest.max_length)
        return CHARS_PER_TOKEN * self.manifest.max_length

    # ---------------------------------------------------------------- loading
    def _load_tokenizer(self) -> Tokenizer:
        path = resolve_inside(self.bundle_dir, self.manifest.tokenizer_file)
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises plain Exception subclasses
            raise BundleError(f"bundle {self.bundle_dir}: {self.manifest.tokenizer_file} is not a "
                              f"readable tokenizer ({str(exc).splitlines()[0]})") from None
        tokenizer.no_padding()
        tokenizer.no_truncation()
        largest_id = tokenizer.get_vocab_size(with_added_tokens=True) - 1
        if largest_id >= self.manifest.vocab_size:
            raise BundleError(f"bundle {self.bundle_dir}: the tokenizer can emit id {largest_id} but "
                              f"the model's embedding table has only {self.manifest.vocab_size} rows")
        return tokenizer

    def _pad_id(self) -> int:
        if self.manifest.pad_token_id is not None:
            return self.manifest.pad_token_id
        for token in PAD_TOKENS:
            found = self.tokenizer.token_to_id(token)
            if found is not None:
                return found
        return 0  # masked out by the attention mask, so any valid id will do

    def _load_session(self, threads: int | None, providers: list[str] | None):
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        path = resolve_inside(self.bundle_dir, self.manifest.model_file)
        self._check_external_data(path)
        try:
            session = ort.InferenceSession(str(path), options,
                                           providers=providers or ["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise BundleError(f"bundle {self.bundle_dir}: onnxruntime cannot load "
                              f"{self.manifest.model_file} ({_first_line(exc)})") from None
        graph_inputs = {i.name for i in session.get_inputs()}
        graph_outputs = [o.name for o in session.get_outputs()]
        missing = set(self.manifest.inputs) - graph_inputs
        unknown = graph_inputs - set(self.manifest.inputs) - {"token_type_ids"}
        if missing or unknown:
            raise BundleError(f"bundle {self.bundle_dir}: the model's inputs {sorted(graph_inputs)} "
                              f"do not match the manifest's {self.manifest.inputs}")
        if self.manifest.outputs[0] not in graph_outputs:
            raise BundleError(f"bundle {self.bundle_dir}: the model has no output "
                              f"{self.manifest.outputs[0]!r} (it has {graph_outputs})")
        self._graph_inputs = sorted(graph_inputs)
        return session

    def _check_external_data(self, model_path: Path) -> None:
        """Tensor data kept beside the model must lie inside the bundle (and, verified, be hashed)."""
        model_file = self.manifest.model_file
        try:
            locations = external_data_locations(model_path)
        except MalformedModel as exc:
            raise BundleError(f"bundle {self.bundle_dir}: onnxruntime cannot load {model_file} (it is not "
                              f"an ONNX model: {exc})") from None
        for location in locations:
            relative = posixpath.normpath(posixpath.join(posixpath.dirname(model_file), location))
            try:
                resolve_inside(self.bundle_dir, relative if not posixpath.isabs(location) else location)
            except BundleError:
                raise BundleError(f"bundle {self.bundle_dir}: {model_file} reads tensor data from "
                                  f"{location!r}, which lies outside the bundle directory") from None
            if self.verify and relative not in self.manifest.files:
                raise BundleError(f"bundle {self.bundle_dir}: {model_file} reads tensor data from "
                                  f"{location!r}, which the manifest gives no hash for")

    # ------------------------------------------------------------- tokenizing
    def _encode(self, texts: list[str]) -> list[Encoding]:
        prefix = self.manifest.input_prefix
        return self.tokenizer.encode_batch([prefix + clean_text(t) for t in texts],
                                           add_special_tokens=False)

    def _finish(self, encoding: Encoding) -> Encoding:
        return self.tokenizer.post_process(encoding, None, True)

    def _truncated(self, encoding: Encoding) -> Encoding:
        budget = self.manifest.max_length - self.specials
        if len(encoding.ids) > budget:
            encoding.truncate(budget, 0, "right")
        return self._finish(encoding)

    def _windows(self, encoding: Encoding) -> list[tuple[int, Encoding]]:
        """Overlapping windows, each with the position of its first token in the whole text."""
        budget = self.manifest.max_length - self.specials
        if len(encoding.ids) <= budget:
            return [(0, self._finish(encoding))]
        encoding.truncate(budget, self.stride, "right")
        parts = [encoding, *encoding.overflowing]
        step = budget - self.stride  # tokenizers starts each overflow part this far after the last
        return [(k * step, self._finish(part)) for k, part in enumerate(parts)]

    # ---------------------------------------------------------------- running
    def _feeds(self, rows: list[list[int]]) -> dict[str, np.ndarray]:
        """The graph's inputs for token-id rows, padded to the longest with the pad id (masked)."""
        width = max(len(values) for values in rows)
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for row, values in enumerate(rows):
            ids[row, : len(values)] = values
            mask[row, : len(values)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return {name: feeds[name] for name in self._graph_inputs}

    def _run_rows(self, rows: list[list[int]]) -> np.ndarray:
        try:
            return self.session.run([self.manifest.outputs[0]], self._feeds(rows), _QUIET)[0]
        except Exception as exc:  # onnxruntime raises its own exception types
            raise BundleError(f"bundle {self.bundle_dir}: onnxruntime failed to run "
                              f"{self.manifest.model_file} on {len(rows)} texts of up to "
                              f"{max(map(len, rows))} tokens ({_first_line(exc)})") from None

    def _run(self, encodings: list[Encoding]) -> list[np.ndarray]:
        """Model outputs, one array per encoding (padding removed), in the given order."""
        results: list[np.ndarray | None] = [None] * len(encodings)
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            output = self._run_rows([encodings[i].ids for i in chunk])
            for row, i in enumerate(chunk):
                n = len(encodings[i].ids)
                results[i] = output[row] if output.ndim == 2 else output[row, :n]
        return results  # type: ignore[return-value]

    def _check_outputs(self) -> None:
        """Run the model once and hold its output against the manifest's task and labels."""
        manifest, name = self.manifest, self.manifest.outputs[0]
        top = manifest.vocab_size - 1
        try:  # two rows of different length, so the pad id is fed too
            output = self.session.run([name], self._feeds([[top], [top, top]]), _QUIET)[0]
        except Exception as exc:  # onnxruntime raises its own exception types
            raise BundleError(f"bundle {self.bundle_dir}: onnxruntime cannot run {manifest.model_file} on "
                              f"token id {top}, the largest the manifest's vocab_size "
                              f"({manifest.vocab_size}) allows ({_first_line(exc)})") from None
        if output.ndim not in _OUTPUT_DIMS[manifest.task] or not np.issubdtype(output.dtype, np.floating):
            raise BundleError(f"bundle {self.bundle_dir}: the manifest's task is {manifest.task}, but the "
                              f"model's output {name!r} is {output.dtype} shaped {output.shape} for 2 texts, "
                              f"where that task needs floats shaped {_OUTPUT_SHAPES[manifest.task]}")
        if manifest.task != "embedding" and output.shape[-1] != len(manifest.labels):
            unit = "text" if manifest.task == "sequence-classification" else "token"
            raise BundleError(f"bundle {self.bundle_dir}: the manifest's labels list {len(manifest.labels)} "
                              f"labels, but the model's output {name!r} gives {output.shape[-1]} scores per "
                              f"{unit}")

    def _require(self, task: str) -> None:
        if self.manifest.task != task:
            raise BundleError(f"bundle {self.bundle_dir} is a {self.manifest.task} model, so it "
                              f"cannot {_VERB[task]}")

    # ------------------------------------------------------------- public API
    # A bare string is one text and gets one result (as sentence-transformers' encode does); a list
    # of strings gets a list. Iterating a string would classify it character by character.
    @overload
    def classify(self, texts: str) -> Classification: ...
    @overload
    def classify(self, texts: Sequence[str]) -> list[Classification]: ...

    def classify(self, texts):
        """Label and class probabilities for each text (one result for a bare string)."""
        self._require("sequence-classification")
        batch, single = _as_batch(texts)
        encodings = [self._truncated(e) for e in self._encode([t[: self.read_chars] for t in batch])]
        labels = self.manifest.labels
        results = []
        for logits in self._run(encodings):
            probs = softmax(logits.astype(np.float64))
            best = int(np.argmax(probs))
            results.append(Classification(labels[best], float(probs[best]),
                                          {label: float(p) for label, p in zip(labels, probs, strict=True)}))
        return results[0] if single else results

    @overload
    def embed(self, texts: str) -> np.ndarray: ...
    @overload
    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed(self, texts):
        """One vector per text (a matrix; one vector for a bare string), pooled as the manifest says
        (and L2-normalised if it says so)."""
        self._require("embedding")
        batch, single = _as_batch(texts)
        encodings = [self._truncated(e) for e in self._encode([t[: self.read_chars] for t in batch])]
        vectors = []
        for encoding, states in zip(encodings, self._run(encodings), strict=True):
            if states.ndim == 1:  # the graph already pools
                vectors.append(states)
            elif self.manifest.pooling == "cls":
                vectors.append(states[0])
            else:
                vectors.append(states[: len(encoding.ids)].mean(axis=0))
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(encodings), -1)
        if self.manifest.normalize_embeddings:
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            matrix = matrix / np.maximum(norms, 1e-12)
        return matrix[0] if single else matrix

    @overload
    def tag(self, texts: str) -> list[Entity]: ...
    @overload
    def tag(self, texts: Sequence[str]) -> list[list[Entity]]: ...

    def tag(self, texts):
        """Entities with character offsets (one list for a bare string); long texts are tagged
        window by window, and texts over ``read_chars`` characters block by block."""
        self._require("token-classification")
        batch, single = _as_batch(texts)
        results: list[list[Entity]] = [[] for _ in batch]
        short = [i for i, text in enumerate(batch) if len(text) <= self.read_chars]
        for i, entities in zip(short, self._tag_texts([batch[i] for i in short]), strict=True):
            results[i] = entities
        for i in sorted(set(range(len(batch))) - set(short)):
            results[i] = [entity for _, found in self.tag_blocks([batch[i]]) for entity in found]
        return results[0] if single else results

    def tag_blocks(self, pieces: Iterable[str]) -> Iterator[tuple[str, list[Entity]]]:
        """Tag one text given in pieces of any size, holding at most two blocks of ``read_chars``
        characters at a time: yields each block (lone surrogates replaced) and its entities, with
        offsets into the whole text. What ``tag`` does with a text longer than ``read_chars``."""
        self._require("token-classification")
        offset = 0
        for block in _blocks(pieces, self.read_chars):
            block = clean_text(block)
            [entities] = self._tag_texts([block])
            yield block, [replace(e, start=e.start + offset, end=e.end + offset) for e in entities]
            offset += len(block)

    # ------------------------------------------------------- what the model sees
    # For tools that hold the runtime against another implementation (android_demo/make_golden.py,
    # benchmarks/arm/compare.py): the encodings and raw outputs the methods above are built on.
    def windows(self, text: str) -> list[tuple[int, Encoding]]:
        """The encodings ``text`` is run as, each with the position of its first token in the whole
        text: one encoding cut to ``max_length`` tokens for classify and embed; overlapping windows
        for tag (for a text of up to ``read_chars`` characters: ``tag`` reads longer ones in blocks)."""
        if self.manifest.task == "token-classification":
            return self._windows(self._encode([text])[0])
        return [(0, self._truncated(self._encode([text[: self.read_chars]])[0]))]

    def raw_outputs(self, encodings: Sequence[Encoding]) -> list[np.ndarray]:
        """The model's output for each encoding, padding removed: logits per text (classify), logits
        per token (tag), token states or one pooled vector (embed)."""
        return self._run(list(encodings))

    def token_probabilities(self, text: str) -> list[tuple[int | None, tuple[int, int], np.ndarray]]:
        """(word index, character offsets, label probabilities) for each token of ``text``, each taken
        from the window in which it sits furthest from an edge: what ``tag`` groups into entities."""
        self._require("token-classification")
        windows = self.windows(text)
        return self._merge_windows(windows, self.raw_outputs([window for _, window in windows]))

    def _tag_texts(self, texts: list[str]) -> list[list[Entity]]:
        texts = [clean_text(t) for t in texts]
        prefix_chars = len(self.manifest.input_prefix)
        per_text = [self._windows(encoding) for encoding in self._encode(texts)]
        outputs = iter(self._run([window for windows in per_text for _, window in windows]))
        results = []
        for text, windows in zip(texts, per_text, strict=True):
            token_probs = self._merge_windows(windows, [next(outputs) for _ in windows])
            results.append(self._entities(text, token_probs, prefix_chars))
        return results

    # ---------------------------------------------------------------- tagging
    def _merge_windows(self, windows: list[tuple[int, Encoding]], outputs: list[np.ndarray]
                       ) -> list[tuple[int | None, tuple[int, int], np.ndarray]]:
        """(word index, char offsets, probabilities) per token, from its most central window."""
        best: dict[int, tuple[int, int | None, tuple[int, int], np.ndarray]] = {}
        for (first, window), logits in zip(windows, outputs, strict=True):
            probs = softmax(logits.astype(np.float64))
            content = [i for i, special in enumerate(window.special_tokens_mask) if not special]
            for rank, i in enumerate(content):
                centrality = min(rank, len(content) - 1 - rank)
                position = first + rank
                if position not in best or centrality > best[position][0]:
                    best[position] = (centrality, window.word_ids[i], window.offsets[i], probs[i])
        return [best[p][1:] for p in sorted(best)]

    def _entities(self, text: str, tokens, prefix_chars: int) -> list[Entity]:
        """BIO tags on the first sub-word of each word, grouped into entity spans."""
        labels = self.manifest.labels
        words: list[tuple[str, float, int, int]] = []  # tag, score, start, end
        last_word = None
        for word, (start, end), probs in tokens:
            start, end = max(0, start - prefix_chars), max(0, end - prefix_chars)
            if word is not None and word == last_word and words:
                tag, score, first, _ = words[-1]
                words[-1] = (tag, score, first, end)  # later sub-words extend the word
                continue
            last_word = word
            best = int(np.argmax(probs))
            words.append((labels[best], float(probs[best]), start, end))
        entities: list[Entity] = []
        current: list | None = None
        for tag, score, start, end in words:
            kind = tag[2:] if tag[:2] in ("B-", "I-") else None
            if kind and (tag.startswith("B-") or current is None or current[0] != kind):
                if current:
                    entities.append(self._entity(text, current))
                current = [kind, start, end, [score]]
            elif kind:
                current[2] = end
                current[3].append(score)
            else:
                if current:
                    entities.append(self._entity(text, current))
                current = None
        if current:
            entities.append(self._entity(text, current))
        return entities

    @staticmethod
    def _entity(text: str, span: list) -> Entity:
        kind, start, end, scores = span
        # SentencePiece offsets include the space its "▁" stands for; an entity does not.
        while start < end and text[start].isspace():
            start += 1
        # The normaliser composes a letter with a following combining accent (Yoruba "ò"
        # written as "o" + U+0300), and the offsets then stop before the accent: take it back.
        while end < len(text) and unicodedata.combining(text[end]):
            end += 1
        return Entity(kind, text[start:end], start, end, float(np.mean(scores)))


_VERB = {"sequence-classification": "classify text", "token-classification": "tag text",
         "embedding": "embed text"}
_QUIET = ort.RunOptions()
_QUIET.log_severity_level = 4  # a failed run becomes a BundleError; onnxruntime need not log it too
_OUTPUT_DIMS = {"sequence-classification": (2,), "token-classification": (3,), "embedding": (2, 3)}
_OUTPUT_SHAPES = {"sequence-classification": "(texts, labels)",
                  "token-classification": "(texts, tokens, labels)",
                  "embedding": "(texts, dimensions) or (texts, tokens, dimensions)"}


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _as_batch(texts: object) -> tuple[list[str], bool]:
    """(the texts as a list, whether a bare string was given)."""
    if isinstance(texts, str):
        return [texts], True
    if isinstance(texts, (bytes, bytearray)) or not isinstance(texts, Iterable):
        raise TypeError(f"expected a string or a list of strings, got {type(texts).__name__}")
    batch = list(texts)
    for i, text in enumerate(batch):
        if not isinstance(text, str):
            raise TypeError(f"expected a string or a list of strings, got a {type(texts).__name__} "
                            f"holding {type(text).__name__} at index {i}")
    return batch, False


def _blocks(pieces: Iterable[str], size: int) -> Iterator[str]:
    """The text the pieces make, in blocks of at most ``size`` characters; where a block ends does
    not depend on how the text was cut into pieces."""
    buffer = ""
    for piece in pieces:
        for start in range(0, len(piece), size):  # keeps the buffer under 2 x size
            buffer += piece[start : start + size]
            while len(buffer) > size:
                end = _block_end(buffer, size)
                yield buffer[:end]
                buffer = buffer[end:]
    if buffer:
        yield buffer


def _block_end(text: str, size: int) -> int:
    """After the last whitespace in the second half of ``text[:size]``; without one, at ``size``,
    moved back before any combining marks (an accent stays with its letter)."""
    end = max(text.rfind(space, size // 2, size) for space in " \t\n\r\u3000") + 1
    if end:
        return end
    end = size
    while end > size // 2 and unicodedata.combining(text[end]):
        end -= 1
    return end
