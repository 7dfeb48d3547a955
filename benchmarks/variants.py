"""What can be benchmarked, and how each kind is loaded and fed.

A variant is written ``NAME=PATH`` (or just ``PATH``) and its kind is read off the path:
* a bundle directory (has ``edgedistill.json``): ONNX Runtime, needs only the base install;
* a Hugging Face model directory (has ``config.json``), or a built-in teacher name such as
  ``e5-small``: PyTorch FP32;
* a ``.pt`` file with a ``tokenizer.json`` beside it: TorchScript.

Every variant is fed the same real text, tokenized with its own tokenizer (vocabularies may be
trimmed) and cut or repeated to exactly ``seq_len`` tokens, so all run the same amount of work.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

KINDS = ("onnx", "pytorch", "torchscript")
BUILTIN_TEACHERS = ("e5-small",)

# Used when no real text is at hand (e.g. on a Pi without the data folder).
FALLBACK_TEXT = ("Gwamnatin jihar ta ce za ta gina sababbin makarantu a kauyuka domin yara su samu "
                 "ilimi mai inganci, kuma za ta dauki sababbin malamai da dama a shekara mai zuwa.")


class VariantError(ValueError):
    """A variant argument does not name something that can be benchmarked."""


@dataclass
class VariantSpec:
    name: str
    kind: str
    path: str

    def to_dict(self) -> dict:
        return asdict(self)


def parse_variant(text: str) -> VariantSpec:
    name, _, location = text.rpartition("=")
    location = location.strip()
    if location in BUILTIN_TEACHERS:
        return VariantSpec(name or location, "pytorch", location)
    path = Path(location).expanduser()
    name = name or path.name or location
    if path.is_dir() and (path / "edgedistill.json").is_file():
        return VariantSpec(name, "onnx", str(path))
    if path.is_dir() and (path / "config.json").is_file():
        return VariantSpec(name, "pytorch", str(path))
    if path.is_file() and path.suffix == ".pt":
        if not (path.parent / "tokenizer.json").is_file():
            raise VariantError(f"TorchScript file {path} needs a tokenizer.json beside it")
        return VariantSpec(name, "torchscript", str(path))
    if not path.exists():
        raise VariantError(f"variant {text!r}: {location} does not exist")
    raise VariantError(f"variant {text!r}: {location} is neither a bundle (edgedistill.json), "
                       f"a Hugging Face model directory (config.json) nor a .pt file")


def benchmark_text() -> str:
    """Real Hausa text from the data folder when present, else a built-in Hausa paragraph."""
    try:
        from edgedistill.shared_data import raw_sentences

        return " ".join(raw_sentences("hau", limit=60, split="dev"))
    except Exception:  # noqa: BLE001 - any missing data just means the fallback text
        return FALLBACK_TEXT


def exact_length_ids(tokenizer_file: Path, text: str, seq_len: int, batch_size: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """[batch, seq_len] ids of real text (repeated if short) inside the model's special tokens."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    content = tokenizer.encode(text, add_special_tokens=False).ids
    if not content:
        raise VariantError(f"{tokenizer_file} turns the benchmark text into no tokens")
    front, back = _special_frame(tokenizer)
    wanted = seq_len - len(front) - len(back)
    content = (content * (wanted // len(content) + 1))[:wanted]
    ids = np.asarray([front + content + back] * batch_size, dtype=np.int64)
    return ids, np.ones_like(ids)


def _special_frame(tokenizer) -> tuple[list[int], list[int]]:
    """The special ids the post-processor puts before and after a single text."""
    bare = tokenizer.encode("a", add_special_tokens=False).ids
    full = tokenizer.encode("a", add_special_tokens=True).ids
    for i in range(len(full) - len(bare) + 1):
        if full[i : i + len(bare)] == bare:
            return full[:i], full[i + len(bare) :]
    return [], []


@dataclass
class LoadedVariant:
    run: Callable[[], object]
    architecture: dict
    parameters: dict
    size_bytes: int
    metrics: dict


def _dir_size(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths if p.is_file())


def load_onnx(spec: VariantSpec, seq_len: int, batch_size: int, threads: int) -> LoadedVariant:
    import onnxruntime as ort

    from edgedistill.runtime.bundle import load_manifest, resolve_inside

    bundle = Path(spec.path)
    manifest = load_manifest(bundle)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    model_path = resolve_inside(bundle, manifest.model_file)
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    ids, mask = exact_length_ids(resolve_inside(bundle, manifest.tokenizer_file),
                                 benchmark_text(), seq_len, batch_size)
    names = {i.name for i in session.get_inputs()}
    feeds = {k: v for k, v in {"input_ids": ids, "attention_mask": mask,
                               "token_type_ids": np.zeros_like(ids)}.items() if k in names}
    weight_files = [model_path] + [bundle / f for f in manifest.files
                                   if f.startswith(manifest.model_file) and f != manifest.model_file]
    return LoadedVariant(lambda: session.run(None, feeds), manifest.architecture,
                         manifest.parameters, _dir_size(weight_files), manifest.metrics)


def load_pytorch(spec: VariantSpec, seq_len: int, batch_size: int, threads: int) -> LoadedVariant:
    import torch
    import transformers

    from edgedistill.accounting import count_parameters, encoder_shape

    torch.set_num_threads(threads)
    folder = Path(spec.path)
    if spec.path in BUILTIN_TEACHERS:
        from edgedistill.teachers import builtin_teacher_dir

        folder = builtin_teacher_dir(spec.path)
    from edgedistill.teachers import check_model_directory

    check_model_directory(folder)  # names a missing tokenizer or weights file, as transformers does not
    config = transformers.AutoConfig.from_pretrained(folder)
    architecture = (config.architectures or ["AutoModel"])[0]
    model_class = getattr(transformers, architecture, transformers.AutoModel)
    kwargs = {"add_pooling_layer": False} if architecture in ("BertModel", "XLMRobertaModel") else {}
    model = model_class.from_pretrained(folder, **kwargs).eval()
    ids, mask = exact_length_ids(folder / "tokenizer.json", benchmark_text(), seq_len, batch_size)
    ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)

    def run():
        with torch.inference_mode():
            return model(input_ids=ids_t, attention_mask=mask_t)

    counts = count_parameters(model).as_dict()
    weights = list(folder.glob("*.safetensors")) or list(folder.glob("*.bin"))
    metrics = _results_metrics(folder)
    return LoadedVariant(run, encoder_shape(config), counts, _dir_size(weights), metrics)


def load_torchscript(spec: VariantSpec, seq_len: int, batch_size: int, threads: int
                     ) -> LoadedVariant:
    import torch

    torch.set_num_threads(threads)
    path = Path(spec.path)
    module = torch.jit.load(str(path), map_location="cpu").eval()
    ids, mask = exact_length_ids(path.parent / "tokenizer.json", benchmark_text(), seq_len,
                                 batch_size)
    ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)

    def run():
        with torch.inference_mode():
            return module(ids_t, mask_t)

    architecture = {}
    manifest = path.parent / "edgedistill.json"
    if manifest.is_file():
        data = json.loads(manifest.read_text())
        architecture = data.get("architecture", {})
    return LoadedVariant(run, architecture, {}, path.stat().st_size, {})


def _results_metrics(folder: Path) -> dict:
    """Metrics a fine-tuning run left next to the model, if any."""
    for name in ("results.json", "eval_results.json"):
        path = folder / name
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except json.JSONDecodeError:
                return {}
            return data if isinstance(data, dict) else {}
    return {}


LOADERS = {"onnx": load_onnx, "pytorch": load_pytorch, "torchscript": load_torchscript}


def limit_threads(threads: int) -> None:
    """Set before any heavy import, so OpenMP/MKL pools start at the asked size."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
