"""One source identity (tasks/sources/uri.py): every spelling of one source is one string."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tasks.sources import open_source
from tasks.sources.uri import SourceError, display, parse, same_source


def test_a_folder_spelled_four_ways_is_one_source(tmp_path: Path, monkeypatch):
    real = tmp_path / "shared" / "corpus"
    real.mkdir(parents=True)
    (tmp_path / "link").symlink_to(real)
    monkeypatch.chdir(tmp_path / "shared")
    spellings = ["corpus", "./corpus/", str(real), f"{tmp_path}/shared/../shared/corpus",
                 str(tmp_path / "link"), real.as_uri(), (tmp_path / "link").as_uri()]
    identities = {parse(s).identity for s in spellings}
    assert identities == {str(real.resolve())}
    assert {parse(s).kind for s in spellings} == {"local"}


def test_a_symlinked_file_keeps_its_name(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "frus1861.xml").write_text("<x/>")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "frus1862.xml").symlink_to(tmp_path / "a" / "frus1861.xml")
    assert parse(str(tmp_path / "b" / "frus1862.xml")).identity == str((tmp_path / "b").resolve() / "frus1862.xml")


def test_a_git_url_with_a_space_or_percent_20_is_one_source(tmp_path: Path):
    repo = tmp_path / "my repo"
    repo.mkdir()
    spaced, encoded = f"git+file://{repo}", f"git+file://{str(repo).replace(' ', '%20')}"
    assert parse(spaced) == parse(encoded)
    assert parse(spaced).identity == "git+" + repo.resolve().as_uri()
    assert parse("git+https://Example.org/a b/r.git").identity == parse(
        "git+https://example.org/a%20b/r.git").identity == "git+https://example.org/a%20b/r.git"
    # the upstream, however it is written, is `git`
    for s in ("git", "git+https://github.com/HistoryAtState/frus.git",
              "git+https://github.com/HistoryAtState/frus", "https://github.com/HistoryAtState/frus.git"):
        assert parse(s).identity == "git", s
    assert display("git") == "git (https://github.com/HistoryAtState/frus.git)"


def test_the_identity_opens_the_same_repository(tmp_path: Path):
    """git clones a percent-encoded file URL: the identity is a source that opens."""
    repo = tmp_path / "my repo"
    (repo / "volumes").mkdir(parents=True)
    (repo / "volumes" / "frus1861.xml").write_text("<TEI/>")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "v"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env)
    names = []
    for spelling in (f"git+file://{repo}", f"git+file://{str(repo).replace(' ', '%20')}"):
        with open_source(parse(spelling).identity, tmp_path / "data") as src:
            names.append([(i.name, i.uri) for i in src.scan()])
    assert names[0] == names[1] and names[0][0][0] == "volumes/frus1861.xml"


def test_other_kinds_and_refusals(tmp_path: Path):
    (tmp_path / "list.txt").write_text("https://example.org/frus1861.xml\n")
    assert parse(f"urls:{tmp_path}/./list.txt") == parse(f"urls:{tmp_path / 'list.txt'}")
    assert parse("urls:x").kind == "urls" and parse("replay").kind == "replay"
    assert parse("https://u@example.org/v/").identity == "https://u@example.org/v/"  # a user alone: kept
    with pytest.raises(SourceError, match="unsupported source 's3://b/x'"):
        parse("s3://b/x")
    with pytest.raises(SourceError, match="source not found: nowhere/at/all"):
        parse("nowhere/at/all", must_exist=True)
    with pytest.raises(SourceError, match="no source given"):
        parse("  ")
    with pytest.raises(SourceError, match="not a local file URI"):
        parse("file://otherhost/x")
    assert same_source("git", "git+https://github.com/HistoryAtState/frus.git")
    assert not same_source(str(tmp_path), "git") and not same_source(None, "git")


@pytest.mark.parametrize("source", ["https://u:secret@example.org/v/", "git+https://u:secret@example.org/r.git",
                                    "HTTPS://u:secret@Example.org/v/", "https://u:@example.org/v/"])
def test_a_password_in_a_source_url_is_refused_and_never_shown(source: str):
    with pytest.raises(SourceError, match="must not hold a password") as refused:
        parse(source)
    assert "secret" not in str(refused.value) and "u:***@" in str(refused.value)
    assert "secret" not in display(source) and "u:***@" in display(source)  # (what the lake may hold)


def test_a_local_git_repository_spelled_any_way_is_one_source(tmp_path: Path, monkeypatch):
    repo = tmp_path / "my repo"
    repo.mkdir()
    (tmp_path / "link").symlink_to(repo)
    monkeypatch.chdir(tmp_path)
    spellings = ["git+my repo", "git+./my repo/", f"git+{repo}", f"git+{tmp_path / 'link'}",
                 f"git+file://{repo}", f"git+file://{tmp_path / 'link'}", "GIT+FILE://" + str(repo)]
    assert {parse(s).identity for s in spellings} == {"git+" + repo.resolve().as_uri()}
    assert {parse(s).kind for s in spellings} == {"git"}
    assert parse("git+git@github.com:a/b.git").identity == "git+git@github.com:a/b.git"  # scp-like: a host


def test_schemes_are_read_case_insensitively_and_lower_cased():
    assert parse("HTTPS://Example.com/x").identity == "https://example.com/x"
    assert parse("HTTPS://Example.com/x") == parse("https://example.com/x")
    assert parse("Git+HTTPS://Example.org/r.git").identity == "git+https://example.org/r.git"
    assert parse("FILE:///").identity == "/"


@pytest.mark.parametrize("upstream", ["https://github.com/HistoryAtState/frus", "https://github.com/HistoryAtState/frus/",
                                      "HTTPS://GitHub.com/historyatstate/frus.git",
                                      "git+https://github.com/HistoryAtState/frus.git"])
def test_the_upstream_as_a_plain_or_git_url_is_git(upstream: str):
    assert parse(upstream) == parse("git") and parse(upstream).kind == "git"
