"""What a run changes (tasks.lake.changes), on scans of the shared corpus, without Prefect."""
from __future__ import annotations

from pathlib import Path

import pytest

from tasks.lake.catalog import LakeState, Staged
from tasks.lake.changes import Changes
from tasks.records import PARSER_VERSION, Failure, ItemEntry, RunReport, utcnow
from tasks.sources import SourceItem, open_source, volume_id
from tasks.sources.uri import identity

SELECTION = ["frus1861", "frus1873p2v3", "frus1894Nicaragua"]


@pytest.fixture
def scan(volumes_dir: Path, tmp_path: Path):
    """The corpus's volumes folder as a source (three volumes), and its items."""
    source = open_source(identity(str(volumes_dir)), tmp_path / "data", SELECTION)
    items = source.scan()
    assert [volume_id(i.name) for i in items] == SELECTION
    return source, items


def _entry(item: SourceItem, source: str, sha256: str = "0" * 64, **changed) -> ItemEntry:
    fields = dict(uri=item.uri, volume_id=volume_id(item.name), sha256=sha256, version=item.version,
                  parser_version=PARSER_VERSION, run_id="run-0", ingested_at="2026-01-01T00:00:00",
                  documents=10, source=source, name=item.name)
    return ItemEntry(**{**fields, **changed})


def _changes(entries: list[ItemEntry], failures: list[Failure] = (), volumes=SELECTION) -> Changes:
    base = LakeState({e.uri: e for e in entries}, {f.uri: f for f in failures}, snapshot=7)
    return Changes(base, RunReport("run-1", entries[0].source if entries else "x", utcnow()), volumes)


def test_items_stored_at_their_version_are_not_read_again(scan):
    source, items = scan
    changes = _changes([_entry(i, source.identity) for i in items])
    changes.report.items_seen = len(items)
    assert changes.to_read(items) == []
    assert changes.withdraw_missing(items, source.identity) == []
    assert changes.finish() == "completed" and changes.report.items_unchanged == 3
    assert not changes.committed and changes.changed_uris == set()


def test_a_new_version_token_with_the_same_bytes_only_updates_the_row(scan):
    source, items = scan
    fetched = source.fetch(items[0])
    changes = _changes([_entry(items[0], source.identity, fetched.sha256, version="old-token")]
                       + [_entry(i, source.identity) for i in items[1:]])
    assert changes.to_read(items) == [items[0]]
    assert changes.same_bytes(items[0], fetched.sha256)
    assert [e.version for e in changes.updated] == [items[0].version]
    assert changes.committed and changes.changed_uris == set()  # no new links: no dedupe
    assert changes.report.items_unchanged == 3


def test_new_and_changed_items_are_counted_and_staged(scan, tmp_path: Path):
    source, items = scan
    old = _entry(items[1], source.identity, version="old-token", parser_version="0.9")
    changes = _changes([old])
    assert changes.to_read(items) == items  # a new parser reads the item again
    fetched = source.fetch(items[1])
    assert not changes.same_bytes(items[1], fetched.sha256)
    for item, documents in ((items[0], 5), (items[1], 8)):
        done = Staged(_entry(item, source.identity, documents=documents, rejects=1), tmp_path)
        changes.stored(item, done, 1.5, {"no date": 1})
    r = changes.report
    assert (r.items_new, r.items_changed, r.documents_added, r.documents_updated, r.rejects) == (1, 1, 5, 8, 2)
    assert [row.outcome for row in changes.rows] == ["new", "changed"]
    assert changes.changed_uris == {items[0].uri, items[1].uri}


def test_items_gone_from_their_source_are_withdrawn_within_the_selection_only(scan):
    source, items = scan
    gone = SourceItem("frus1936v03.xml", "file:///elsewhere/frus1936v03.xml", "v")
    elsewhere = SourceItem("frus1870.xml", "file:///other/frus1870.xml", "v")
    outside = SourceItem("frus1864p3.xml", source.identity + "/frus1864p3.xml", "v")
    entries = ([_entry(i, source.identity) for i in items] + [_entry(gone, source.identity)]
               + [_entry(elsewhere, "/other"), _entry(outside, source.identity)])
    changes = _changes(entries, volumes=SELECTION + ["frus1936v03"])
    changes.to_read(items)
    withdrawn = changes.withdraw_missing(items, source.identity)
    assert [(e.name, e.withdrawn_run) for e in withdrawn] == [("frus1936v03.xml", "run-1")]
    assert changes.report.items_removed == 1 and changes.report.documents_withdrawn == 10
    assert changes.changed_uris == {gone.uri} and changes.entries == withdrawn
    back = _changes([_entry(items[0], source.identity, withdrawn_run="run-0")])
    assert back.previous(items[0]) is None and back.to_read(items[:1]) == items[:1]  # back: new


def test_failures_are_kept_until_read_or_gone_and_the_same_one_again_is_no_change(scan):
    source, items = scan
    stored = [_entry(i, source.identity) for i in items[1:]]
    first = Failure(items[0].uri, items[0].name, source.identity, items[0].version, "boom", "run-0")
    gone = Failure("file:///x/frus1870.xml", "frus1870.xml", source.identity, "v", "bad", "run-0")
    changes = _changes(stored, [first, gone], volumes=None)
    changes.report.items_seen = len(items)
    assert changes.to_read(items) == [items[0]]
    changes.failed(items[0], source.identity, "boom")
    changes.withdraw_missing(items, source.identity)
    assert changes.failures == {first.uri: first}  # the first run of the failure kept, the gone one dropped
    assert changes.finish() == "partial" and changes.report.rejects == 1
    assert changes.committed  # (the gone failure leaves)
    again = _changes(stored, [first], volumes=None)
    again.to_read(items)
    again.failed(items[0], source.identity, "boom")
    assert not again.committed and again.failures[first.uri].run_id == "run-0"


def test_the_runs_status(scan):
    source, items = scan
    empty = _changes([])
    assert empty.finish() == "empty"
    nothing = _changes([])
    nothing.report.items_seen = 1
    nothing.failed(items[0], source.identity, "unreadable")
    assert nothing.finish() == "failed"


def test_a_volume_id_held_by_another_source_is_refused_unless_by_a_peer(scan, tmp_path: Path):
    source, items = scan
    held = _entry(SourceItem("frus1861.xml", "file:///other/frus1861.xml", "v"), "/other")
    changes = _changes([held])
    claimant = _entry(items[0], source.identity)
    assert "already held by file:///other/frus1861.xml" in changes.conflict(claimant, {source.identity})
    assert changes.conflict(claimant, {source.identity, "/other"}) is None  # its mirror
    changes.stored(items[0], Staged(claimant, tmp_path), None, {})
    page = _entry(SourceItem("frus1861.txt", "file:///p/frus1861.txt", "v", "hsg-text"), "/p")
    assert changes.conflict(page, {"/p"}) is None  # page texts share their volume's id
