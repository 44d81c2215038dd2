"""The throwaway PostgreSQL server, and DuckLake on it: a DuckDB 1.5.5 catalog in PostgreSQL,
extensions loaded by path from the pip packages, autoinstall and autoload off."""
from __future__ import annotations

import importlib.resources
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests import postgres_server as pgs
from tests.postgres_server import PostgresServer, postgres_server  # noqa: F401 (the fixture)

CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def extension(package: str, name: str) -> Path:
    root = Path(str(importlib.resources.files(f"duckdb_extension_{package}")))
    return root / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"


def lake_extensions(directory: Path) -> list[Path]:
    """ducklake as shipped; postgres under the name DuckDB expects of it, ``postgres_scanner``
    (it derives the entry point from the file name: ``postgres_scanner_duckdb_cpp_init``)."""
    scanner = directory / "postgres_scanner.duckdb_extension"
    if not scanner.exists():
        scanner.symlink_to(extension("postgres", "postgres"))
    return [extension("ducklake", "ducklake"), scanner]


def connect(extensions: list[Path]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config=CONFIG)
    for path in extensions:
        con.execute(f"LOAD '{path}'")
    return con


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_server_runs_on_localhost_and_leaves_nothing():
    with PostgresServer() as pg:
        root, port = pg.root, pg.port
        assert listening(port) and root.is_dir()
        assert pg.url() == f"postgresql://postgres@127.0.0.1:{port}/frus"
        assert '"listen_addresses=127.0.0.1"' in (root / "data" / "postmaster.opts").read_text()
    assert not root.exists() and not listening(port)


def test_server_dies_with_a_killed_process():
    """A test process killed with SIGKILL runs no cleanup: the watchdog stops its server."""
    code = ("import json, os, signal; from tests.postgres_server import PostgresServer; "
            "pg = PostgresServer().start(); print(json.dumps([str(pg.root), pg.port]), flush=True); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    repo = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120)
    root, port = json.loads(run.stdout)
    deadline = time.monotonic() + 30
    while (Path(root).exists() or listening(port)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(root).exists() and not listening(port)


def test_missing_binaries_say_make_setup(monkeypatch):
    monkeypatch.setattr(pgs.glob, "glob", lambda pattern: [])
    with pytest.raises(RuntimeError, match="make setup"):
        PostgresServer()


def test_postgres_extension_needs_the_scanner_name():
    con = duckdb.connect(config=CONFIG)
    with pytest.raises(duckdb.IOException, match="postgres_duckdb_cpp_init"):
        con.execute(f"LOAD '{extension('postgres', 'postgres')}'")


def test_ducklake_catalog_on_postgres(postgres_server, tmp_path):  # noqa: F811
    exts = lake_extensions(tmp_path)
    attach = f"ATTACH 'ducklake:postgres:{postgres_server.dsn()}' AS lake (DATA_PATH '{tmp_path}/data/')"
    con = connect(exts)
    con.execute(attach)
    con.execute("CREATE TABLE lake.docs (doc_key VARCHAR, n INTEGER)")
    con.execute("BEGIN")
    con.execute("INSERT INTO lake.docs SELECT 'frus1938v03/d' || i, i FROM range(100) t(i)")
    con.execute("COMMIT")
    con.execute("BEGIN")
    con.execute("INSERT INTO lake.docs VALUES ('rolled back', -1)")
    con.execute("ROLLBACK")
    assert list((tmp_path / "data").rglob("*.parquet"))  # over 10 rows: a Parquet file, not inlined

    # Another process, another DuckDB: the catalog in PostgreSQL knows the table and its files.
    code = (f"from tests.test_postgres_server import connect; from pathlib import Path\n"
            f"con = connect([Path(p) for p in {[str(p) for p in exts]!r}])\n"
            f"con.execute(\"ATTACH 'ducklake:postgres:{postgres_server.dsn()}' AS lake\")\n"
            f"print(con.execute('SELECT count(*), sum(n), min(n) FROM lake.docs').fetchone())")
    repo = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(repo)})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "(100, 4950, 0)"

    # The URL form works too.
    other = connect(exts)
    other.execute(f"ATTACH 'ducklake:postgres:{postgres_server.url()}' AS lake")
    assert other.execute("SELECT count(*) FROM lake.docs").fetchone() == (100,)
