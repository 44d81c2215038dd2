"""Local folder source: recursive listing, size+mtime versions, landing by hash."""
from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from tasks.sources import FetchError, open_source
from tasks.sources.local import LocalSource


@pytest.fixture
def folder(tmp_path, volumes_dir):
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    (root / ".git").mkdir()
    shutil.copy(volumes_dir / "frus1861.xml", root)
    shutil.copy(volumes_dir / "frus1894Nicaragua.xml", root / "sub")
    (root / "sub" / "000_page.txt").write_text("793.94/12357: Telegram\n")
    (root / "notes.md").write_text("not an item")
    (root / ".git" / "hidden.xml").write_text("<x/>")
    return root


def test_scan_lists_tei_and_text_recursively(folder, tmp_path):
    source = open_source(str(folder), tmp_path / "data")
    assert isinstance(source, LocalSource)
    items = {i.name: i for i in source.scan()}
    assert sorted(items) == ["frus1861.xml", "sub/000_page.txt", "sub/frus1894Nicaragua.xml"]
    assert items["sub/000_page.txt"].kind == "hsg-text"
    assert items["frus1861.xml"].kind == "tei"
    assert items["frus1861.xml"].uri == (folder / "frus1861.xml").as_uri()
    st = (folder / "frus1861.xml").stat()
    assert items["frus1861.xml"].version == f"{st.st_size}:{st.st_mtime_ns}"


def test_fetch_lands_the_bytes(folder, tmp_path):
    source = open_source(folder.as_uri(), tmp_path / "data")
    item = next(i for i in source.scan() if i.name == "frus1861.xml")
    fetched = source.fetch(item)
    data = (folder / "frus1861.xml").read_bytes()
    assert fetched.sha256 == hashlib.sha256(data).hexdigest()
    assert fetched.size == len(data)
    assert fetched.path.read_bytes() == data
    assert source.fetch(item) == fetched  # idempotent


def test_version_changes_on_modification(folder, tmp_path):
    source = open_source(str(folder), tmp_path / "data")
    before = {i.name: i.version for i in source.scan()}
    path = folder / "frus1861.xml"
    path.write_bytes(path.read_bytes() + b"\n")
    os.utime(path, ns=(1, 1))  # mtime granularity must not hide a change
    (folder / "sub" / "000_page.txt").unlink()
    after = {i.name: i.version for i in source.scan()}
    assert [n for n in after if after[n] != before[n]] == ["frus1861.xml"]
    assert sorted(set(before) - set(after)) == ["sub/000_page.txt"]
    assert [n for n in after if after[n] == before[n]] == ["sub/frus1894Nicaragua.xml"]


def test_volume_selection_and_single_file(folder, tmp_path):
    source = open_source(str(folder), tmp_path / "data", volumes=["frus189*"])
    assert [i.name for i in source.scan()] == ["sub/frus1894Nicaragua.xml"]
    single = open_source(str(folder / "frus1861.xml"), tmp_path / "data")
    assert [i.name for i in single.scan()] == ["frus1861.xml"]


def test_missing_file_raises_fetch_error_naming_it(folder, tmp_path):
    source = open_source(str(folder), tmp_path / "data")
    items = source.scan()
    (folder / "frus1861.xml").unlink()
    gone = next(i for i in items if i.name == "frus1861.xml")
    with pytest.raises(FetchError, match="frus1861.xml"):
        source.fetch(gone)
    others = [source.fetch(i) for i in items if i is not gone]  # the others still fetch
    assert len(others) == 2
    with pytest.raises(FetchError, match="no such"):
        open_source(str(folder / "nope"), tmp_path / "data").scan()


def test_size_limit(folder, tmp_path):
    source = open_source(str(folder), tmp_path / "data", max_size=1000)
    item = next(i for i in source.scan() if i.name == "frus1861.xml")
    with pytest.raises(FetchError, match="size limit"):
        source.fetch(item)
    assert [p for p in (tmp_path / "data" / "raw").rglob("*") if p.is_file()] == []


def test_one_folder_spelled_two_ways_is_one_source(folder, tmp_path, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    plain = {i.uri for i in open_source(str(folder), tmp_path / "data").scan()}
    dotted = {i.uri for i in open_source("../in/./sub/..", tmp_path / "data").scan()}
    assert dotted == plain and all("/../" not in u and "/./" not in u for u in plain)


def test_dangling_symlink_fails_alone_and_linked_folders_are_followed(folder, tmp_path, volumes_dir):
    """With follow_links, a symlinked folder outside the source is read (without it, it is
    skipped: tests/hostile/test_source_files.py)."""
    (folder / "dangling.xml").symlink_to(tmp_path / "nowhere.xml")
    linked = tmp_path / "linked"
    linked.mkdir()
    shutil.copy(volumes_dir / "frus1873p2v3.xml", linked)
    (folder / "more").symlink_to(linked, target_is_directory=True)
    (folder / "sub" / "loop").symlink_to(folder, target_is_directory=True)  # a cycle: read once
    source = open_source(str(folder), tmp_path / "data", follow_links=True)
    items = {i.name: i for i in source.scan()}
    assert sorted(items) == ["dangling.xml", "frus1861.xml", "more/frus1873p2v3.xml",
                             "sub/000_page.txt", "sub/frus1894Nicaragua.xml"]
    assert items["dangling.xml"].version.startswith("unreadable:")
    with pytest.raises(FetchError, match="dangling.xml"):
        source.fetch(items["dangling.xml"])
    assert source.fetch(items["more/frus1873p2v3.xml"]).size == (linked / "frus1873p2v3.xml").stat().st_size


def test_a_local_source_imports_no_normaliser_nor_dedupe():
    """An unchanged run lists and fetches only: the size limits live in tasks.landing, so
    importing the local source pays neither lxml's normalisers nor datasketch/scipy."""
    import subprocess
    import sys

    check = ("import tasks.sources.local, sys; "
             "assert 'tasks.dedupe' not in sys.modules, 'tasks.dedupe'; "
             "assert not any(m.startswith('tasks.normalise') for m in sys.modules), 'tasks.normalise'")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
