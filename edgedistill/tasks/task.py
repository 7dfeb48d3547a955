"""One notion of a task: its kind, its fixed labels, and its train/dev/test splits.

Labels are fixed once per task: from labels.txt or the dataset's known label set for the built-in
collections, otherwise from the training split. A dev or test label outside that set is an error
naming its file and line, never a silent new class.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from edgedistill.errors import EdgedistillError
from edgedistill.shared_data import data_root
from edgedistill.tasks import readers
from edgedistill.tasks.config import DataSpec
from edgedistill.tasks.readers import Columns, DataFormatError, Example, TextExample, TokenExample

TASK_FILE = "edgedistill-task.json"  # beside a fine-tuned model: its kind, labels, prefix and data

SEQUENCE = "sequence-classification"
TOKEN = "token-classification"
SIMILARITY = "embedding-similarity"
KINDS = (SEQUENCE, TOKEN, SIMILARITY)
SPLITS = ("train", "dev", "test")

AFRISENTI_LABELS = ("negative", "neutral", "positive")
MASAKHANER_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-DATE", "I-DATE")
UPOS_TAGS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
             "PUNCT", "SCONJ", "SYM", "VERB", "X")


class TaskError(EdgedistillError):
    """A task that cannot be built from the data it was given."""


class UnknownLabelError(DataFormatError):
    """A label outside the task's fixed label set."""


@dataclass
class Split:
    name: str
    source: str
    examples: list[Example]
    unit: str = "line"


@dataclass
class Task:
    """A task: what kind, which labels in which order, and the splits that were read."""

    name: str
    kind: str
    labels: tuple[str, ...]
    label_source: str
    splits: dict[str, Split]

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    @property
    def primary_metric(self) -> str:
        if self.kind == SEQUENCE:
            return "macro_f1"
        if self.kind == SIMILARITY:
            return "spearman"
        return "entity_f1" if is_bio(self.labels) else "accuracy"

    def split(self, name: str) -> Split:
        if name not in self.splits:
            have = ", ".join(self.splits) or "none"
            raise TaskError(f"task {self.name} has no {name} split (splits read: {have})")
        return self.splits[name]

    def gold_labels(self, split: str) -> list:
        """Labels of a split: one per example, or one list of tags per sentence."""
        examples = self.split(split).examples
        if self.kind == TOKEN:
            return [list(e.tags) for e in examples]
        if self.kind == SIMILARITY:
            return [e.score for e in examples]
        return [e.label for e in examples]


def is_bio(labels) -> bool:
    """True for entity tag sets (O, B-X, I-X): scored with entity F1 rather than tag accuracy."""
    return any(label.startswith("B-") for label in labels) and all(
        label == "O" or label[:2] in ("B-", "I-") for label in labels)


# ---------------------------------------------------------------- built-in collections

@dataclass(frozen=True)
class Builtin:
    folder: str
    kind: str
    pattern: str  # file name of a split inside the language folder
    reader: object
    labels: tuple[str, ...] | None = None
    labels_file: str | None = None
    description: str = ""


BUILTINS = {
    "afrisenti": Builtin("afrisenti", SEQUENCE, "{split}.tsv", readers.read_afrisenti, AFRISENTI_LABELS,
                         description="AfriSenti tweet sentiment (3 classes)"),
    "masakhaner": Builtin("masakhaner2", TOKEN, "{split}.txt", readers.read_conll, MASAKHANER_LABELS,
                          description="MasakhaNER 2.0 named entities (PER ORG LOC DATE, BIO)"),
    "sib200": Builtin("sib200", SEQUENCE, "{split}.tsv", readers.read_sib200, labels_file="labels.txt",
                      description="SIB-200 topic classification (7 classes)"),
    "ud-pos": Builtin("ud", TOKEN, "*-ud-{split}.conllu", readers.read_conllu, UPOS_TAGS,
                      description="Universal Dependencies part-of-speech tags (UPOS)"),
}
FILE_FORMATS = ("csv", "tsv", "jsonl", "conll", "conllu", "hf")
LANGUAGE_ALIASES = {"sib200": {"swa": "swh"}}
UD_TREEBANKS = {"yor": "UD_Yoruba-YTB"}


