"""Open the warehouse (FTS loaded from the pip package) and rebuild it from the lake.

The warehouse is derived: ``refresh`` builds a new database file beside the old one and
renames it into place, so readers never wait on a lock or see a half-built warehouse, and
an unchanged lake (same manifest version, same SQL) costs nothing.
"""
from __future__ import annotations

import hashlib
import importlib.resources
import os
from pathlib import Path

import duckdb

from tasks.landing import inside
from tasks.store import Lake
from warehouse.schema import DUPLICATES, SCHEMAS

SQL_DIR = Path(__file__).resolve().parent
DUCKDB_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
TABLES = [*SCHEMAS, "duplicates"]


def fts_extension_path() -> Path:
    """The FTS extension shipped by the duckdb-extension-fts package for this duckdb."""
    root = importlib.resources.files("duckdb_extension_fts")
    path = Path(str(root)) / "extensions" / f"v{duckdb.__version__}" / "fts.duckdb_extension"
    if not path.exists():
        raise RuntimeError(f"FTS extension not found at {path}: install duckdb-extension-fts=={duckdb.__version__}")
    return path


def connect(path: Path | str = ":memory:", read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with autoinstall off and FTS loaded by path (works offline)."""
    con = duckdb.connect(str(path), read_only=read_only, config=DUCKDB_CONFIG)
    con.execute(f"LOAD '{fts_extension_path()}'")
    return con


def warehouse_path(data_root: Path) -> Path:
    return Path(data_root).resolve() / "warehouse.duckdb"


def _sql(name: str) -> str:
    return (SQL_DIR / name).read_text()


def _fingerprint(data_root: Path) -> str:
    """What the warehouse's SQL depends on besides the manifest: the SQL, and the data root
    its views name files under (a copied or moved data root is stale)."""
    key = _sql("views.sql") + _sql("fts.sql") + str(Path(data_root).resolve())
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _file_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _empty_file(lake: Lake, table: str) -> Path:
    """A zero-row Parquet file with the table's schema, for views over an empty table."""
    schema = DUPLICATES if table == "duplicates" else SCHEMAS[table]
    return lake.empty_file(lake.root / "_empty" / f"{table}.parquet", schema)


def _items_table(con: duckdb.DuckDBPyConnection, manifest) -> None:
    """The manifest's items as a table: what each source item holds, and withdrawals."""
    con.execute("CREATE TABLE lake_items (uri VARCHAR, name VARCHAR, source VARCHAR, volume_id VARCHAR, "
                "sha256 VARCHAR, version VARCHAR, run_id VARCHAR, ingested_at TIMESTAMPTZ, "
                "documents BIGINT, withdrawn_run VARCHAR)")
    rows = [(e.uri, e.name, e.source, e.volume_id, e.sha256, e.version, e.run_id, e.ingested_at or None,
             e.documents, e.withdrawn_run) for e in manifest.items.values()]
    if rows:
        con.executemany("INSERT INTO lake_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute("COMMENT ON TABLE lake_items IS 'Source items in the lake (from lake/_manifest.json): "
                "version, hash, the run that ingested each, and the run that saw it withdrawn.'")


def is_current(data_root: Path) -> bool:
    """True when the warehouse was built from the committed manifest with the current SQL."""
    path = warehouse_path(data_root)
    if not path.exists():
        return False
    try:
        with duckdb.connect(str(path), read_only=True, config=DUCKDB_CONFIG) as con:
            row = con.execute("SELECT manifest_version, sql_fingerprint FROM warehouse_meta").fetchone()
    except duckdb.Error:
        return False
    return row == (Lake(data_root).manifest().version, _fingerprint(data_root))


def refresh(data_root: Path, force: bool = False) -> bool:
    """Rebuild the warehouse from the lake when the lake or the SQL changed.

    Returns True when a new warehouse was built.
    """
    data_root = Path(data_root).resolve()
    if not force and is_current(data_root):
        return False
    lake = Lake(data_root)
    manifest = lake.manifest()
    sql = _sql("views.sql")
    for table in TABLES:
        paths = lake.paths(table, manifest) or [_empty_file(lake, table)]
        sql = sql.replace("{files:" + table + "}", _file_list(paths))
    # runs are read by glob: a run that changed nothing adds its row without a rebuild
    sql = sql.replace("{files:runs}", _file_list([Path(lake.runs_glob())]))
    target = warehouse_path(data_root)
    tmp = inside(data_root, target.with_name(f".{target.name}.{os.getpid()}.tmp"))
    tmp.unlink(missing_ok=True)
    try:
        with connect(tmp) as con:
            _items_table(con, manifest)
            con.execute(sql)
            # one statement at a time: the PRAGMA must bind after part_text exists
            for statement in _sql("fts.sql").split(";\n"):
                if statement.strip() and not all(
                        line.startswith("--") for line in statement.strip().splitlines()):
                    con.execute(statement)
            con.execute("CREATE TABLE warehouse_meta AS SELECT ? AS manifest_version, ? AS sql_fingerprint, "
                        "now() AS built_at", [manifest.version, _fingerprint(data_root)])
            con.execute("COMMENT ON TABLE warehouse_meta IS 'Which lake manifest version this warehouse was built from.'")
            con.execute("CHECKPOINT")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
    return True


def existing_warehouse(data_root: Path | str) -> Path:
    """The warehouse of ``data_root``; FileNotFoundError (saying what to run) if there is none."""
    path = warehouse_path(data_root)
    if not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: run `frus ingest --source PATH --data {data_root}` first")
    return path


READ_ONLY_STATEMENTS = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)


def query(data_root: Path | str, sql: str, params: list | None = None) -> tuple[list[str], list[tuple]]:
    """Run one read-only statement (SELECT, FROM, WITH, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN…)
    against the warehouse; returns the column names and the rows.

    Raises:
        FileNotFoundError: there is no warehouse under ``data_root``.
        ValueError: ``sql`` is empty, holds several statements, or one that could write
            (COPY, ATTACH, EXPORT, SET, CREATE…): the warehouse is for reading.
    """
    with connect(existing_warehouse(data_root), read_only=True) as con:
        statements = con.extract_statements(sql)
        if not statements:
            raise ValueError("empty query")
        if len(statements) > 1:
            raise ValueError(f"one statement at a time ({len(statements)} given)")
        kind = statements[0].type
        if kind not in READ_ONLY_STATEMENTS:
            raise ValueError(f"read-only: {kind.name} statements are refused (SELECT, WITH, DESCRIBE, "
                             "SHOW, SUMMARIZE and EXPLAIN are allowed)")
        cur = con.execute(sql, params or [])
        cols = [d[0] for d in cur.description] if cur.description else []
        return cols, cur.fetchall()
