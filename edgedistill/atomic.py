"""Write artifacts so that a crash never leaves one that looks complete.

Every model directory, bundle and report is written under a temporary name beside its destination
and renamed into place only when it is whole. A rename within one filesystem is atomic.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def read_json(path: str | Path) -> dict:
    """The JSON object written to ``path``, or {} when there is no such file (an optional record)."""
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


@contextlib.contextmanager
def atomic_directory(dest: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty temporary directory that becomes ``dest`` when the block finishes cleanly.

    If the block raises, the temporary directory is removed and ``dest`` is left untouched.
    """
    dest = Path(dest)
    if dest.exists() and not overwrite:
        raise FileExistsError(f"{dest} already exists (pass overwrite to replace it)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; the artifact gets normal permissions
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_directory(tmp, dest)


def replace_directory(source: Path, dest: Path) -> None:
    """Rename the finished directory ``source`` to ``dest``, replacing a directory already there.

    The old one is first moved aside (a rename cannot replace a non-empty directory), so ``dest`` is
    at every moment either the old whole directory, absent for an instant, or the new whole one.
    """
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
        os.replace(dest, old / "previous")
        os.replace(source, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, dest)


def atomic_write_text(dest: str | Path, text: str) -> None:
    """Write a text file through a temporary file and a rename."""
    atomic_write_bytes(dest, text.encode("utf-8"))


def atomic_write_bytes(dest: str | Path, data: bytes) -> None:
    """Write a file through a temporary file and a rename."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.partial-", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_save_figure(figure, dest: str | Path, *, dpi: int = 110) -> None:
    """Save a matplotlib figure as PNG through a temporary file and a rename."""
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=dpi)
    atomic_write_bytes(dest, image.getvalue())


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask sets it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current