def builtin_languages(dataset: str, root: Path | None = None) -> list[str]:
    """Languages of a built-in collection present in the data folder."""
    folder = (root or data_root()) / BUILTINS[dataset].folder
    if not folder.is_dir():
        return []
    names = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if dataset == "sib200":
        return [name.removesuffix("_Latn") for name in names]
    if dataset == "ud-pos":
        return [code for code, treebank in UD_TREEBANKS.items() if treebank in names] + \
               [name for name in names if name not in UD_TREEBANKS.values()]
    return names


def _language_folder(spec: DataSpec, root: Path) -> Path:
    builtin = BUILTINS[spec.dataset]
    if not spec.language:
        raise TaskError(f"dataset {spec.dataset} needs a language; languages here: "
                        f"{', '.join(builtin_languages(spec.dataset, root))}")
    code = LANGUAGE_ALIASES.get(spec.dataset, {}).get(spec.language, spec.language)
    if spec.dataset == "sib200" and "_" not in code:
        code += "_Latn"
    if spec.dataset == "ud-pos":
        code = UD_TREEBANKS.get(code, code)
    folder = root / builtin.folder / code
    if not folder.is_dir():
        raise TaskError(f"no {spec.dataset} data for language {spec.language!r} at {folder}; languages "
                        f"here: {', '.join(builtin_languages(spec.dataset, root)) or 'none'}")
    return folder


def _builtin_split_path(folder: Path, builtin: Builtin, split: str) -> Path | None:
    matches = sorted(folder.glob(builtin.pattern.format(split=split)))
    return matches[0] if matches else None


# ---------------------------------------------------------------- building a task

def load_task(spec: DataSpec, splits: tuple[str, ...] = SPLITS, labels: tuple[str, ...] | None = None,
              label_source: str | None = None, root: Path | None = None) -> Task:
    """Read the requested splits that exist and fix the task's labels.

    ``labels`` forces the label set (e.g. a fine-tuned model's labels when evaluating it).
    """
    if spec.dataset in BUILTINS:
        task = _load_builtin(spec, splits, root or data_root())
    elif spec.dataset in FILE_FORMATS:
        task = _load_files(spec, splits)
    else:
        raise TaskError(f"unknown dataset {spec.dataset!r}; built-in: {', '.join(BUILTINS)}; "
                        f"formats for your own files: {', '.join(FILE_FORMATS)}")
    if labels is not None:
        task.labels, task.label_source = tuple(labels), label_source or "the given labels"
    if task.kind != SIMILARITY:
        _fix_labels(task)
    return task


def _load_builtin(spec: DataSpec, splits: tuple[str, ...], root: Path) -> Task:
    builtin = BUILTINS[spec.dataset]
    folder = _language_folder(spec, root)
    read = {}
    for split in splits:
        override = getattr(spec, split)
        path = Path(override) if override else _builtin_split_path(folder, builtin, split)
        if path is not None:
            read[split] = Split(split, str(path), builtin.reader(path))
    labels, label_source = builtin.labels, f"the fixed {spec.dataset} label set"
    labels_file = spec.labels_file or (builtin.labels_file and folder / builtin.labels_file)
    if labels_file:
        labels, label_source = readers.read_labels_file(labels_file), str(labels_file)
    return Task(spec.name, builtin.kind, labels or (), label_source, read)


def _load_files(spec: DataSpec, splits: tuple[str, ...]) -> Task:
    kind = _kind_of(spec)
    read = {}
    for split in splits:
        location = getattr(spec, split)
        if spec.dataset == "hf" and location is None:
            location = {"train": "train", "dev": "validation", "test": "test"}[split]
        if location is None:
            continue
        read[split] = _read_file_split(spec, kind, split, location)
    labels, label_source = (), "the training split"
    if spec.dataset == "conllu" and spec.tag_column == "upos":
        labels, label_source = UPOS_TAGS, "the 17 Universal Dependencies UPOS tags"
    if spec.labels_file:
        labels, label_source = readers.read_labels_file(spec.labels_file), spec.labels_file
    return Task(spec.name, kind, labels, label_source, read)


