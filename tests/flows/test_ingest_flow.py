"""The ingest flow end to end on real volumes: lake, commits, idempotence, warehouse, CLI."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from flows import cli
from flows.ingest import ingest, run_ingest
from tasks.lake.catalog import Lake
from tasks.lake.writes import PLACE_FROM_DOCUMENTS
from warehouse import db

SMALL = ["frus1894Nicaragua.xml", "frus1873p2v3.xml"]
TABLES = ["volumes", "documents", "parts", "footnotes", "rejects"]


def _copy(volumes_dir: Path, names: list[str], dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy2(volumes_dir / name, dest / name)
    return dest


def _snapshot(data: Path) -> dict[str, list]:
    """Every row of every table, sorted: what an analyst could see."""
    with db.connect(db.warehouse_path(data), read_only=True) as con:
        return {t: sorted(map(repr, con.execute(f"SELECT * FROM {t}").fetchall())) for t in TABLES}


@pytest.fixture
def corpus_data(corpus_lake: Path) -> Path:
    """The whole shared corpus ingested once (conftest's corpus_lake: volumes, excerpts, the
    seed page text of d83 and the authority lists)."""
    return corpus_lake


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_corpus_documents_and_mentions(corpus_data: Path, capsys):
    with db.connect(db.warehouse_path(corpus_data), read_only=True) as con:
        # the 7,232 TEI documents, and the seed's page text of d83 (a duplicate of its TEI)
        assert dict(con.execute("SELECT format, count(*) FROM document_versions GROUP BY ALL").fetchall()) == {
            "tei": 7232, "hsg-text": 1}
        assert con.execute("SELECT count(DISTINCT doc_key) FROM document_versions").fetchone()[0] == 7233
        members = con.execute("SELECT count(*) FROM duplicates WHERE doc_key <> canonical_key").fetchone()[0]
        assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == 7233 - members
        keys = [r[0] for r in con.execute("SELECT doc_key FROM mentions('Outer Mongolia')").fetchall()]
        # independent check: TEI documents whose title or body hold the phrase, by Python
        expected = sorted(
            k for k, title, text in con.execute(
                "SELECT doc_key, title, text FROM document_versions WHERE format = 'tei'").fetchall()
            if "outer mongolia" in " ".join(f"{title or ''} {text}".split()).lower()
        )
    assert sorted(keys) == expected == ["frus1919Parisv01/d37", "frus1938v03/d83"]
    assert cli.main(["search", "Outer Mongolia", "--phrase", "--data", str(corpus_data), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["hits"]
    assert sorted(r["doc_key"] for r in rows) == expected
    assert all(r["snippet"] and "mongolia" in r["snippet"].lower() for r in rows)


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_mentions_spans_white_space_and_notes(corpus_data: Path):
    with db.connect(db.warehouse_path(corpus_data), read_only=True) as con:
        # d83: "Outer\n Mongolia" split over lines in the TEI, and case-insensitive
        row = con.execute("SELECT hits, snippet FROM mentions('OUTER    mongolia') "
                          "WHERE doc_key = 'frus1938v03/d83'").fetchone()
        assert row[0] == 2
        plain = {r[0] for r in con.execute("SELECT doc_key FROM mentions('Legislative Yuan')").fetchall()}
        with_notes = {r[0] for r in con.execute(
            "SELECT doc_key FROM mentions('Legislative Yuan', include_notes := true)").fetchall()}
    assert "frus1938v03/d83" not in plain  # only in footnote 7
    assert "frus1938v03/d83" in with_notes


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_lake_layout_and_lineage(corpus_data: Path):
    with Lake(corpus_data).connect(read_only=True) as con:
        files = [Path(r[0]) for r in con.execute(
            "SELECT data_file FROM ducklake_list_files('lake', 'documents')").fetchall()]
        # 19 volumes, two one-document excerpts, the seed page text (the lists hold no document)
        assert con.execute("SELECT count(DISTINCT source_uri) FROM lake.documents").fetchone()[0] == 22
        volumes = con.execute("SELECT count(*) FROM lake.items WHERE documents >= ?",
                              [PLACE_FROM_DOCUMENTS]).fetchone()[0]
    # one file a volume, its staged file (tasks/lake/writes.py's _placed); the three one-document
    # items were INSERTed, their rows kept in the catalog (DuckLake's data inlining)
    assert len(files) == volumes == 19
    assert len({f.parent.name for f in files}) == volumes
    for f in files:
        assert f.is_relative_to(corpus_data / "lake" / "data") and f.parent.name.startswith("volume_id=")
        assert f.name.startswith("staged-")
        meta = pq.ParquetFile(f).metadata
        assert meta.row_group(0).column(0).compression == "ZSTD"
    with db.connect(db.warehouse_path(corpus_data), read_only=True) as con:
        for t in TABLES:
            nulls = con.execute(f"SELECT count(*) FROM {t} WHERE source_sha256 IS NULL OR run_id IS NULL "
                                "OR parser_version IS NULL").fetchone()[0]
            assert nulls == 0, t
        assert con.execute("SELECT count(*) FROM documents WHERE source_uri IS NULL").fetchone()[0] == 0


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_duckdb_shell_without_python(corpus_data: Path):
    shell = Path(sys.executable).with_name("duckdb")
    out = subprocess.run([str(shell), "-readonly", "-csv", str(db.warehouse_path(corpus_data)), "-c",
                          "SELECT doc_key FROM mentions('Outer Mongolia') ORDER BY doc_key"],
                         capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"})
    assert out.stdout.split() == ["doc_key", "frus1919Parisv01/d37", "frus1938v03/d83"]


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_bm25_index(corpus_data: Path):
    with db.connect(db.warehouse_path(corpus_data), read_only=True) as con:
        top = con.execute("SELECT doc_key FROM search_parts('Outer Mongolia Soviet divisions') LIMIT 3").fetchall()
    assert ("frus1938v03/d83",) in top


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_second_ingest_changes_no_row(tmp_path: Path, volumes_dir: Path):
    src = _copy(volumes_dir, SMALL, tmp_path / "src")
    data = tmp_path / "data"
    first = run_ingest(source=str(src), data_dir=str(data))
    assert first["items_new"] == 2 and first["documents_added"] == 138 + 23
    before, snapshot = _snapshot(data), Lake(data).state().data_snapshot
    mtime = db.warehouse_path(data).stat().st_mtime_ns
    second = run_ingest(source=str(src), data_dir=str(data))
    assert second["items_unchanged"] == 2 and second["items_new"] == 0
    assert _snapshot(data) == before
    assert Lake(data).state().data_snapshot == snapshot  # nothing committed but the run's row
    assert db.warehouse_path(data).stat().st_mtime_ns == mtime  # index not rebuilt
    # a touched but identical file is hashed, found equal, and still changes no row
    os.utime(src / SMALL[0], ns=(time.time_ns(), time.time_ns()))
    third = run_ingest(source=str(src), data_dir=str(data))
    assert third["items_unchanged"] == 2
    assert _snapshot(data) == before


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_bad_file_fails_alone(tmp_path: Path, volumes_dir: Path):
    src = _copy(volumes_dir, SMALL[:1], tmp_path / "src")
    (src / "broken.xml").write_text("<TEI xmlns='http://www.tei-c.org/ns/1.0'><text>")
    (src / "junk.xml").write_text("<html/>")
    data = tmp_path / "data"
    summary = run_ingest(source=str(src), data_dir=str(data))
    assert summary["items_failed"] == 2 and summary["items_new"] == 1
    assert any("broken.xml" in f and "not well-formed" in f for f in summary["failures"])
    with db.connect(db.warehouse_path(data), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == 138

    def failed_rejects() -> list[tuple]:
        return sorted(db.query(data, "SELECT place, run_id FROM rejects WHERE place LIKE '%.xml'")[1])

    first = failed_rejects()
    assert first == [("broken.xml", summary["run_id"]), ("junk.xml", summary["run_id"])]
    # Failing the same way again adds no row and commits nothing.
    snapshot = Lake(data).state().data_snapshot
    again = run_ingest(source=str(src), data_dir=str(data))
    assert again["items_failed"] == 2 and again["status"] == "partial"
    assert failed_rejects() == first and Lake(data).state().data_snapshot == snapshot
    # Mended, or gone from the source: its reject goes too.
    shutil.copy2(volumes_dir / SMALL[1], src / "broken.xml")
    (src / "junk.xml").unlink()
    third = run_ingest(source=str(src), data_dir=str(data))
    assert (third["status"], third["items_failed"], third["items_new"]) == ("completed", 0, 1)
    assert failed_rejects() == []
    with Lake(data).connect(read_only=True) as con:  # Nicaragua's own rejects stay in the lake
        assert con.execute("SELECT count(*) FROM lake.rejects").fetchone()[0] == 2


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_readers_during_refresh(tmp_path: Path, volumes_dir: Path):
    """A read-only connection stays usable while another process reads and the warehouse is rebuilt."""
    src = _copy(volumes_dir, SMALL[:1], tmp_path / "src")
    data = tmp_path / "data"
    run_ingest(source=str(src), data_dir=str(data))
    path = db.warehouse_path(data)
    with db.connect(path, read_only=True) as reader:
        n = reader.execute("SELECT count(*) FROM documents").fetchone()[0]
        other = subprocess.run(
            [sys.executable, "-c", "import sys; from warehouse import db; "
             "c = db.connect(sys.argv[1], read_only=True); "
             "print(c.execute('SELECT count(*) FROM parts').fetchone()[0])", str(path)],
            capture_output=True, text=True, check=True)
        assert int(other.stdout) > n
        assert db.refresh(data, force=True)  # rebuilt beside, renamed into place
        assert reader.execute("SELECT count(*) FROM documents").fetchone()[0] == n
    assert not db.refresh(data)  # unchanged lake: no rebuild


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_cli_errors_are_clear(tmp_path: Path, capsys):
    assert cli.main(["search", "x", "--data", str(tmp_path / "nothing")]) == 1
    assert "no warehouse" in capsys.readouterr().err
    assert cli.main(["ingest", "--source", str(tmp_path / "missing"), "--data", str(tmp_path)]) == 1
    assert "source not found" in capsys.readouterr().err
    assert cli.main(["ingest", "--source", "git", "--mirror", str(tmp_path / "no-mirror"),
                     "--data", str(tmp_path)]) == 1
    assert f"source not found: {tmp_path / 'no-mirror'}" in capsys.readouterr().err


def test_every_command_is_documented():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name in cli._parser()._subparsers._group_actions[0].choices:
        assert f"frus {name}" in readme, name


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_sql_is_parameterised_and_read_only(corpus_data: Path, capsys):
    assert cli.main(["sql", "SELECT count(*) AS n FROM volumes", "--data", str(corpus_data),
                     "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 21}]
    assert cli.main(["sql", "DROP VIEW documents", "--data", str(corpus_data)]) == 1
    assert "read-only" in capsys.readouterr().err.lower()
    # nothing written anywhere: no COPY, ATTACH, EXPORT, SET; one statement at a time
    target = corpus_data / "lake" / "catalog.json"
    manifest = target.read_bytes()
    for sql, error in [(f"COPY (SELECT 1) TO '{target}' (FORMAT csv)", "COPY statements are refused"),
                       (f"ATTACH '{corpus_data / 'other.duckdb'}' AS o", "ATTACH statements are refused"),
                       (f"EXPORT DATABASE '{corpus_data / 'export'}'", "EXPORT statements are refused"),
                       ("SET threads = 1", "SET statements are refused"),
                       ("SELECT 1; SELECT 2", "one statement at a time"), ("  ", "empty query")]:
        assert cli.main(["sql", sql, "--data", str(corpus_data)]) == 1, sql
        assert error in capsys.readouterr().err, sql
    assert target.read_bytes() == manifest
    assert not (corpus_data / "other.duckdb").exists() and not (corpus_data / "export").exists()
    with pytest.raises(duckdb.Error):
        db.connect(db.warehouse_path(corpus_data), read_only=True).execute("CREATE TABLE x(i INT)")


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_frus_shell_is_read_only_with_ranked_search(corpus_data: Path):
    out = subprocess.run(
        [sys.executable, "-m", "flows.cli", "shell", "--data", str(corpus_data)],
        input="SELECT DISTINCT doc_key FROM search_parts('Mongolia') ORDER BY ALL;\n"
              "CREATE TABLE t (x INT);\n", capture_output=True, text=True, timeout=120)
    assert "frus1938v03/d83" in out.stdout and "frus1919Parisv01/d37" in out.stdout, out
    assert "read-only mode" in out.stderr, out.stderr


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_search_refuses_an_empty_phrase(corpus_data: Path, capsys):
    assert cli.main(["search", "  ", "--data", str(corpus_data)]) == 1
    assert "the phrase is empty" in capsys.readouterr().err
    with db.connect(db.warehouse_path(corpus_data), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM mentions('')").fetchone() == (0,)


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_seed_and_tei_are_one_document(tmp_path: Path, corpus: Path):
    """The page text of d83 (no URL) and its TEI: one document, two sources, listed once."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy2(corpus / "frus" / "excerpts" / "frus1938v03-d83.xml", src)
    shutil.copy2(corpus / "seed" / "000_06e3c999c372cd2d.txt", src)
    data = tmp_path / "data"
    assert run_ingest(source=str(src), data_dir=str(data))["items_new"] == 2
    before = _snapshot(data)
    with db.connect(db.warehouse_path(data), read_only=True) as con:
        assert con.execute("SELECT doc_key, format FROM documents").fetchall() == [("frus1938v03/d83", "tei")]
        sources = con.execute("SELECT format, method FROM document_sources WHERE doc_key = 'frus1938v03/d83' "
                              "ORDER BY format").fetchall()
        assert sources == [("hsg-text", "cross-source"), ("tei", "self")]
        assert [r[0] for r in con.execute("SELECT doc_key FROM mentions('Outer Mongolia')").fetchall()] == [
            "frus1938v03/d83"]
    again = run_ingest(source=str(src), data_dir=str(data))
    assert again["items_unchanged"] == 2 and _snapshot(data) == before


