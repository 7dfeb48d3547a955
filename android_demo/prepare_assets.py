"""Put an Android bundle into the demo app's assets, after checking that the app can run it.

    .venv/bin/python android_demo/prepare_assets.py BUNDLE [--name NAME] [--assets DIR] [--force]

BUNDLE is what `edgedistill export --target android` (or `edgedistill quantize` on such a bundle)
wrote. Before anything is copied:

* the manifest is read with the runtime's own reader (format version, required keys) and every file
  is checked against its SHA-256;
* the task must be sequence or token classification (the demo shows labels and entities), with
  labels that are unique and, for tagging, BIO tags;
* the bundle must hold the string-input model (tokenizer in the graph): the `string_input_ort`
  variant, else `string_input`; an ORT-format file must carry ORT's header and a format version the
  app's ONNX Runtime reads;
* where onnxruntime-extensions is installed, the model is loaded as the app loads it and run on one
  sentence: one string input, the manifest's logits output with one column per label.

Then edgedistill.json and the string-input model (nothing else: model.onnx and tokenizer.json stay
out of the APK) are copied to ASSETS/models/NAME/ through a temporary folder and re-hashed there.
Warnings (for example a bundle converted by a newer onnxruntime than the app's) do not stop it.
Exit status 1 and one sentence on stderr when the bundle cannot be used.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import struct
import sys
from pathlib import Path

import numpy as np

from edgedistill.runtime.bundle import MANIFEST_NAME, BundleError, Manifest, load_manifest, resolve_inside

DEMO_DIR = Path(__file__).resolve().parent
DEFAULT_ASSETS = DEMO_DIR / "app" / "src" / "main" / "assets"
VERSIONS_FILE = DEMO_DIR / "gradle" / "libs.versions.toml"
ANDROID_VARIANTS = ("string_input_ort", "string_input")  # as Manifest.ANDROID_VARIANTS in the Java core
DEMO_TASKS = ("sequence-classification", "token-classification")
ORT_FORMAT_VERSIONS = ("6",)  # what onnxruntime-android 1.16 and later read
TOKEN_OFFSETS = "token_offsets"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SMOKE_TEXT = "Ina son wannan waka sosai 😍"


class PrepareError(Exception):
    """The bundle cannot go into the app; the message says why in one sentence."""


def android_model(manifest: Manifest, bundle: Path) -> str:
    for key in ANDROID_VARIANTS:
        if key in manifest.variants:
            return manifest.variants[key]
    raise PrepareError(f"bundle {bundle} has no string-input model (variants: "
                       f"{sorted(manifest.variants) or 'none'}); export it with "
                       f"`edgedistill export MODEL --out DIR --target android`")


def check_manifest(bundle: Path) -> tuple[Manifest, str]:
    """The manifest, verified, and the file the app will load."""
    try:
        manifest = load_manifest(bundle)
    except BundleError as exc:
        raise PrepareError(str(exc)) from None
    if manifest.task not in DEMO_TASKS:
        raise PrepareError(f"bundle {bundle} is a {manifest.task} model; the demo shows labels and "
                           f"entities, so it takes {' or '.join(DEMO_TASKS)} bundles")
    if len(set(manifest.labels)) != len(manifest.labels):
        raise PrepareError(f"bundle {bundle} lists the same label twice: {manifest.labels}")
    if manifest.task == "token-classification":
        odd = [label for label in manifest.labels if label != "O" and not re.match(r"^[BI]-.+", label)]
        if odd:
            raise PrepareError(f"bundle {bundle} has tags {odd} that are not BIO (O, B-X, I-X), so the app "
                               f"cannot group them into entities")
    return manifest, android_model(manifest, bundle)


def ort_format_version(path: Path) -> str | None:
    """The ORT format version stored in an .ort file (e.g. "6"), None if it is not one.

    Read straight from the flatbuffer (root table InferenceSession, field 0 ``ort_version``), so
    that no onnxruntime tooling has to be imported.
    """
    data = path.read_bytes()
    if data[4:8] != b"ORTM":
        return None
    try:
        table = struct.unpack_from("<I", data, 0)[0]
        vtable = table - struct.unpack_from("<i", data, table)[0]
        vtable_size = struct.unpack_from("<H", data, vtable)[0]
        field = struct.unpack_from("<H", data, vtable + 4)[0] if vtable_size > 4 else 0
        if field == 0:
            raise ValueError("no ort_version")
        string = table + field + struct.unpack_from("<I", data, table + field)[0]
        length = struct.unpack_from("<I", data, string)[0]
        if length > 16 or string + 4 + length > len(data):
            raise ValueError("implausible ort_version")
        return data[string + 4 : string + 4 + length].decode("ascii")
    except (struct.error, ValueError, UnicodeDecodeError):
        raise PrepareError(f"{path} starts like an ORT-format file but its header cannot be read (damaged "
                           f"or truncated)") from None


def extensions_library() -> str | None:
    """Path of onnxruntime-extensions' operator library, found without importing the package (its
    import pulls in transformers and takes many seconds); None if it is not installed."""
    spec = importlib.util.find_spec("onnxruntime_extensions")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for candidate in sorted(Path(folder).glob("_extensions_pydll*")):
            if candidate.suffix in (".so", ".pyd", ".dylib"):
                return str(candidate)
    return None


def check_model_file(path: Path, warn) -> None:
    if path.suffix != ".ort":
        warn(f"{path.name} is ONNX, not ORT format: it loads in onnxruntime-android's full package, but "
             f"converting it to ORT format makes it smaller and faster to load")
        return
    version = ort_format_version(path)
    if version is None:
        raise PrepareError(f"{path} does not start with ORT format's header, so ONNX Runtime Mobile cannot "
                           f"load it")
    if version not in ORT_FORMAT_VERSIONS and version != "unknown":
        warn(f"{path.name} is ORT format version {version}; the app's ONNX Runtime reads version "
             f"{', '.join(ORT_FORMAT_VERSIONS)}")


def app_onnxruntime_version(versions_file: Path = VERSIONS_FILE) -> str | None:
    """The onnxruntime-android version pinned in the app's Gradle version catalog."""
    if not versions_file.is_file():
        return None
    text = versions_file.read_text(encoding="utf-8")
    found = re.search(r'^onnxruntime\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return found.group(1) if found else None


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def check_versions(manifest: Manifest, warn, versions_file: Path = VERSIONS_FILE) -> None:
    exported = manifest.packages.get("onnxruntime")
    app = app_onnxruntime_version(versions_file)
    if exported and app and _version_tuple(exported)[:2] > _version_tuple(app)[:2]:
        warn(f"the model was converted by onnxruntime {exported} and the app runs onnxruntime-android "
             f"{app}; ORT format is not promised to load in an older runtime, so if the app cannot open "
             f"the model, raise `onnxruntime` in android_demo/gradle/{versions_file.name}")


def check_runs(path: Path, manifest: Manifest, warn) -> None:
    """Load the model as the app does (onnxruntime-extensions registered) and run one sentence."""
    import onnxruntime as ort

    library = extensions_library()
    if library is None:
        warn("onnxruntime-extensions is not installed here, so the model was not test-run "
             "(pip install 'edgedistill[export]')")
        return
    options = ort.SessionOptions()
    options.register_custom_ops_library(library)
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise PrepareError(f"onnxruntime cannot load {path.name} with onnxruntime-extensions "
                           f"({first})") from None
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(string)":
        raise PrepareError(f"{path.name} takes {[(i.name, i.type) for i in inputs]}; the app feeds one "
                           f"string tensor (the tokenizer must be in the graph)")
    outputs = [o.name for o in session.get_outputs()]
    logits_name = manifest.outputs[0]
    if logits_name not in outputs:
        raise PrepareError(f"{path.name} has no output {logits_name!r} (it has {outputs})")
    wanted = [logits_name] + ([TOKEN_OFFSETS] if TOKEN_OFFSETS in outputs else [])
    values = session.run(wanted, {inputs[0].name: np.array([SMOKE_TEXT], dtype=object)})
    logits = values[0]
    expected_rank = 2 if manifest.task == "sequence-classification" else 3
    if logits.ndim != expected_rank or logits.shape[-1] != len(manifest.labels) or logits.shape[0] != 1:
        labels = len(manifest.labels)
        wanted = f"[1, {labels}]" if expected_rank == 2 else f"[1, tokens, {labels}]"
        raise PrepareError(f"{path.name} gives logits of shape {list(logits.shape)} for one sentence; the "
                           f"app expects {wanted}")
    if not np.all(np.isfinite(logits)):
        raise PrepareError(f"{path.name} gives non-finite logits")
    if manifest.task == "token-classification":
        if TOKEN_OFFSETS not in outputs:
            warn(f"{path.name} has no {TOKEN_OFFSETS!r} output, so the app cannot place entities in the "
                 f"text and will say so for this model (the export stage does not write it yet)")
        elif list(values[1].shape) != list(logits.shape[:2]):
            raise PrepareError(f"{path.name} gives {TOKEN_OFFSETS} of shape {list(values[1].shape)}; "
                               f"expected one offset per token, {list(logits.shape[:2])}")


def place(bundle: Path, manifest: Manifest, model_file: str, dest: Path) -> None:
    """Copy the manifest and the string-input model to ``dest`` atomically, then verify the copies."""
    from edgedistill.atomic import atomic_directory
    from edgedistill.runtime.bundle import sha256_file

    with atomic_directory(dest, overwrite=True) as tmp:
        for name in (MANIFEST_NAME, model_file):
            target = resolve_inside(tmp, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(resolve_inside(bundle, name), target)
        if sha256_file(resolve_inside(tmp, model_file)) != manifest.files[model_file]:
            raise PrepareError(f"the copy of {model_file} does not match its SHA-256 (disk full?)")


def prepare(bundle: str | Path, *, name: str | None = None, assets: str | Path = DEFAULT_ASSETS,
            force: bool = False, warn=None, versions_file: Path = VERSIONS_FILE) -> Path:
    """Check ``bundle`` and place it under ``assets/models/NAME``; returns that folder."""
    warn = warn or (lambda message: print(f"warning: {message}", file=sys.stderr))
    bundle = Path(bundle)
    name = name or bundle.resolve().name
    if not NAME.match(name):
        raise PrepareError(f"model name {name!r} must be letters, digits, '.', '_' or '-' (it becomes an "
                           f"assets folder)")
    dest = Path(assets) / "models" / name
    if dest.exists() and not force:
        raise PrepareError(f"{dest} already exists; pass --force to replace it")
    manifest, model_file = check_manifest(bundle)
    model_path = resolve_inside(bundle, model_file)
    check_model_file(model_path, warn)
    check_versions(manifest, warn, versions_file)
    check_runs(model_path, manifest, warn)
    place(bundle, manifest, model_file, dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="See android_demo/README.md.")
    parser.add_argument("bundle", type=Path,
                        help="bundle directory from `edgedistill export --target android`")
    parser.add_argument("--name", help="folder name in the app, shown in its model picker (default: the "
                                       "bundle's folder name)")
    parser.add_argument("--assets", type=Path, default=DEFAULT_ASSETS,
                        help="the app's assets folder (default: android_demo/app/src/main/assets)")
    parser.add_argument("--force", action="store_true", help="replace a model of the same name")
    args = parser.parse_args(argv)
    try:
        dest = prepare(args.bundle, name=args.name, assets=args.assets, force=args.force)
    except PrepareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    manifest = load_manifest(dest, verify=False)
    model_file = android_model(manifest, dest)
    size = (dest / model_file).stat().st_size / 1e6
    print(f"placed {dest.name}: {manifest.task}, {len(manifest.labels)} labels, {model_file} {size:.1f} MB "
          f"-> {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
