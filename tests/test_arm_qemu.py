"""The runtime on aarch64 under qemu agrees with x86 (benchmarks/arm/check_arm.sh), when asked.

Opt-in: it needs root, qemu-user-static and an arm64 rootfs and wheels cached by one earlier run of
the script with network (`sudo benchmarks/arm/check_arm.sh`), and takes a few minutes. Run it with
`EDGEDISTILL_ARM_CHECK=1 .venv/bin/python -m pytest tests/test_arm_qemu.py`; otherwise it skips and
says why, so `make test` stays fast and offline. It never touches the network (--offline).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = PROJECT_ROOT / "benchmarks" / "arm" / "check_arm.sh"
CACHE = Path(os.environ.get("EDGEDISTILL_ARM_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgedistill")
SUITE = os.environ.get("ARM_SUITE", "bookworm")
ROOTFS_STAMP = CACHE / "arm-rootfs" / f"{SUITE}-arm64" / ".edgedistill-rootfs-complete"


def _skip_reason() -> str | None:
    if os.environ.get("EDGEDISTILL_ARM_CHECK") != "1":
        return ("the aarch64 check under qemu runs only with EDGEDISTILL_ARM_CHECK=1 (it needs root, "
                "qemu-user-static and a cached arm64 rootfs, and takes minutes)")
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return f"the qemu check is written for an x86-64 Linux host, not {platform.machine()}"
    if os.geteuid() != 0:
        return "the qemu check needs root (chroot, mount, unshare): run pytest with sudo"
    if shutil.which("qemu-aarch64-static") is None:
        return "qemu-aarch64-static is not installed: run `sudo benchmarks/arm/check_arm.sh` once"
    if not ROOTFS_STAMP.is_file():
        return (f"no cached arm64 rootfs at {ROOTFS_STAMP.parent}: run `sudo benchmarks/arm/check_arm.sh` "
                f"once with network to build it")
    if not any((CACHE / "arm-wheels").glob("*/onnxruntime-*.whl")):
        return (f"no cached arm64 wheels under {CACHE / 'arm-wheels'}: run `sudo "
                f"benchmarks/arm/check_arm.sh` once with network")
    return None


@pytest.mark.slow
@pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")
def test_runtime_on_arm64_under_qemu_agrees_with_x86(tmp_path):
    report = tmp_path / "arm-qemu-check.md"
    result = subprocess.run(["bash", str(SCRIPT), "--offline", "--cpu", "neoverse-n1", "--cpu",
                             "cortex-a72", "--report", str(report)],
                            capture_output=True, text=True, timeout=1200, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    text = report.read_text()
    assert "**Result: PASS**" in text
    assert "| seqcls-int8 | sequence-classification | INT8 | neoverse-n1 |" in text
    assert "Nothing in this report was measured on real ARM hardware" in text