def _rows_without_run(data: Path) -> dict[str, list]:
    """Every row of every table, without what names the run (run ids, ingest times) or the
    warehouse's own key of a version (numbered in the order the rows were stored)."""
    out = {}
    with db.connect(db.warehouse_path(data), read_only=True) as con:
        for t in TABLES:
            cols = [c for (c,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND column_name "
                "NOT IN ('run_id', 'item_ingested_at', 'source_uri', 'version_id')", [t]).fetchall()]
            rows = con.execute(f"SELECT {', '.join(cols)} FROM {t}").fetchall()
            out[t] = sorted(map(repr, rows))
    return out


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_worker_processes_and_dask_store_the_same_lake(tmp_path: Path, volumes_dir: Path):
    """Two worker processes (Prefect's process pool) and a Dask cluster store what one
    in-process worker does; a volume that fails in a worker fails alone, with its reason."""
    from distributed import LocalCluster
    from prefect.settings import get_current_settings

    src = _copy(volumes_dir, [*SMALL, "frus1872p2v4.xml"], tmp_path / "src")
    (src / "broken.xml").write_text("<TEI xmlns='http://www.tei-c.org/ns/1.0'><text>")
    one = run_ingest(source=str(src), data_dir=str(tmp_path / "one"), workers=1)
    two = run_ingest(source=str(src), data_dir=str(tmp_path / "two"), workers=2)
    with LocalCluster(n_workers=1, processes=True, host="127.0.0.1", dashboard_address=None,
                      local_directory=str(tmp_path / "dask-scratch"),  # (not /tmp/dask-scratch-space)
                      env={"PREFECT_API_URL": str(get_current_settings().api.url)}) as cluster:
        dask = run_ingest(source=str(src), data_dir=str(tmp_path / "dask"), dask_address=cluster.scheduler_address)
    for summary in (one, two, dask):
        assert (summary["status"], summary["items_new"], summary["items_failed"]) == ("partial", 3, 1)
        assert any("broken.xml" in f and "not well-formed" in f for f in summary["failures"])
    assert two["documents_added"] == one["documents_added"] == dask["documents_added"] == 138 + 23 + 34
    assert _rows_without_run(tmp_path / "two") == _rows_without_run(tmp_path / "one")
    assert _rows_without_run(tmp_path / "dask") == _rows_without_run(tmp_path / "one")


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_copied_data_root_reads_its_own_files(tmp_path: Path, volumes_dir: Path):
    src = _copy(volumes_dir, SMALL[:1], tmp_path / "src")
    run_ingest(source=str(src), data_dir=str(tmp_path / "data"))
    shutil.copytree(tmp_path / "data", tmp_path / "copy", symlinks=True)
    shutil.rmtree(tmp_path / "data")  # the original goes away
    assert not db.is_current(tmp_path / "copy")  # its views name the original's files
    assert cli.main(["refresh", "--data", str(tmp_path / "copy")]) == 0
    assert db.is_current(tmp_path / "copy")
    cols, rows = db.query(tmp_path / "copy", "SELECT count(*) FROM documents")
    assert rows == [(138,)]


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_cli_records_a_relative_source_absolute(tmp_path: Path, volumes_dir: Path, monkeypatch):
    _copy(volumes_dir, SMALL[1:], tmp_path / "src")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["ingest", "--source", "src", "--data", "data"]) == 0
    assert db.query(tmp_path / "data", "SELECT source, status FROM runs")[1] == [
        (str((tmp_path / "src").resolve()), "completed")]


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_arguments_are_checked_before_prefect_starts(tmp_path: Path):
    """`--workers 0`, a missing source: one line and an exit status, no temporary API started."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    frus = str(Path(sys.executable).with_name("frus"))
    for args, code, message in (
            (["--workers", "0"], 2, "must be at least 1, not 0"),
            (["--mirror", str(tmp_path / "nowhere")], 1, f"source not found: {tmp_path / 'nowhere'}")):
        done = subprocess.run([frus, "ingest", "--source", str(tmp_path), "--data", str(tmp_path / "d"), *args],
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == code, done.stderr
        assert message in done.stderr and "temporary server" not in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    version = subprocess.run([frus, "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("frus 0."), version


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_a_selection_that_matches_nothing_is_empty(tmp_path: Path, volumes_dir: Path, capsys):
    src = _copy(volumes_dir, SMALL[:1], tmp_path / "src")
    state = ingest(source=str(src), data_dir=str(tmp_path / "data"), volumes=["frus1999nope"], return_state=True)
    assert (state.type.value, state.name) == ("COMPLETED", "Empty")
    assert state.result()["status"] == "empty" and state.result()["items_seen"] == 0
    assert cli.main(["ingest", "--source", str(src), "--data", str(tmp_path / "data"),
                     "--volumes", "frus1999nope"]) == 3
    assert cli.main(["status", "--data", str(tmp_path / "data")]) == 0  # empty is no failure
    assert "empty" in capsys.readouterr().out


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_a_lake_older_than_the_run_columns_gains_them(tmp_path: Path, volumes_dir: Path):
    """A lake made before runs had flow_run_id, trigger and refresh_seconds: the next run adds
    them (empty for the old rows) and fills its own; finished_at includes the refresh."""
    from tasks.lake import duck

    src, data = _copy(volumes_dir, SMALL[:1], tmp_path / "src"), tmp_path / "data"
    run_ingest(source=str(src), data_dir=str(data))
    lake = Lake(data)
    con = duck.connect(temp_directory=lake.spill_dir())
    try:
        lake.attach(con)
        for column in ("flow_run_id", "trigger", "refresh_seconds"):
            con.execute(f"ALTER TABLE lake.runs DROP COLUMN {column}")
    finally:
        con.close()
    shutil.copy2(volumes_dir / SMALL[1], src)
    summary = run_ingest(source=str(src), data_dir=str(data))
    rows = db.query(data, "SELECT flow_run_id, trigger, refresh_seconds, finished_at - started_at, "
                    "run_id FROM runs ORDER BY started_at")[1]
    assert [r[:3] for r in rows[:1]] == [(None, None, None)]
    flow_run_id, trigger, refresh, took, run_id = rows[1]
    assert (run_id, trigger, flow_run_id) == (summary["run_id"], "manual", summary["flow_run_id"])
    assert 0 < refresh == summary["refresh_seconds"] and took.total_seconds() > refresh
