"""Issue 8: `frus sql` (and `frus search`, `frus status`) is read-only for real.

On a warehouse built by a real ingest (one small volume), every statement that could write,
change a setting or reach a file is refused with one line, and none of them creates a file:
not in the data root, not in a tmp folder, not in /tmp. Files beyond the warehouse and the
runs file its `runs` view reads are unreadable, /etc/passwd above all; reading still works:
SELECT, WITH, EXPLAIN ANALYZE of a SELECT, the macros, `--as-of`, `frus status`, `frus shell`.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows import cli
from flows.ingest import run_ingest
from warehouse import db

VOLUME = "frus1894Nicaragua.xml"  # 138 documents
PASSWD = Path("/etc/passwd")
SECRET = "root:"  # the first line of /etc/passwd; must never reach an answer
TOKEN = f"frus-redteam-{secrets.token_hex(4)}"  # names of files the attempts aim at in /tmp
TMP = Path(tempfile.gettempdir())


@pytest.fixture(scope="module")
def data(tmp_path_factory, volumes_dir: Path) -> Path:
    """A data root with one ingested volume: its lake, warehouse and runs file."""
    root = tmp_path_factory.mktemp("sql-readonly")
    (root / "src").mkdir()
    shutil.copy2(volumes_dir / VOLUME, root / "src" / VOLUME)
    summary = run_ingest(source=str(root / "src"), data_dir=str(root / "data"), workers=1)
    assert summary["status"] == "completed", summary
    return root / "data"


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    """A folder outside the data root, with a Parquet file of its own."""
    folder = tmp_path_factory.mktemp("outside")
    pq.write_table(pa.table({"secret": ["outside"]}), folder / "outside.parquet")
    return folder


def _listing(*roots: Path) -> list[str]:
    """Every path under ``roots`` (symlinks not followed), with its size."""
    found = []
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                path = Path(folder, name)
                found.append(f"{path} {path.lstat().st_size if path.is_file() else ''}")
    return sorted(found)


@pytest.fixture
def nothing_written(data: Path, out: Path):
    """Nothing appears or changes in the data root, the outside folder, or /tmp (our names)."""
    before = _listing(data, out)
    catalog = (data / "lake" / "catalog.json").read_bytes()
    yield
    assert _listing(data, out) == before
    assert (data / "lake" / "catalog.json").read_bytes() == catalog
    assert list(TMP.glob(f"{TOKEN}*")) == []
    assert not Path(f"{TOKEN}.csv").exists()  # in the working directory


def _sql(capsys, data: Path, sql: str, *options: str) -> tuple[int, str, str]:
    code = cli.main(["sql", sql, "--data", str(data), *options])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _writes(data: Path, out: Path) -> list[tuple[str, str]]:
    """(statement, what its refusal says): every way to write, set, attach or load."""
    lake = data / "lake"
    return [
        (f"COPY (SELECT * FROM documents) TO '{out}/docs.csv' (FORMAT csv)", "COPY statements are refused"),
        (f"COPY documents TO '{TMP}/{TOKEN}.csv'", "COPY statements are refused"),
        (f"COPY (SELECT 1) TO '{TOKEN}.csv'", "COPY statements are refused"),
        ("COPY document_versions FROM '/etc/passwd'", "COPY statements are refused"),
        (f"EXPLAIN ANALYZE COPY (select 'x') TO '{lake}/x' (FORMAT csv)",
         "EXPLAIN ANALYZE COPY statements are refused"),
        (f"  explain /* why not */ Analyze -- a comment\n\tCOPY (SELECT 'x') TO '{lake}/y.csv'",
         "EXPLAIN ANALYZE COPY statements are refused"),
        (f"EXPLAIN (ANALYZE, FORMAT json) COPY (SELECT 1) TO '{out}/z.csv'",
         "EXPLAIN ANALYZE COPY statements are refused"),
        (f"EXPLAIN ANALYSE COPY (SELECT 1) TO '{TMP}/{TOKEN}-e.csv'", "EXPLAIN ANALYZE COPY statements are refused"),
        (f"EXPLAIN COPY (SELECT 1) TO '{out}/e.csv'", "EXPLAIN COPY statements are refused"),
        ("EXPLAIN ANALYZE INSERT INTO document_versions SELECT * FROM document_versions",
         "EXPLAIN ANALYZE INSERT statements are refused"),
        ("EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1", "EXPLAIN ANALYZE CREATE statements are refused"),
        ("EXPLAIN SET threads = 1", "EXPLAIN SET statements are refused"),
        ("EXPLAIN PRAGMA show_tables", "EXPLAIN PRAGMA statements are refused"),
        (f"ATTACH '{out}/a.duckdb' AS a", "ATTACH statements are refused"),
        (f"ATTACH 'ducklake:sqlite:{lake}/catalog.sqlite' AS l (READ_ONLY)", "ATTACH statements are refused"),
        ("ATTACH ':memory:' AS m", "ATTACH statements are refused"),
        ("DETACH warehouse", "DETACH statements are refused"),
        ("INSTALL httpfs", "INSTALL statements are refused"),
        ("FORCE INSTALL httpfs", "FORCE statements are refused"),
        ("LOAD httpfs", "LOAD statements are refused"),
        ("SET enable_external_access = true", "SET statements are refused"),
        ("SET allowed_directories = ['/etc']", "SET statements are refused"),
        ("SET GLOBAL lock_configuration = false", "SET statements are refused"),
        ("SET VARIABLE x = 1", "SET statements are refused"),
        ("RESET lock_configuration", "RESET statements are refused"),
        ("PRAGMA show_tables", "PRAGMA statements are refused"),
        ("PRAGMA enable_profiling = 'json'", "PRAGMA statements are refused"),
        ("PRAGMA threads = 1", "PRAGMA statements are refused"),
        ("CALL duckdb_settings()", "CALL statements are refused"),
        (f"EXPORT DATABASE '{out}/export'", "EXPORT statements are refused"),
        (f"IMPORT DATABASE '{out}'", "IMPORT statements are refused"),
        ("CREATE TABLE t (x INT)", "CREATE statements are refused"),
        ("CREATE TEMP TABLE t AS SELECT * FROM documents", "CREATE statements are refused"),
        ("CREATE OR REPLACE VIEW documents AS SELECT 1 AS x", "CREATE statements are refused"),
        ("CREATE MACRO mentions(p) AS TABLE SELECT 1", "CREATE statements are refused"),
        ("CREATE SECRET s (TYPE s3)", "CREATE statements are refused"),
        ("DROP VIEW documents", "DROP statements are refused"),
        ("ALTER TABLE document_versions ADD COLUMN x INT", "ALTER statements are refused"),
        ("INSERT INTO document_versions SELECT * FROM document_versions", "INSERT statements are refused"),
        ("WITH d AS (SELECT * FROM document_versions) INSERT INTO document_versions SELECT * FROM d",
         "INSERT statements are refused"),
        ("UPDATE document_versions SET title = 'x'", "UPDATE statements are refused"),
        ("DELETE FROM document_versions", "DELETE statements are refused"),
        ("TRUNCATE document_versions", "TRUNCATE statements are refused"),
        ("USE memory", "USE statements are refused"),
        ("CHECKPOINT", "CHECKPOINT statements are refused"),
        ("VACUUM", "VACUUM statements are refused"),
        ("BEGIN TRANSACTION", "BEGIN statements are refused"),
        ("PREPARE p AS SELECT 1", "PREPARE statements are refused"),
        ("UPDATE EXTENSIONS", "UPDATE statements are refused"),
        (f"SELECT 1; COPY (SELECT 1) TO '{out}/m.csv'", "one statement at a time (2 given"),
        (f"SELECT 1 /* ; */; -- two\n IMPORT DATABASE '{out}'", "one statement at a time (2 given"),
        ("PIVOT document_versions ON format USING count(*)", "give PIVOT an IN list"),
        ("  ;  -- nothing", "empty query"),
    ]


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_every_write_is_refused_in_one_line(data: Path, out: Path, capsys, nothing_written):
    for sql, refusal in _writes(data, out):
        code, stdout, stderr = _sql(capsys, data, sql)
        assert code == 1, sql
        assert refusal in stderr, (sql, stderr)
        assert stderr.count("\n") == 1 and stderr.startswith("frus: error: "), (sql, stderr)
        assert stdout == "", sql
        with pytest.raises(ValueError, match="^(read-only: |empty query)") as refused:
            db.query(data, sql)
        assert "\n" not in str(refused.value), sql
    with pytest.raises(ValueError, match=r"allowed: one SELECT, FROM, WITH.*or EXPLAIN \[ANALYZE\] of one\)$"):
        db.query(data, "COPY documents TO 'x.csv'")


def _reads(data: Path, out: Path) -> list[str]:
    """Statements that read a file beyond the warehouse and its runs file."""
    lake = data / "lake"
    data_file = next((lake / "data").rglob("*.parquet"))  # inside the data root, yet not the views'
    return [
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_csv('/etc/passwd', sep = ':', header = false)",
        "SELECT * FROM read_csv_auto('/etc/passwd')",
        "SELECT content FROM read_blob('/etc/passwd')",
        "SELECT * FROM read_json('/etc/passwd')",
        "SELECT * FROM read_json_objects('/etc/passwd')",
        "SELECT * FROM sniff_csv('/etc/passwd')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM glob('/etc/passw?')",
        f"SELECT * FROM glob('{lake}/*')",
        f"SELECT * FROM read_parquet('{out}/outside.parquet')",
        f"SELECT * FROM parquet_metadata('{out}/outside.parquet')",
        f"SELECT * FROM read_parquet('{data_file}')",
        f"SELECT * FROM read_text('{lake}/catalog.json')",
        f"SELECT * FROM read_blob('{lake}/catalog.sqlite')",
        f"SELECT * FROM read_text('{data}/../src/{VOLUME}')",
        "SELECT * FROM query('SELECT * FROM read_text(''/etc/passwd'')')",
        "WITH p AS (SELECT * FROM read_text('/etc/passwd')) SELECT * FROM p",
        "EXPLAIN ANALYZE SELECT * FROM read_text('/etc/passwd')",
        "DESCRIBE SELECT * FROM read_csv('/etc/passwd')",
        "SUMMARIZE SELECT * FROM read_csv('/etc/passwd')",
    ]


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_no_file_beyond_the_warehouse_is_readable(data: Path, out: Path, capsys, nothing_written):
    for sql in _reads(data, out):
        code, stdout, stderr = _sql(capsys, data, sql, "--format", "json")
        assert code == 1, (sql, stdout)
        assert SECRET not in stdout and SECRET not in stderr and "outside" not in stdout, sql
        assert "disabled by configuration" in stderr and stderr.count("\n") == 1, (sql, stderr)
        with pytest.raises(ValueError, match="^read-only: Permission Error"):
            db.query(data, sql)
    # a bare path is a table name, not a file
    code, stdout, stderr = _sql(capsys, data, "FROM '/etc/passwd'")
    assert code == 1 and SECRET not in stdout + stderr


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_side_doors_write_nothing(data: Path, out: Path, capsys, nothing_written):
    """Table functions that change a setting from a SELECT: the file system stays shut."""
    for sql in [f"SELECT * FROM enable_profiling(format := 'json', save_location := '{out}/p.json')",
                f"SELECT * FROM enable_logging(storage := 'file', storage_path := '{out}/logs')",
                f"SELECT * FROM enable_logging(storage := 'file', storage_path := '{TMP}/{TOKEN}-logs')",
                "SELECT write_log('hello', level := 'error')",
                "SELECT * FROM checkpoint()",
                "SELECT * FROM force_checkpoint()"]:
        cli.main(["sql", sql, "--data", str(data)])
        captured = capsys.readouterr()
        assert SECRET not in captured.out + captured.err, sql


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_reading_works(data: Path, capsys, nothing_written):
    assert db.query(data, "SELECT count(*) FROM runs")[1] == [(1,)]
    assert db.query(data, "SELECT count(*) FROM documents")[1] == [(138,)]
    assert db.query(data, "WITH v AS (SELECT volume_id FROM documents) "
                          "SELECT volume_id, count(*) FROM v GROUP BY ALL")[1] == [("frus1894Nicaragua", 138)]
    assert db.query(data, "FROM documents SELECT count(*)")[1] == [(138,)]
    assert db.query(data, "(SELECT 1) UNION ALL (VALUES (2)) ORDER BY 1")[1] == [(1,), (2,)]
    assert db.query(data, "PIVOT (SELECT format FROM documents) ON format IN ('tei') USING count(*)")[1] == [(138,)]
    hits = db.query(data, "SELECT doc_key FROM mentions('Bluefields')")[1]
    assert hits and all(k.startswith("frus1894Nicaragua/") for (k,) in hits)
    assert db.query(data, "SELECT count(*) FROM search_documents('Bluefields')")[1][0][0] == len(hits)
    assert db.query(data, "SELECT doc_key FROM mentions(?, include_notes := ?)", ["Bluefields", True])[1]
    settings = dict(db.query(data, "SELECT name, value FROM duckdb_settings()")[1])
    assert settings["enable_external_access"] == "false" and settings["lock_configuration"] == "true"
    assert db.query(data, "SELECT current_setting('enable_external_access')")[1] == [(False,)]
    assert db.query(data, "SELECT current_setting('lock_configuration')")[1] == [(True,)]
    allowed = db.query(data, "SELECT unnest(current_setting('allowed_paths'))")[1]
    assert (str(data.resolve() / "lake" / "runs.parquet"),) in allowed
    assert not [p for (p,) in allowed if "catalog" in p or p.startswith("/etc")]
    for sql in ["DESCRIBE documents", "SHOW TABLES", "SUMMARIZE runs", "TABLE runs",
                "EXPLAIN SELECT count(*) FROM documents",
                "EXPLAIN /* plan */ analyze -- and run\n SELECT count(*) FROM mentions('Bluefields')",
                "EXPLAIN (FORMAT json) SELECT 1", "SELECT 42; -- a trailing comment"]:
        assert db.query(data, sql)[1], sql
    # the CLI's entry points on the same path
    code, stdout, stderr = _sql(capsys, data, "SELECT count(*) AS n FROM runs", "--format", "json")
    assert code == 0 and json.loads(stdout) == [{"n": 1}], stderr
    with_notes = db.query(data, "SELECT doc_key FROM mentions('Bluefields', include_notes := true)")[1]
    assert cli.main(["search", "Bluefields", "--phrase", "--limit", "1000", "--data", str(data),
                     "--format", "json"]) == 0
    assert {r["doc_key"] for r in json.loads(capsys.readouterr().out)["hits"]} == {k for (k,) in with_notes}
    assert cli.main(["search", "Bluefields", "--notes", "--limit", "1", "--data", str(data)]) == 0
    assert "(1 hits)" in capsys.readouterr().out
    assert cli.main(["status", "--data", str(data)]) == 0
    status = capsys.readouterr().out
    assert "last runs:" in status and "completed" in status


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_as_of_goes_through_the_same_guard(data: Path, out: Path, capsys):
    (run_id,) = db.query(data, "SELECT run_id FROM runs")[1][0]
    code, stdout, stderr = _sql(capsys, data, "SELECT count(*) AS n FROM documents", "--as-of", run_id,
                                "--format", "json")
    assert code == 0 and json.loads(stdout) == [{"n": 138}], stderr
    built = _listing(data, out)  # the as-of warehouse is built once; nothing more after it
    assert db.query(data, "SELECT current_setting('enable_external_access')", as_of_run=run_id)[1] == [(False,)]
    assert db.query(data, "SELECT count(*) FROM runs", as_of_run=run_id)[1] == [(1,)]
    for sql in [f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{out}/asof.csv'", "SELECT * FROM read_text('/etc/passwd')"]:
        code, stdout, stderr = _sql(capsys, data, sql, "--as-of", run_id)
        assert code == 1 and "read-only: " in stderr and stderr.count("\n") == 1, stderr
        assert SECRET not in stdout + stderr
    assert _listing(data, out) == built


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_other_connections_keep_their_settings(data: Path, out: Path):
    """The guard is a connection of its own, not the process's cached instance of the file."""
    with db.connect(db.warehouse_path(data), read_only=True) as other:
        assert db.query(data, "SELECT count(*) FROM documents")[1] == [(138,)]
        assert other.execute("SELECT current_setting('enable_external_access')").fetchone() == (True,)
        assert other.execute(f"SELECT count(*) FROM read_parquet('{out}/outside.parquet')").fetchone() == (1,)


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_shell_is_read_only_in_safe_mode(data: Path, out: Path, nothing_written):
    script = "\n".join([
        "SELECT count(*) AS n_runs FROM runs;",
        "SELECT count(*) AS n_mentions FROM mentions('Bluefields');",
        "SELECT current_setting('enable_external_access') AS ext, current_setting('lock_configuration') AS locked;",
        "SELECT * FROM read_text('/etc/passwd');",
        f"SELECT * FROM read_text('{data}/lake/catalog.json');",
        f"COPY (SELECT 1) TO '{out}/shell.csv';",
        f"ATTACH '{out}/shell.duckdb';",
        "SET enable_external_access = true;",
        "CREATE TABLE t (x INT);",
        f".shell touch {out}/shell-ran",
        f".output {out}/shell-output.txt",
        ".read /etc/passwd",
        "SELECT 'still here' AS last;",
    ]) + "\n"
    run = subprocess.run([sys.executable, "-m", "flows.cli", "shell", "--data", str(data)], input=script,
                         capture_output=True, text=True, timeout=120)
    assert "n_runs" in run.stdout and "still here" in run.stdout, run
    assert "│ false   │ true    │" in run.stdout, run.stdout
    assert SECRET not in run.stdout + run.stderr
    assert run.stderr.count("disabled by configuration") == 4, run.stderr  # 2 reads, COPY, ATTACH
    assert "the configuration has been locked" in run.stderr and "read-only mode" in run.stderr
    assert "cannot be used in -safe mode" in run.stderr


def test_help_says_what_is_allowed():
    parser = cli._parser()
    commands = parser._subparsers._group_actions[0].choices
    assert "EXPLAIN [ANALYZE]" in commands["sql"].description and "refused" in commands["sql"].description
    assert "safe mode" in commands["shell"].description and ".shell" in commands["shell"].description
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "allowed_paths" in readme and ".safe_mode" in readme
