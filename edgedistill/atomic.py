"""Write artifacts so that a crash never leaves one that looks complete.

Every model directory, bundle and report is written under a temporary name beside its destination
and renamed into place only when it is whole. A rename within one filesystem is atomic. The
temporary name carries the writer's process id and host (``.NAME.partial-<pid>.<host>-<random>``),
so that the next writer of the same destination removes what a killed writer left behind, and
never the folder of a writer that is still running.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edgedistill.errors import EdgedistillError


class OutputExists(EdgedistillError, FileExistsError):
    """The destination exists and replacing it was not asked for."""


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
        # Usually another writer finished first (the commands check before they start).
        raise OutputExists(f"{dest} already exists (another run may have just written it); pass "
                           f"--overwrite (overwrite=True in Python) to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(dest)
    tmp = Path(tempfile.mkdtemp(prefix=_partial_prefix(dest, "partial"), dir=dest.parent))
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
        old = Path(tempfile.mkdtemp(prefix=_partial_prefix(dest, "old"), dir=dest.parent))
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
    remove_stale_partials(dest)
    fd, tmp = tempfile.mkstemp(prefix=_partial_prefix(dest, "partial"), dir=dest.parent)
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


def _host_tag() -> str:
    """A short tag of this machine: a pid means nothing on another host sharing the folder."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _partial_prefix(dest: Path, kind: str) -> str:
    return f".{dest.name}.{kind}-{os.getpid()}.{_host_tag()}-"


def remove_stale_partials(dest: str | Path) -> list[Path]:
    """Remove the temporary files and folders of ``dest`` left by writers that no longer run.

    Only names this module makes are touched, and only those of this host whose process is gone;
    a name without a process id (written before ids were added) is left alone. Returns what was removed.
    """
    dest = Path(dest)
    pattern = re.compile(rf"^\.{re.escape(dest.name)}\.(?:partial|old)-(\d+)\.{_host_tag()}-[^/]+$")
    removed = []
    with contextlib.suppress(OSError):
        for path in dest.parent.iterdir():
            match = pattern.match(path.name)
            if match and not _process_alive(int(match.group(1))):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                removed.append(path)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another writer in this process (a thread) may be using it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except (OverflowError, OSError):
        return False
    return True


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