def task_kind(spec: DataSpec) -> str:
    """The kind of task a data spec describes, without reading the data."""
    if spec.dataset in BUILTINS:
        return BUILTINS[spec.dataset].kind
    if spec.dataset in FILE_FORMATS:
        return _kind_of(spec)
    raise TaskError(f"unknown dataset {spec.dataset!r}; built-in: {', '.join(BUILTINS)}; "
                    f"formats for your own files: {', '.join(FILE_FORMATS)}")


def _kind_of(spec: DataSpec) -> str:
    if spec.dataset in ("conll", "conllu"):
        if spec.kind not in (None, TOKEN):
            raise TaskError(f"{spec.dataset} files hold token-classification data, not {spec.kind}")
        return TOKEN
    kind = spec.kind or SEQUENCE
    if kind not in KINDS:
        raise TaskError(f"unknown task kind {kind!r}; choose one of {', '.join(KINDS)}")
    if kind == TOKEN and spec.dataset in ("csv", "tsv"):
        raise TaskError(f"token classification from {spec.dataset} files is not supported; use jsonl "
                        f"(lists of words and tags), conll or conllu")
    return kind


def _read_file_split(spec: DataSpec, kind: str, split: str, location: str) -> Split:
    if spec.dataset == "conll":
        return Split(split, location, readers.read_conll(location))
    if spec.dataset == "conllu":
        return Split(split, location, readers.read_conllu(location, spec.tag_column))
    columns = Columns(spec.text_column, spec.text_pair_column, spec.label_column, spec.tokens_column,
                      spec.tags_column)
    if spec.dataset == "hf":
        if not spec.source:
            raise TaskError("an hf dataset needs source: a save_to_disk folder or a hub id")
        rows = readers.read_hf_rows(spec.source, location, spec.hf_config)
        source, unit = f"Hugging Face dataset {spec.source} [{location}]", "row"
    else:
        required = [c for c in (columns.text, columns.text_pair, columns.label) if c]
        read_rows = {"csv": readers.read_csv_rows, "tsv": readers.read_tsv_rows}.get(spec.dataset)
        rows = read_rows(location, required) if read_rows else readers.read_jsonl_rows(location)
        source, unit = location, "line"
    convert = {SEQUENCE: readers.rows_to_text_examples, TOKEN: readers.rows_to_token_examples,
               SIMILARITY: readers.rows_to_pair_examples}[kind]
    return Split(split, source, convert(rows, columns, source, unit), unit)


def _fix_labels(task: Task) -> None:
    """Take labels from the training split if none are fixed yet, then check every split."""
    if not task.labels:
        if "train" not in task.splits:
            raise TaskError(f"task {task.name} has no labels.txt and no training split to take its "
                            f"labels from")
        task.labels = _labels_in_order(task.kind, _split_labels(task.splits["train"]))
        task.label_source = f"the training split ({task.splits['train'].source})"
    allowed = set(task.labels)
    for split in task.splits.values():
        for label, line in _labels_with_lines(split):
            if label not in allowed:
                raise UnknownLabelError(
                    split.source, line, f"one of the task's labels ({', '.join(task.labels)}, "
                    f"from {task.label_source})", repr(label), split.unit)


def _labels_with_lines(split: Split):
    for example in split.examples:
        if isinstance(example, TokenExample):
            yield from zip(example.tags, example.lines, strict=True)
        elif isinstance(example, TextExample):
            yield example.label, example.line


def _split_labels(split: Split) -> list[str]:
    return [label for label, _ in _labels_with_lines(split)]


def _labels_in_order(kind: str, labels: list[str]) -> tuple[str, ...]:
    found = sorted(set(labels))
    if kind == TOKEN and "O" in found:
        found.remove("O")
        found.insert(0, "O")
    return tuple(found)


def label_counts(task: Task, split: str) -> Counter:
    return Counter(_split_labels(task.split(split)))


def subsample(examples: list, limit: int | None, seed: int) -> list:
    """Shuffle with ``seed`` and keep the first ``limit`` (some files are sorted by label)."""
    if limit is None or len(examples) <= limit:
        return list(examples)
    shuffled = list(examples)
    random.Random(seed).shuffle(shuffled)
    return shuffled[:limit]

