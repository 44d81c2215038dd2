"""Git source: a real repository built from corpus volumes, opened as git+file://."""
from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest

from tasks.sources import FetchError, SourceItem, open_source
from tasks.sources.git import GitSource

VOLUMES = ["frus1861.xml", "frus1894Nicaragua.xml", "frus1872p2v5.xml"]


def git(repo, *args):
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=Test", "-c", "user.email=test@example.org",
         *args], check=True, capture_output=True, text=True,
    ).stdout


@pytest.fixture
def upstream(tmp_path, volumes_dir):
    repo = tmp_path / "upstream"
    (repo / "volumes").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "master")
    git(repo, "config", "uploadpack.allowFilter", "true")  # serve the partial clone for real
    for name in VOLUMES:
        shutil.copy(volumes_dir / name, repo / "volumes" / name)
    (repo / "README.md").write_text("not a volume\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "three volumes")
    return repo


def blob_id(repo, path):
    return git(repo, "rev-parse", f"HEAD:{path}").strip()


def test_scan_fetch_and_changes(upstream, tmp_path, volumes_dir):
    data = tmp_path / "data"
    source = open_source(f"git+{upstream.as_uri()}", data)
    assert isinstance(source, GitSource)
    items = source.scan()
    assert [i.name for i in items] == sorted(f"volumes/{n}" for n in VOLUMES)
    for item in items:
        assert item.version == blob_id(upstream, item.name)
        assert item.uri == f"git+{upstream.as_uri()}#{item.name}"
        assert item.kind == "tei"
    assert source.revision == git(upstream, "rev-parse", "HEAD").strip()
    assert source.repo.is_relative_to(data.resolve() / "sources" / "git")
    # A partial clone: listing downloaded no volume; each blob arrives when fetched.
    missing = git(source.repo, "rev-list", "--objects", "--missing=print", "refs/frus/head")
    assert {line[1:] for line in missing.split() if line.startswith("?")} >= {
        i.version for i in items}

    for item in items:
        fetched = source.fetch(item)
        expected = (volumes_dir / item.name.removeprefix("volumes/")).read_bytes()
        assert fetched.sha256 == hashlib.sha256(expected).hexdigest()
        assert fetched.path.read_bytes() == expected
        assert fetched.size == len(expected)
    first = {i.name: i.version for i in items}
    first_revision = source.revision

    # Upstream moves on: one volume modified, one deleted, one added.
    changed = upstream / "volumes" / "frus1861.xml"
    changed.write_bytes(changed.read_bytes().replace(b"</TEI>", b"<!-- fixed --></TEI>"))
    git(upstream, "rm", "-q", "volumes/frus1872p2v5.xml")
    shutil.copy(volumes_dir / "frus1936v03.xml", upstream / "volumes")
    git(upstream, "add", ".")
    git(upstream, "commit", "-q", "-m", "change, delete, add")

    again = open_source(f"git+{upstream.as_uri()}", data)  # a new run reuses the clone
    now = {i.name: i for i in again.scan()}
    assert again.revision != first_revision
    changed_items = [i for n, i in now.items() if n in first and i.version != first[n]]
    assert [i.name for i in changed_items] == ["volumes/frus1861.xml"]
    assert changed_items[0].version == blob_id(upstream, "volumes/frus1861.xml")
    assert sorted(set(first) - set(now)) == ["volumes/frus1872p2v5.xml"]
    assert sorted(set(now) - set(first)) == ["volumes/frus1936v03.xml"]
    assert [n for n, i in now.items() if first.get(n) == i.version] == ["volumes/frus1894Nicaragua.xml"]
    fetched = again.fetch(changed_items[0])
    assert fetched.path.read_bytes() == changed.read_bytes()


def test_volume_glob_selection(upstream, tmp_path):
    source = open_source(f"git+{upstream.as_uri()}", tmp_path / "data", volumes=["frus18??", "frus1872*"])
    assert [i.name for i in source.scan()] == ["volumes/frus1861.xml", "volumes/frus1872p2v5.xml"]
    only = open_source(f"git+{upstream.as_uri()}", tmp_path / "data", volumes=["frus1894Nicaragua"])
    assert [i.name for i in only.scan()] == ["volumes/frus1894Nicaragua.xml"]


def test_unknown_blob_raises_and_leaves_nothing(upstream, tmp_path):
    source = open_source(f"git+{upstream.as_uri()}", tmp_path / "data")
    good = source.scan()[0]
    bad = SourceItem("volumes/frus1900.xml", "git+x#volumes/frus1900.xml", "0" * 40)
    with pytest.raises(FetchError, match="frus1900.xml"):
        source.fetch(bad)
    with pytest.raises(FetchError, match="not a git object id"):
        source.fetch(SourceItem("v/x.xml", "git+x#v/x.xml", "--help"))
    raw = tmp_path / "data" / "raw"
    assert [p for p in raw.rglob("*") if p.is_file()] == []
    assert source.fetch(good).size > 0  # the failure did not affect the others


def test_unreachable_remote_raises(tmp_path):
    source = open_source(f"git+{(tmp_path / 'missing').as_uri()}", tmp_path / "data")
    with pytest.raises(FetchError, match="git clone failed"):
        source.scan()


def test_shallow_clone_follows_the_branch(upstream, tmp_path):
    url = f"git+{upstream.as_uri()}"
    source = open_source(url, tmp_path / "data", volumes=["frus1861"], depth=1)
    (first,) = source.scan()
    target = upstream / "volumes" / "frus1861.xml"
    target.write_bytes(target.read_bytes() + b"\n")
    git(upstream, "commit", "-q", "-am", "touch")
    (second,) = source.scan()  # the same Source object fetches again on every scan
    assert second.version != first.version
    assert source.fetch(second).path.read_bytes() == target.read_bytes()
    assert git(source.repo, "rev-parse", "--is-shallow-repository").strip() == "true"


def test_default_upstream_and_clone_location(tmp_path):
    from tasks.sources.git import DEFAULT_URL

    source = open_source("git", tmp_path / "data")  # no network until scan()
    assert source.url == DEFAULT_URL == "https://github.com/HistoryAtState/frus.git"
    assert source.uri == "git+" + DEFAULT_URL
    assert source.repo.parent == (tmp_path / "data").resolve() / "sources" / "git"
    assert source.repo.name.startswith("github.com-HistoryAtState-frus.git-")
