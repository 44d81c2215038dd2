"""The landing zone: content-addressed, written once, atomic, never outside the data root."""
from __future__ import annotations

import hashlib
import os

import pytest

from tasks.landing import (
    IncompleteContent,
    SizeLimitExceeded,
    atomic_write_bytes,
    inside,
    land_chunks,
    land_file,
    raw_path,
    sweep_temp,
)


def leftovers(data_root):
    raw = data_root / "raw"
    return sorted(p.name for p in raw.rglob("*") if p.is_file()) if raw.exists() else []


def test_land_file_is_content_addressed(tmp_path, volumes_dir):
    src = volumes_dir / "frus1894Nicaragua.xml"
    landed = land_file(tmp_path, src)
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    assert landed.sha256 == sha
    assert landed.size == src.stat().st_size
    assert landed.path == tmp_path.resolve() / "raw" / sha[:2] / sha
    assert landed.path.read_bytes() == src.read_bytes()


def test_landing_is_idempotent(tmp_path):
    first = land_chunks(tmp_path, [b"<TEI/>", b"\n"])
    mtime = first.path.stat().st_mtime_ns
    second = land_chunks(tmp_path, iter([b"<TEI/>\n"]))
    assert second == first
    assert first.path.stat().st_mtime_ns == mtime  # written once, not rewritten
    assert leftovers(tmp_path) == [first.sha256]  # no temp files left


def test_size_limit_leaves_nothing(tmp_path):
    with pytest.raises(SizeLimitExceeded):
        land_chunks(tmp_path, [b"x" * 10, b"y" * 10], max_size=15)
    assert leftovers(tmp_path) == []


def test_short_content_leaves_nothing(tmp_path):
    with pytest.raises(IncompleteContent):
        land_chunks(tmp_path, [b"abc"], expected_size=10)
    assert leftovers(tmp_path) == []


def test_producer_failure_leaves_nothing(tmp_path):
    def broken():
        yield b"partial"
        raise ConnectionResetError("peer went away")

    with pytest.raises(ConnectionResetError):
        land_chunks(tmp_path, broken())
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("rel", ["../escape", "raw/../../escape", "/etc/passwd"])
def test_paths_escaping_the_root_are_refused(tmp_path, rel):
    root = tmp_path / "data"
    with pytest.raises(ValueError):
        inside(root, rel)
    with pytest.raises(ValueError):
        atomic_write_bytes(root, rel, b"no")
    assert not (tmp_path / "escape").exists()


def test_symlink_out_of_the_root_is_refused(tmp_path):
    root, outside = tmp_path / "data", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "state").symlink_to(outside)
    with pytest.raises(ValueError):
        atomic_write_bytes(root, "state/http.json", b"{}")
    assert list(outside.iterdir()) == []


def test_raw_path_rejects_non_digests(tmp_path):
    with pytest.raises(ValueError):
        raw_path(tmp_path, "../../etc/passwd")
    with pytest.raises(ValueError):
        raw_path(tmp_path, "A" * 64)


def test_atomic_write_replaces(tmp_path):
    path = atomic_write_bytes(tmp_path, "state/x.json", b"1")
    atomic_write_bytes(tmp_path, "state/x.json", b"2")
    assert path.read_bytes() == b"2"
    assert os.listdir(path.parent) == ["x.json"]


def test_sweep_removes_only_stale_temp_files(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    old, new = raw / ".tmp-old", raw / ".tmp-new"
    old.write_bytes(b"x")
    new.write_bytes(b"y")
    os.utime(old, (0, 0))
    assert sweep_temp(tmp_path, older_than=60) == 1
    assert not old.exists() and new.exists()
