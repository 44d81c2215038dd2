"""The ingest flow on a git source (git+file://): incremental runs as upstream commits move on.

A real repository is built in tmp_path from small corpus volumes; each run is checked
through the warehouse (the ``runs`` view, ``documents``, ``mentions()``) and the lake's state.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from flows.ingest import run_ingest
from tasks.sources import FetchError
from tasks.lake.catalog import Lake
from warehouse import db

pytestmark = pytest.mark.usefixtures("prefect_api")  # every test runs a flow

MODIFIED, DELETED, KEPT, ADDED = "frus1894Nicaragua", "frus1872p2v4", "frus1873p2v3", "frus1861"
# One word of one document's body (frus1894Nicaragua: "thank Almighty God that the people …")
OLD_WORD, NEW_WORD = b"thank Almighty God", b"thank Zanzibarite God"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=Test", "-c", "user.email=test@example.org", *args],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout


def _commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def upstream(tmp_path: Path, volumes_dir: Path) -> Path:
    repo = tmp_path / "upstream"
    (repo / "volumes").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "master")
    git(repo, "config", "uploadpack.allowFilter", "true")  # serve the partial clone for real
    for vid in (MODIFIED, DELETED, KEPT):
        shutil.copy(volumes_dir / f"{vid}.xml", repo / "volumes")
    _commit(repo, "three volumes")
    return repo


def _query(data: Path, sql: str, params: list | None = None) -> list[tuple]:
    with db.connect(db.warehouse_path(data), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _run_row(data: Path, run_id: str) -> dict:
    with db.connect(db.warehouse_path(data), read_only=True) as con:
        cur = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
        cols = [d[0] for d in cur.description]
        rows = cur.fetchall()
    assert len(rows) == 1, (run_id, rows)
    return dict(zip(cols, rows[0]))


def _lake_files(data: Path) -> set[Path]:
    """The lake's data files (the runs export is not data)."""
    return set((data / "lake" / "data").rglob("*.parquet"))


def test_incremental_runs_follow_upstream_commits(upstream: Path, tmp_path: Path, volumes_dir: Path):
    data = tmp_path / "data"
    source = f"git+{upstream.as_uri()}"

    # Run 1: everything is new.
    first = run_ingest(source=source, data_dir=str(data))
    assert first["status"] == "completed", first
    assert (first["items_seen"], first["items_new"]) == (3, 3)
    row1 = _run_row(data, first["run_id"])
    assert (row1["items_new"], row1["items_changed"], row1["items_removed"]) == (3, 0, 0)
    # every stored document (the `documents` view shows one per duplicate cluster)
    per_volume = dict(_query(data, "SELECT volume_id, count(*) FROM document_versions GROUP BY ALL"))
    assert set(per_volume) == {MODIFIED, DELETED, KEPT}
    shown = dict(_query(data, "SELECT volume_id, count(*) FROM documents GROUP BY ALL"))
    assert row1["documents_added"] == sum(per_volume.values())
    (doc_key,) = [k for (k,) in _query(data, "SELECT doc_key FROM mentions('thank Almighty God')")]
    assert doc_key.startswith(MODIFIED + "/")
    assert _query(data, "SELECT count(*) FROM mentions('Zanzibarite')") == [(0,)]

    # Upstream moves on: one word of one document changed, one volume deleted, one added.
    path = upstream / "volumes" / f"{MODIFIED}.xml"
    raw = path.read_bytes()
    assert raw.count(OLD_WORD) == 1
    path.write_bytes(raw.replace(OLD_WORD, NEW_WORD))
    (upstream / "volumes" / f"{DELETED}.xml").unlink()
    shutil.copy(volumes_dir / f"{ADDED}.xml", upstream / "volumes")
    _commit(upstream, "change a word, delete a volume, add a volume")

    # Run 2: one changed, one removed, one new, one unchanged.
    second = run_ingest(source=source, data_dir=str(data))
    assert second["status"] == "completed", second
    row2 = _run_row(data, second["run_id"])
    assert (row2["items_seen"], row2["items_changed"], row2["items_removed"], row2["items_new"],
            row2["items_unchanged"], row2["items_failed"]) == (3, 1, 1, 1, 1, 0), row2
    assert row2["documents_withdrawn"] == per_volume[DELETED]
    assert row2["documents_updated"] == per_volume[MODIFIED]

    # The deleted volume's documents stay, flagged with the run that saw them go …
    withdrawn = _query(data, "SELECT count(*), count(DISTINCT withdrawn_run), min(withdrawn_run) "
                             "FROM documents WHERE volume_id = ?", [DELETED])
    assert withdrawn == [(shown[DELETED], 1, second["run_id"])]
    assert _query(data, "SELECT count(*) FROM document_versions WHERE volume_id = ? AND withdrawn_run = ?",
                  [DELETED, second["run_id"]]) == [(per_volume[DELETED],)]
    assert _query(data, "SELECT count(*) FROM documents WHERE withdrawn_run IS NOT NULL "
                        "AND volume_id <> ?", [DELETED]) == [(0,)]
    # … and are not found by mentions().
    volumes_found = {v for (v,) in _query(data, "SELECT DISTINCT volume_id FROM mentions('the')")}
    assert DELETED not in volumes_found and {MODIFIED, KEPT, ADDED} <= volumes_found
    # The modified document shows the change; the added volume is there.
    text = _query(data, "SELECT text, run_id FROM documents WHERE doc_key = ?", [doc_key])
    assert "Zanzibarite" in text[0][0] and "Almighty" not in text[0][0]
    assert text[0][1] == second["run_id"]
    assert [k for (k,) in _query(data, "SELECT doc_key FROM mentions('Zanzibarite')")] == [doc_key]
    assert _query(data, "SELECT count(*) FROM mentions('thank Almighty God')") == [(0,)]
    assert _query(data, "SELECT count(*) FROM documents WHERE volume_id = ?", [ADDED])[0][0] > 0
    # The unchanged volume kept its rows from run 1.
    assert _query(data, "SELECT DISTINCT run_id FROM documents WHERE volume_id = ?", [KEPT]) == [
        (first["run_id"],)]

    # Run 3, no new commit: nothing fetched or parsed, nothing committed; only its runs row.
    snapshot, files = Lake(data).state().data_snapshot, _lake_files(data)
    third = run_ingest(source=source, data_dir=str(data))
    assert third["status"] == "completed", third
    assert (third["items_seen"], third["items_unchanged"]) == (3, 3), third
    assert third["items_new"] == third["items_changed"] == third["items_removed"] == 0
    assert third["documents_added"] == third["documents_updated"] == third["documents_withdrawn"] == 0
    assert Lake(data).state().data_snapshot == snapshot
    assert _lake_files(data) == files
    assert [r for (r,) in _query(data, "SELECT run_id FROM runs ORDER BY started_at")] == [
        first["run_id"], second["run_id"], third["run_id"]]
    assert _query(data, "SELECT status, items_unchanged, items_new, documents_added FROM runs "
                  "WHERE run_id = ?", [third["run_id"]]) == [("completed", 3, 0, 0)]




