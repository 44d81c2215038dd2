"""The lake on DuckLake: one transaction a run, time travel, versions from two folders,
incremental warehouse and deduplication equal to whole rebuilds, readers during ingests,
and a PostgreSQL catalog."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flows import cli
from flows.ingest import run_ingest
from tasks.dedupe import DedupeDoc, find_duplicates
from tasks.lake.catalog import Lake
from tests.flows.test_ingest_flow import _copy
from warehouse import build, db

SMALL = ["frus1894Nicaragua.xml", "frus1873p2v3.xml"]
VIEWS = ["documents", "parts", "footnotes", "volumes", "duplicates"]


def _rows(data: Path, views=VIEWS, drop=("run_id", "source_uri", "item_ingested_at", "version_id",
                                        "cluster_id")) -> dict[str, list]:
    """Every row of the analyst's views, without what names the run or the source item."""
    out = {}
    with db.connect(db.warehouse_path(data), read_only=True) as con:
        for view in views:
            cols = [c for (c,) in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = ?",
                                              [view]).fetchall() if c not in drop]
            out[view] = sorted(map(repr, con.execute(f"SELECT {', '.join(cols)} FROM {view}").fetchall()))
    return out


def _search(data: Path) -> list:
    with db.connect(db.warehouse_path(data), read_only=True) as con:
        return [con.execute("SELECT doc_key, hits, note_hits FROM mentions('Nicaragua', include_notes := true)").fetchall(),
                con.execute("SELECT doc_key, score FROM search_documents('Mosquito reservation') LIMIT 20").fetchall(),
                con.execute("SELECT doc_key, seq, score FROM search_parts('Mosquito reservation') LIMIT 20").fetchall()]


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_one_volume_from_two_folders_equals_one(tmp_path: Path, volumes_dir: Path):
    """The mirror-then-upstream setup: the same volume from a source and its mirror is one
    document each, with one set of parts, footnotes and volume rows, and the same search
    results. (From an unrelated folder it is refused: tests/hostile.)"""
    one, two = tmp_path / "one", tmp_path / "two"
    run_ingest(source=str(_copy(volumes_dir, SMALL, tmp_path / "a")), data_dir=str(one), workers=1)
    run_ingest(source=str(tmp_path / "a"), data_dir=str(two), workers=1)  # (the mirror, ingested first)
    run_ingest(source=str(_copy(volumes_dir, SMALL[:1], tmp_path / "b")), mirror=str(tmp_path / "a"),
           data_dir=str(two), workers=1)
    assert db.query(two, "SELECT count(*) FROM document_versions")[1] == [(138 * 2 + 23,)]
    assert _rows(two) == _rows(one)
    assert _search(two) == _search(one) and _search(one)[0] and _search(one)[1] and _search(one)[2]
    sources = db.query(two, "SELECT method, count(*) FROM document_sources WHERE doc_key LIKE "
                            "'frus1894Nicaragua/%' GROUP BY ALL ORDER BY ALL")[1]
    assert sources == [("self", 138), ("version", 138)]


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_incremental_warehouse_equals_a_rebuild_and_time_travels(tmp_path: Path, volumes_dir: Path, capsys):
    src, data = _copy(volumes_dir, SMALL, tmp_path / "src"), tmp_path / "data"
    first = run_ingest(source=str(src), data_dir=str(data), workers=1)
    first_docs = db.query(data, "SELECT count(*) FROM documents")[1][0][0]
    path = src / SMALL[1]
    xml = path.read_text()
    at = xml.index("</p>", xml.index('type="document"'))
    path.write_text(xml[:at] + " Zanzibarite amendment." + xml[at:])
    (src / SMALL[0]).unlink()
    second = run_ingest(source=str(src), data_dir=str(data), workers=1)
    assert (second["items_changed"], second["items_removed"]) == (1, 1)
    incremental = _rows(data, VIEWS + ["document_sources", "rejects", "lake_items"])
    found = db.query(data, "SELECT doc_key FROM mentions('Zanzibarite amendment')")[1]
    assert len(found) == 1
    assert db.refresh(data, force=True)
    assert _rows(data, VIEWS + ["document_sources", "rejects", "lake_items"]) == incremental
    # time travel: the state the first run left
    assert cli.main(["sql", "--as-of", first["run_id"], "--format", "json", "--data", str(data),
                     "SELECT count(*) AS n, count(withdrawn_run) AS w FROM documents"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": first_docs, "w": 0}]
    assert cli.main(["sql", "--as-of", first["run_id"], "--data", str(data),
                     "SELECT doc_key FROM mentions('Zanzibarite amendment')"]) == 0
    assert "(0 rows)" in capsys.readouterr().out
    assert db.query(data, "SELECT count(*) FROM documents WHERE withdrawn_run IS NOT NULL "
                          "AND volume_id = 'frus1894Nicaragua'")[1] == [(138,)]
    assert cli.main(["sql", "--as-of", "no-such-run", "--data", str(data), "SELECT 1"]) == 1
    assert "no run 'no-such-run'" in capsys.readouterr().err


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_warehouse_built_in_batches_equals_one_batch(tmp_path: Path, volumes_dir: Path, monkeypatch):
    """The warehouse is written a batch of items a session (memory follows the batch): a
    batch per item gives the rows, index and search results of one batch for all; so do small
    index ranges run two at once (two DuckDB threads) rather than one after the other."""
    src, data = _copy(volumes_dir, SMALL + ["frus1919Parisv01.xml"], tmp_path / "src"), tmp_path / "data"
    monkeypatch.setenv("FRUS_DUCKDB_THREADS", "1")
    run_ingest(source=str(src), data_dir=str(data), workers=1)
    assert len(build._batches(db.query(data, "SELECT uri, documents FROM lake_items")[1], 1)) == 3
    index = ("SELECT (SELECT count(*) FROM doc_terms), (SELECT count(*) FROM terms), (SELECT sum(tf) FROM doc_terms), "
             "(SELECT sum(hash(w.term, d.doc_key, d.source_uri, t.field, t.tf)) FROM doc_terms t "
             "JOIN terms w USING (term_id) JOIN document_versions d USING (version_id))")  # (version_id follows the order rows come in)
    whole = _rows(data, VIEWS + ["document_sources", "rejects"]), _search(data), db.query(data, index)[1]
    monkeypatch.setattr(build, "BATCH_DOCUMENTS", 1)
    assert db.refresh(data, force=True)
    assert (_rows(data, VIEWS + ["document_sources", "rejects"]), _search(data), db.query(data, index)[1]) == whole
    assert whole[2][0][0] > 0
    monkeypatch.setattr(build, "BATCH_DOCUMENTS", 20_000)
    monkeypatch.setattr(build, "INDEX_WORDS", 5_000)  # tens of ranges
    monkeypatch.setenv("FRUS_DUCKDB_THREADS", "2")
    assert db.refresh(data, force=True)
    assert (_rows(data, VIEWS + ["document_sources", "rejects"]), _search(data), db.query(data, index)[1]) == whole


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_lake_dedupe_equals_batch_dedupe(tmp_path: Path, volumes_dir: Path, corpus: Path):
    """Clusters committed run by run (matching each run's documents against the stored
    signatures) are the clusters of find_duplicates over all documents at once."""
    names = ["frus1901China.xml", "frus1873p2v3.xml", "frus1901.xml"]  # near duplicates within and across
    data = tmp_path / "data"
    for i, name in enumerate(names):  # one volume a run: each run matches against the earlier ones
        _copy(volumes_dir, [name], tmp_path / "src")
        run_ingest(source=str(tmp_path / "src"), data_dir=str(data), workers=1)
    shutil.copy2(corpus / "frus" / "excerpts" / "frus1938v03-d83.xml", tmp_path / "src")
    shutil.copy2(corpus / "seed" / "000_06e3c999c372cd2d.txt", tmp_path / "src")
    run_ingest(source=str(tmp_path / "src"), data_dir=str(data), workers=1)
    cols, rows = db.query(data, "SELECT v.doc_key, v.format, v.reviewed, v.text, v.file_number, v.date_min, "
                                "v.sender, epoch_us(v.item_ingested_at), v.recipient FROM document_versions v")
    batch = find_duplicates([DedupeDoc(r[0], r[1], bool(r[1] == "tei" and r[2]), r[3] or "", r[4], r[5], r[6],
                                       r[7], r[8]) for r in rows])
    lake = db.query(data, "SELECT cluster_id, doc_key, canonical_key, method, similarity FROM duplicates "
                          "ORDER BY cluster_id, doc_key")[1]
    assert lake == [tuple(r) for r in batch]
    assert len(lake) >= 10 and {r[3] for r in lake} == {"near", "cross-source"}
    volumes = {frozenset(k.split("/")[0] for c, k, *_ in lake if c == cid) for cid, *_ in lake}
    assert frozenset({"frus1901China", "frus1901"}) in volumes  # a link across two runs' volumes


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_dedupe_in_processes_equals_dedupe_here(tmp_path: Path, volumes_dir: Path, corpus: Path, monkeypatch):
    """A big run verifies its near candidates and makes its clusters in processes of their own,
    a part at a time: the same links and clusters as one process makes."""
    from tasks.lake import apart, components, dedupe as lake_dedupe

    src = _copy(volumes_dir, ["frus1901China.xml", "frus1873p2v3.xml", "frus1901.xml"], tmp_path / "src")
    shutil.copy2(corpus / "frus" / "excerpts" / "frus1938v03-d83.xml", src)
    shutil.copy2(corpus / "seed" / "000_06e3c999c372cd2d.txt", src)
    pools = []
    monkeypatch.setattr(apart, "process_pool", lambda n, real=apart.process_pool: pools.append(n) or real(n))
    monkeypatch.setattr(lake_dedupe, "_cores", lambda: 2)  # (whatever this machine has)
    monkeypatch.delenv("FRUS_APART_FROM_DOCUMENTS", raising=False)  # (the dedupe in this process)
    got = []
    for pool in (False, True):  # here with the defaults; then in processes, in many small parts
        if pool:
            monkeypatch.setattr(lake_dedupe, "POOL_FROM", 0)
            monkeypatch.setattr(lake_dedupe, "VERIFY_KEYS", 8)
            monkeypatch.setattr(components, "BATCH", 5)
        data = tmp_path / f"data-{pool}"
        run_ingest(source=str(src), data_dir=str(data), workers=1)
        with Lake(data).connect(read_only=True) as con:
            got.append([con.execute(f"SELECT * EXCLUDE (run_id) FROM lake.{t} ORDER BY ALL").fetchall()
                        for t in ("links", "duplicates")])
    assert pools == [2]  # (the second run's)
    assert got[0] == got[1]
    links, duplicates = got[0]
    assert {r[2] for r in links} >= {"near", "cross-source"} and len(duplicates) >= 10


STATE = ("SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM parts), "
         "(SELECT count(*) FROM footnotes), (SELECT count(*) FROM mentions('Nicaragua')), "
         "(SELECT count(*) FROM volumes)")
READER = f"""
import os, sys
from warehouse import build, db
path, stop = sys.argv[1], sys.argv[2]
seen, n = set(), 0
while not os.path.exists(stop) or n < 3:
    with db.connect(path, read_only=True) as con:  # a new connection: the newest file
        seen.add(con.execute({STATE!r}).fetchone())
    n += 1
print(sorted(seen), n)
"""


def _state(data: Path) -> tuple:
    with db.connect(db.warehouse_path(data), read_only=True) as con:
        return con.execute(STATE).fetchone()


def _data_files(data: Path) -> dict[str, list[tuple]]:
    """The current data files of the lake's item tables: (name, relative, partition value)."""
    with Lake(data).connect(read_only=True) as con:
        rows = con.execute("""
            SELECT t.table_name, f.path, f.path_is_relative, v.partition_value
            FROM __ducklake_metadata_lake.ducklake_data_file f
            JOIN __ducklake_metadata_lake.ducklake_table t ON t.table_id = f.table_id AND t.end_snapshot IS NULL
            LEFT JOIN __ducklake_metadata_lake.ducklake_file_partition_value v USING (data_file_id)
            WHERE f.end_snapshot IS NULL AND t.table_name IN ('documents', 'parts', 'footnotes')
            ORDER BY ALL""").fetchall()
    out: dict[str, list[tuple]] = {}
    for table, path, relative, partition in rows:
        out.setdefault(table, []).append((path.rsplit("/", 1)[1], relative, partition))
    return out


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_a_lake_in_a_folder_registers_its_staged_files(tmp_path: Path, volumes_dir: Path, corpus: Path,
                                                       monkeypatch):
    """A lake in a folder takes the staged files of its volumes as its data files (linked into
    it and registered, not rewritten; a page text's one document is INSERTed): its rows equal
    those of the INSERT that a lake in a store takes, after a first ingest and after a change;
    the replaced file goes with the housekeeping."""
    from tasks.lake import writes
    from tests.lake.test_team import _lake_rows

    src, placed, written = _copy(volumes_dir, SMALL, tmp_path / "src"), tmp_path / "placed", tmp_path / "written"
    (src / "d83.txt").write_bytes((corpus / "seed" / "000_06e3c999c372cd2d.txt").read_bytes())

    def both() -> None:
        run_ingest(source=str(src), data_dir=str(placed), workers=1)
        with monkeypatch.context() as m:
            m.setattr(writes, "_placed", lambda *args: {})  # (the INSERT of a lake in a store)
            run_ingest(source=str(src), data_dir=str(written), workers=1)
        assert _lake_rows(placed) == _lake_rows(written)
        assert _rows(placed) == _rows(written)
        assert not any((placed / "lake" / "staging").iterdir())  # (cleared: the lake's links remain)

    both()
    files = _data_files(placed)
    volumes = sorted(name.removesuffix(".xml") for name in SMALL)
    for table in writes.PLACED_TABLES:
        staged = [(relative, partition) for name, relative, partition in files[table] if name.startswith("staged-")]
        assert staged == [(True, v) for v in volumes]
        assert not any(name.startswith("staged-") for name, _, _ in _data_files(written)[table])
    with Lake(placed).connect(read_only=True) as con:  # the page: INSERTed (its one row kept in the catalog)
        assert con.execute("SELECT count(*) FROM lake.documents WHERE source_uri LIKE '%/d83.txt'").fetchone() == (1,)
    path = src / SMALL[1]
    xml = path.read_text()
    at = xml.index("</p>", xml.index('type="document"'))
    path.write_text(xml[:at] + " Zanzibarite amendment." + xml[at:])
    both()
    assert db.query(placed, "SELECT count(*) FROM mentions('Zanzibarite amendment')")[1] == [(1,)]
    old = {name for name, _, _ in files["documents"]} - {name for name, _, _ in _data_files(placed)["documents"]}
    assert len(old) == 1
    (on_disk,) = (placed / "lake" / "data" / "main" / "documents").rglob(old.pop())
    Lake(placed).maintain(keep="0 seconds")
    assert not on_disk.exists()
    assert _rows(placed) == _rows(written)


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_readers_see_no_error_and_no_mixed_state(tmp_path: Path, volumes_dir: Path):
    src, data = _copy(volumes_dir, SMALL[:1], tmp_path / "src"), tmp_path / "data"
    run_ingest(source=str(src), data_dir=str(data), workers=1)
    before = _state(data)
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(db.warehouse_path(data)), str(stop)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _copy(volumes_dir, SMALL[1:], src)
    run_ingest(source=str(src), data_dir=str(data), workers=1)
    stop.touch()
    out, err = reader.communicate(timeout=300)
    assert reader.returncode == 0, err
    states, reads = eval(out.strip().rsplit(" ", 1)[0]), int(out.split()[-1])  # noqa: S307 (our reader's)
    after = _state(data)
    assert after[0] > before[0] and reads >= 3
    assert set(states) <= {before, after}, (states, before, after)  # each read: before or after


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_postgres_catalog(tmp_path: Path, volumes_dir: Path, postgres_server):
    """For teams: the catalog in PostgreSQL (a real server on 127.0.0.1), data on a shared folder."""
    src, data, shared = _copy(volumes_dir, SMALL, tmp_path / "src"), tmp_path / "data", tmp_path / "shared"
    url = postgres_server.url("frus")
    assert cli.main(["ingest", "--source", str(src), "--data", str(data), "--catalog", url,
                     "--lake-data", str(shared) + "/", "--workers", "1"]) == 0
    assert any(shared.rglob("*.parquet")) and not (data / "lake" / "catalog.sqlite").exists()
    assert db.query(data, "SELECT count(*) FROM document_versions")[1] == [(161,)]
    again = run_ingest(source=str(src), data_dir=str(data), workers=1)  # the data root remembers
    assert again["items_unchanged"] == 2
    assert Lake(data).catalog == url
    local = tmp_path / "local"
    run_ingest(source=str(src), data_dir=str(local), workers=1)
    assert _rows(data) == _rows(local)


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_a_killed_update_leaves_the_old_warehouse_and_its_leftovers_go(tmp_path: Path, volumes_dir: Path):
    """What a SIGKILL during a warehouse update leaves (its copy and WAL beside the file, the
    lake committed ahead): readers keep the old warehouse; the next run sweeps the leftovers
    and brings the warehouse to the lake."""
    src, data = _copy(volumes_dir, SMALL[:1], tmp_path / "src"), tmp_path / "data"
    run_ingest(source=str(src), data_dir=str(data), workers=1)
    before = _state(data)
    _copy(volumes_dir, SMALL[1:], src)
    shutil.copyfile(db.warehouse_path(data), data / ".warehouse.duckdb.999999.tmp")  # the killed copy
    (data / ".warehouse.duckdb.999999.tmp.wal").write_bytes(b"\0" * 4096)
    original = db.refresh_apart
    try:  # the commit happens, the update is "killed" before it renames anything
        db.refresh_apart = lambda *a, **k: False
        run_ingest(source=str(src), data_dir=str(data), workers=1)
    finally:
        db.refresh_apart = original
    assert _state(data) == before and not db.is_current(data)
    again = run_ingest(source=str(src), data_dir=str(data), workers=1)
    assert again["items_unchanged"] == 2
    assert db.is_current(data) and _state(data)[0] > before[0]
    assert not list(data.glob(".warehouse.duckdb.*"))


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_warehouse_generations_take_turns_and_spare_readers(tmp_path: Path, volumes_dir: Path):
    """warehouse.duckdb links to the newest of two generations (a whole build leaves a copy of
    itself as the other); an update brings the older one up to date (two runs of changes),
    unless a reader holds it: then it copies the newest."""
    src, data = _copy(volumes_dir, SMALL[:1], tmp_path / "src"), tmp_path / "data"
    run_ingest(source=str(src), data_dir=str(data), workers=1)
    link = db.warehouse_path(data)
    first = link.resolve()
    assert link.is_symlink() and first.parent.name == ".warehouse"
    spare, = [p for p in (data / ".warehouse").glob("*.duckdb") if p != first]  # a whole build's copy
    assert db._meta(spare) == db._meta(first)
    _copy(volumes_dir, SMALL[1:], src)
    run_ingest(source=str(src), data_dir=str(data), workers=1)
    second = link.resolve()
    assert not spare.exists()  # the update took the spare: it copied nothing
    assert second != first and first.exists()  # the older generation stays, as the next spare
    with db.connect(first, read_only=True) as reader:  # a reader still on the first generation
        path = src / SMALL[1]
        xml = path.read_text()
        at = xml.index("</p>", xml.index('type="document"'))
        path.write_text(xml[:at] + " Zanzibarite amendment." + xml[at:])
        run_ingest(source=str(src), data_dir=str(data), workers=1)  # cannot take it: copies the newest
        assert reader.execute("SELECT count(*) FROM mentions('Zanzibarite amendment')").fetchone() == (0,)
    third = link.resolve()
    assert third not in (first, second) and not first.exists()
    (src / SMALL[0]).unlink()
    run_ingest(source=str(src), data_dir=str(data), workers=1)  # takes the second: two runs behind
    assert link.resolve() not in (second, third) and not second.exists()
    assert sorted(p.name for p in (data / ".warehouse").iterdir()) == sorted(
        [third.name, link.resolve().name])
    incremental = _rows(data, VIEWS + ["document_sources", "rejects", "lake_items"])
    assert db.query(data, "SELECT count(*) FROM mentions('Zanzibarite amendment')")[1] == [(1,)]
    assert db.refresh(data, force=True)
    assert _rows(data, VIEWS + ["document_sources", "rejects", "lake_items"]) == incremental


@pytest.mark.slow  # spills 200 MB
def test_connections_spill_into_folders_of_their_own(tmp_path: Path):
    """Beyond its memory limit a connection spills into DATA/.duckdb-tmp/<pid>-<random>/ (two
    processes sharing one folder overwrote each other's files), removed when it closes."""
    from tasks.lake import duck

    data = tmp_path / "data"
    data.mkdir()
    first, second = duck.spill_dir(data), duck.spill_dir(data)
    assert first != second and first.parent == second.parent == data / duck.SPILL
    with duck.connect(memory_limit="64MB", threads=1, temp_directory=first) as con:
        con.execute("CREATE TEMP TABLE t AS SELECT x, md5(x::VARCHAR) AS h FROM range(3000000) r(x)")
        assert con.execute("SELECT count(DISTINCT h) FROM t").fetchone()[0] == 3000000
        assert first.is_dir() and any(first.iterdir())  # (200 MB of it could not stay in 64 MB)
    assert not first.exists()
