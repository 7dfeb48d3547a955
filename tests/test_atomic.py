from __future__ import annotations

import pytest

from edgedistill.atomic import atomic_directory, atomic_write_text


def test_failure_leaves_nothing_that_looks_complete(tmp_path):
    dest = tmp_path / "model"
    with pytest.raises(RuntimeError), atomic_directory(dest) as tmp:
        (tmp / "config.json").write_text("{}")
        raise RuntimeError("killed mid-write")
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_success_replaces_only_when_asked(tmp_path):
    dest = tmp_path / "model"
    with atomic_directory(dest) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(FileExistsError), atomic_directory(dest):
        pass
    with atomic_directory(dest, overwrite=True) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in dest.iterdir()) == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_atomic_write_text(tmp_path):
    atomic_write_text(tmp_path / "r" / "report.json", "{}")
    assert (tmp_path / "r" / "report.json").read_text() == "{}"


def test_artifacts_get_normal_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        with atomic_directory(tmp_path / "bundle") as tmp:
            (tmp / "x").write_text("1")
        atomic_write_text(tmp_path / "report.md", "ok")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "bundle").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "report.md").stat().st_mode) == 0o644