def test_unreachable_upstream_falls_back_to_the_mirror(upstream: Path, tmp_path: Path, volumes_dir: Path):
    """Offline, the run ingests the local mirror and says so; once upstream is back, its
    volumes come in as new versions of the same documents, and the mirror's stay."""
    data, mirror = tmp_path / "data", tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(volumes_dir / f"{KEPT}.xml", mirror)
    away = upstream.with_name("upstream-away")
    upstream.rename(away)  # the upstream can't be reached
    source = f"git+{upstream.as_uri()}"

    first = run_ingest(source=source, data_dir=str(data), mirror=str(mirror))
    assert first["status"] == "completed", first
    assert first["source"] == str(mirror) and first["items_new"] == 1
    assert first["message"].startswith(f"fell back to the mirror: {source}"), first["message"]
    assert _query(data, "SELECT source, status, message FROM runs") == [
        (str(mirror), "completed", first["message"])]
    assert _query(data, "SELECT count(*), min(source_uri) FROM documents") == [
        (19, (mirror / f"{KEPT}.xml").as_uri())]

    away.rename(upstream)  # back online
    second = run_ingest(source=source, data_dir=str(data), mirror=str(mirror))
    assert (second["source"], second["message"], second["items_new"]) == (source, "", 3)
    assert second["items_removed"] == 0  # the mirror's volume is not withdrawn by upstream's run
    # KEPT from both: two versions of each document, one canonical row, upstream's the newer.
    assert _query(data, f"SELECT count(*) FROM document_versions WHERE volume_id = '{KEPT}'") == [(46,)]
    assert _query(data, f"SELECT count(DISTINCT doc_key), count(*), min(source_uri) FROM documents "
                        f"WHERE volume_id = '{KEPT}'") == [(19, 19, f"{source}#volumes/{KEPT}.xml")]


def test_unreachable_source_without_mirror_fails_on_record(tmp_path: Path):
    data = tmp_path / "data"
    source = f"git+{(tmp_path / 'no-such-repo').as_uri()}"
    with pytest.raises(FetchError, match="no-such-repo"):
        run_ingest(source=source, data_dir=str(data))
    (run,) = [dict(zip(("status", "source", "items_seen", "message"), r)) for r in
              _runs_files(data, "SELECT status, source, items_seen, message")]
    assert (run["status"], run["source"], run["items_seen"]) == ("failed", source, 0)
    assert run["message"].startswith("FetchError: ") and "git clone failed" in run["message"], run
    assert Lake(data).state().items == {}  # nothing committed but the run's row


def _runs_files(data: Path, select: str) -> list[tuple]:
    """Rows of the lake's runs table itself (a failed first run leaves no warehouse)."""
    with Lake(data).connect(read_only=True) as con:
        return con.execute(f"{select} FROM lake.runs").fetchall()
