"""The lake on DuckLake: tables, their state, and a run's commit in one transaction.

The catalog is a SQLite file in the data root by default (``DATA/lake/catalog.sqlite``), or a
PostgreSQL database for teams (``--catalog postgresql://user@host:port/db``); the data files
are Parquet under ``DATA/lake/data/`` (or ``--lake-data``: a shared folder or object storage).
The choice is recorded in ``DATA/lake/catalog.json`` on the first ingest, and every later
command on the data root reads it from there.

A run commits everything it changed in one DuckLake transaction: the rows of each new or
changed item (deleted and inserted by ``source_uri``), item and failure state, duplicate links
and clusters, and the run's own row. Readers see the snapshot before it or after it, never
between; a run killed before its commit leaves the lake as it was (its written files are
orphans that :meth:`Lake.maintain` removes). Every run, committing or not, adds its ``runs``
row in a snapshot whose commit message is its run id: ``frus sql --as-of RUN_ID`` reads it.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.lake import duck
from tasks.landing import TMP_PREFIX, atomic_write_bytes, inside, sweep_temp
from tasks.lake.staging import ITEM_TABLES, STAGING as STAGING_DIR
from tasks.records import PARSER_VERSION, Failure, ItemEntry
from tasks.sources import volume_id
from warehouse.schema import FAILURES, ITEMS, LAKE_TABLES, RUNS, SCHEMAS

SETTINGS = "lake/catalog.json"
RUNS_FILE = "lake/runs.parquet"
KEEP_SNAPSHOTS = "30 days"  # time travel reaches this far back; older files are cleaned up
ALIAS = "lake"


class LakeBusy(Exception):
    """Another ingest holds the lake."""


@dataclass
class LakeState:
    """What the lake holds now: its items and failures by URI, and its snapshot id."""

    items: dict[str, ItemEntry] = field(default_factory=dict)
    failures: dict[str, Failure] = field(default_factory=dict)
    snapshot: int | None = None
    data_snapshot: int | None = None  # the last snapshot that changed more than ``runs``


@dataclass
class Staged:
    """A new or changed item: its entry and the staging folder of its rows."""

    entry: ItemEntry
    folder: Path


def postgres_conninfo(url: str) -> str:
    """``postgresql://user:pw@host:port/db`` as a libpq key=value string (as DuckDB takes it)."""
    u = urlparse(url)
    parts = {"dbname": unquote(u.path.lstrip("/")) or None, "host": u.hostname, "port": u.port,
             "user": unquote(u.username) if u.username else None,
             "password": unquote(u.password) if u.password else None}
    parts.update((k, v[-1]) for k, v in parse_qs(u.query).items())  # sslmode=…, host=/socket
    quoted = {k: "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'" for k, v in parts.items() if v}
    return " ".join(f"{k}={v}" for k, v in quoted.items())


def redacted(catalog: str) -> str:
    """A catalog URL without its password (for logs, status and the warehouse)."""
    u = urlparse(catalog)
    if not u.password:
        return catalog
    return catalog.replace(f":{u.password}@", ":***@", 1)


class Lake:
    """The lake of one data root: attach it, read its state, commit runs."""

    def __init__(self, data_root: Path | str, catalog: str | None = None, data_path: str | None = None):
        self.data_root = Path(data_root).resolve()
        self.root = self.data_root / "lake"
        saved = self._settings()
        if saved is not None and (catalog or data_path) and (catalog, data_path) != (
                saved.get("catalog"), saved.get("data_path")):
            raise ValueError(f"{self.data_root} has its lake's catalog at "
                             f"{redacted(saved.get('catalog') or 'the default')} "
                             f"and data at {saved.get('data_path') or 'the default'}: --catalog and "
                             "--lake-data apply to a new data root only")
        if saved is None:
            if catalog and catalog.startswith("sqlite:"):  # a relative path would move with the cwd
                catalog = "sqlite:" + str(Path(catalog.removeprefix("sqlite:")).resolve())
            if data_path and "://" not in data_path:
                data_path = str(Path(data_path).resolve()) + "/"
            if catalog and not catalog.startswith("sqlite:") and not data_path:
                raise ValueError("a PostgreSQL catalog needs --lake-data: a folder (or object store) "
                                 "every machine that uses the catalog can reach")
        self._given = (catalog, data_path) if saved is None else (saved.get("catalog"), saved.get("data_path"))
        # The defaults are inside the data root and follow it when it is copied or moved.
        self.catalog = self._given[0] or "sqlite:" + str(self.root / "catalog.sqlite")
        self.data_path = self._given[1] or str(self.root / "data") + "/"
        if not self.catalog.startswith(("sqlite:", "postgresql://", "postgres://")):
            raise ValueError(f"catalog must be sqlite:PATH or postgresql://…, not {self.catalog!r}")

    # -- connecting ---------------------------------------------------------------------

    def spill_dir(self) -> Path:
        """Where a connection on this data root's work spills (inside it, never the working
        directory; a folder of its own: ``duck.spill_dir``)."""
        return duck.spill_dir(self.data_root)

    def exists(self) -> bool:
        """True once an ingest has created the lake's tables."""
        return self._settings() is not None

    def ensure(self) -> None:
        """Create the lake's tables if this is its first ingest."""
        with self.connect():
            pass

    def _settings(self) -> dict | None:
        path = self.data_root / SETTINGS
        return json.loads(path.read_text()) if path.is_file() else None

    def _attach_sql(self, read_only: bool, snapshot: int | None) -> str:
        if self.catalog.startswith("sqlite:"):
            spec = "ducklake:sqlite:" + self.catalog.removeprefix("sqlite:")
        else:
            spec = "ducklake:postgres:" + postgres_conninfo(self.catalog)
        options = [f"DATA_PATH {duck.sql_str(self.data_path)}"]
        if self._given[1] is None:  # the data root's own folder, wherever the root now is
            options.append("OVERRIDE_DATA_PATH true")
        if read_only:
            options.append("READ_ONLY")
        if snapshot is not None:
            options.append(f"SNAPSHOT_VERSION {int(snapshot)}")
        return f"ATTACH {duck.sql_str(spec)} AS {ALIAS} ({', '.join(options)})"

    def attach(self, con: duckdb.DuckDBPyConnection, read_only: bool = False,
               snapshot: int | None = None) -> None:
        """Attach the lake to ``con`` as ``lake`` (read-only, or at a past snapshot)."""
        duck.load(con, "ducklake", "sqlite" if self.catalog.startswith("sqlite:") else "postgres")
        con.execute(self._attach_sql(read_only, snapshot))

    @contextmanager
    def connect(self, read_only: bool = False, snapshot: int | None = None,
                memory_limit: str | None = duck.MEMORY_LIMIT):
        """A DuckDB connection with the lake attached (created on first write)."""
        if not read_only:
            self.root.mkdir(parents=True, exist_ok=True)
        elif not self.exists():
            raise FileNotFoundError(f"no lake under {self.data_root}: run `frus ingest --source PATH "
                                    f"--data {self.data_root}` first")
        con = duck.connect(temp_directory=self.spill_dir(), memory_limit=memory_limit)
        try:
            self.attach(con, read_only, snapshot)
            if not read_only and not self.exists():
                self._create(con)
            elif not read_only and snapshot is None:
                _add_run_columns(con)
            yield con
        finally:
            con.close()

    def _create(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create every table (in one transaction) and record the catalog in the data root."""
        con.execute("BEGIN")
        _add_tables(con, LAKE_TABLES)
        con.execute("COMMIT")
        con.execute(f"CALL {ALIAS}.set_option('parquet_compression', 'zstd')")
        atomic_write_bytes(self.data_root, SETTINGS, json.dumps(
            {"catalog": self._given[0], "data_path": self._given[1]}, indent=1).encode())

    # -- reading ------------------------------------------------------------------------

    def state(self) -> LakeState:
        """The items and failures the lake holds now (empty before the first ingest)."""
        if not self.exists():
            return LakeState()
        with self.connect(read_only=True) as con:
            items = _rows(con, f"SELECT * FROM {ALIAS}.items", ITEMS)
            failures = _rows(con, f"SELECT * FROM {ALIAS}.failures", FAILURES)
            snapshot, data_snapshot = current_snapshot(con), last_data_snapshot(con)
        return LakeState({r["uri"]: ItemEntry(**r) for r in items},
                         {r["uri"]: Failure(**r) for r in failures}, snapshot, data_snapshot)

    def snapshot_of(self, run_id: str) -> int:
        """The snapshot a run left: its commit (or its runs row)."""
        with self.connect(read_only=True) as con:
            row = con.execute(f"SELECT max(snapshot_id) FROM {ALIAS}.snapshots() WHERE commit_message = ?",
                              [run_id]).fetchone()
        if row[0] is None:
            raise ValueError(f"no run {run_id!r} in the lake (frus sql \"SELECT run_id FROM runs\" lists them)")
        return row[0]

    # -- writing ------------------------------------------------------------------------

    def lock(self, wait: bool = True, on_wait=None):
        """An exclusive lock on the lake, held by one ingest at a time (released on exit).

        ``on_wait()`` is called once when the lock is busy and ``wait`` is True (to say so).

        Raises:
            LakeBusy: ``wait`` is False and another run holds the lock.
        """
        return _LakeLock(inside(self.data_root, ".ingest.lock"), wait, on_wait)

    def commit(self, run: dict, staged: list[Staged] = (), updated: list[ItemEntry] = (),
               failures: dict[str, Failure] | None = None, base_failures: dict[str, Failure] | None = None,
               links: pa.Table | None = None, duplicates: pa.Table | None = None) -> int:
        """Commit a run in one transaction; returns the new snapshot id.

        Args:
            run: the run's ``runs`` row.
            staged: new or changed items: their rows replace the item's rows in every table.
            updated: items whose row alone changes (a new version token, a withdrawal).
            failures: the whole new map of failed items (None: unchanged); ``base_failures``
                the map before, to tell which reject rows go and which come.
            links, duplicates: the new duplicate links and clusters (None: unchanged).
        """
        with self.connect() as con:
            # Python data enters through temp tables (duck.temp_table says why).
            entries = [s.entry for s in staged] + list(updated)
            _temp(con, "new_items", [asdict(e) for e in entries], ITEMS)
            _temp(con, "new_run", [run], RUNS)
            before = base_failures or {}
            if failures is not None:
                gone = [u for u, f in before.items() if u not in failures or not f.same(failures[u])]
                came = [f for u, f in failures.items() if u not in before or not f.same(before[u])]
                _temp(con, "new_failures", [asdict(f) for f in failures.values()], FAILURES)
                _temp(con, "failure_rejects", [_reject_row(f) for f in came], SCHEMAS["rejects"])
            for name, arrow_rows in (("new_links", links), ("new_duplicates", duplicates)):
                if arrow_rows is not None:
                    duck.temp_table(con, name, arrow_rows)
            _temp(con, "replaced", [{"uri": s.entry.uri} for s in staged], pa.schema([("uri", pa.string())]))
            con.execute("BEGIN")
            # The old rows of every staged item go first, in one statement a table: a DELETE
            # after this transaction's inserts would scan them again, item after item.
            for table in ITEM_TABLES:
                con.execute(f"DELETE FROM {ALIAS}.{table} WHERE source_uri IN (SELECT uri FROM replaced)")
            for s in staged:
                for table in ITEM_TABLES:
                    path = s.folder / f"{table}.parquet"
                    if pq.read_metadata(path).num_rows:
                        con.execute(f"INSERT INTO {ALIAS}.{table} BY NAME SELECT * FROM read_parquet(?)",
                                    [str(path)])
            if entries:
                con.execute(f"DELETE FROM {ALIAS}.items WHERE uri IN (SELECT uri FROM new_items)")
                con.execute(f"INSERT INTO {ALIAS}.items BY NAME SELECT * FROM new_items")
            if failures is not None:
                for uri in gone:
                    con.execute(f"DELETE FROM {ALIAS}.rejects WHERE source_uri = ? AND source_sha256 IS NULL",
                                [uri])
                con.execute(f"DELETE FROM {ALIAS}.failures")
                con.execute(f"INSERT INTO {ALIAS}.failures BY NAME SELECT * FROM new_failures")
                con.execute(f"INSERT INTO {ALIAS}.rejects BY NAME SELECT * FROM failure_rejects")
            for name, table in (("links", links), ("duplicates", duplicates)):
                if table is not None:
                    con.execute(f"DELETE FROM {ALIAS}.{name}")
                    con.execute(f"INSERT INTO {ALIAS}.{name} BY NAME SELECT * FROM new_{name}")
            con.execute(f"INSERT INTO {ALIAS}.runs BY NAME SELECT * FROM new_run")
            data = bool(staged or updated or failures is not None or links is not None)
            con.execute(f"CALL {ALIAS}.set_commit_message('frus', ?, extra_info => ?)",
                        [run["run_id"], json.dumps({"data": data})])
            con.execute("COMMIT")
            return current_snapshot(con)

    def record_run(self, row: dict) -> int:
        """Add a run's row alone (a run that committed nothing, was skipped, or failed)."""
        return self.commit(row)

    def sweep(self) -> int:
        """Remove what killed runs left behind: temporary files of the landing zone, the
        staging area and the runs export, and DuckDB spill files an hour old; returns how
        many. Call it holding the lock (no other run is writing them)."""
        removed = sweep_temp(self.data_root, older_than=0)
        old = time.time() - 3600
        leftovers = [*inside(self.data_root, STAGING_DIR).glob(TMP_PREFIX + "*"),
                     *inside(self.data_root, RUNS_FILE).parent.glob(".runs.parquet.*.tmp"),
                     *(p for p in (self.data_root / duck.SPILL).glob("*") if _mtime(p) < old)]
        for path in leftovers:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        return removed + len(leftovers)

    def amend_run(self, run_id: str, **fields) -> None:
        """Set columns of a committed run's row (its end after the warehouse refresh, a warning
        found after its commit)."""
        unknown = set(fields) - set(RUNS.names)
        if unknown:
            raise ValueError(f"not columns of runs: {sorted(unknown)}")
        with self.connect() as con:
            con.execute("BEGIN")
            con.execute(f"UPDATE {ALIAS}.runs SET {', '.join(f'{k} = ?' for k in fields)} WHERE run_id = ?",
                        [*fields.values(), run_id])
            con.execute(f"CALL {ALIAS}.set_commit_message('frus', ?, extra_info => ?)",
                        [run_id, json.dumps({"data": False})])
            con.execute("COMMIT")

    def export_runs(self) -> Path:
        """Write every run's row to ``DATA/lake/runs.parquet`` (atomically): the warehouse's
        ``runs`` view reads it, so a run that changed nothing needs no warehouse update."""
        target = inside(self.data_root, RUNS_FILE)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with self.connect(read_only=True) as con:
            con.execute(f"COPY (SELECT * FROM {ALIAS}.runs ORDER BY started_at) TO {duck.sql_str(tmp)} "
                        "(FORMAT parquet, COMPRESSION zstd)")
        os.replace(tmp, target)
        return target

    def maintain(self, keep: str = KEEP_SNAPSHOTS) -> None:
        """DuckLake's own housekeeping: expire snapshots older than ``keep``, then delete the
        files no snapshot needs and the orphans of killed runs."""
        with self.connect() as con:
            con.execute(f"CALL ducklake_expire_snapshots('{ALIAS}', older_than => now() - INTERVAL '{keep}')")
            con.execute(f"CALL ducklake_cleanup_old_files('{ALIAS}', cleanup_all => true)")
            # (orphans of a day or more: a writer elsewhere on a shared catalog may be mid-commit)
            con.execute(f"CALL ducklake_delete_orphaned_files('{ALIAS}', older_than => now() - INTERVAL '1 day')")


def _add_tables(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Schema]) -> None:
    """Create ``tables`` (name → schema) in the lake, an item's tables partitioned by volume."""
    for name, schema in tables.items():
        empty = pa.Table.from_pylist([], schema)  # noqa: F841 (read by DuckDB below)
        con.execute(f"CREATE TABLE IF NOT EXISTS {ALIAS}.{name} AS SELECT * FROM empty")
        if name in SCHEMAS and "volume_id" in schema.names:
            con.execute(f"ALTER TABLE {ALIAS}.{name} SET PARTITIONED BY (volume_id)")


def _add_run_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Columns the model added to ``runs`` since the lake was created (flow_run_id, trigger,
    refresh_seconds): added, empty for older runs; tables added since (``reference_rows``):
    created empty."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ?",
                                        [ALIAS]).fetchall()}
    if missing := {n: s for n, s in LAKE_TABLES.items() if n not in tables}:
        _add_tables(con, missing)
    have = {r[0] for r in con.execute(f"DESCRIBE {ALIAS}.runs").fetchall()}
    for f in RUNS:
        if f.name not in have:
            con.execute(f"ALTER TABLE {ALIAS}.runs ADD COLUMN {f.name} {_DUCK_TYPES[str(f.type)]}")


_DUCK_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "double": "DOUBLE", "bool": "BOOLEAN",
               "timestamp[us, tz=UTC]": "TIMESTAMPTZ"}


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("inf")  # gone already


def current_snapshot(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute(f"SELECT id FROM {ALIAS}.current_snapshot()").fetchone()[0]


def last_data_snapshot(con: duckdb.DuckDBPyConnection) -> int:
    """The newest snapshot that changed a table besides ``runs`` (what the warehouse follows)."""
    return con.execute(f"SELECT max(snapshot_id) FROM {ALIAS}.snapshots() "
                       "WHERE commit_extra_info IS DISTINCT FROM '{\"data\": false}'").fetchone()[0]


def _rows(con: duckdb.DuckDBPyConnection, sql: str, schema: pa.Schema) -> list[dict]:
    return con.execute(sql).to_arrow_table().select(schema.names).to_pylist()


def _temp(con: duckdb.DuckDBPyConnection, name: str, rows: list[dict], schema: pa.Schema) -> None:
    duck.temp_table(con, name, pa.Table.from_pylist(rows, schema))


def _reject_row(f: Failure) -> dict:
    """The reject row of a failed item, in its volume's partition like documents' rejects."""
    return {"volume_id": volume_id(f.name), "source_uri": f.uri, "place": f.name, "reason": f.reason,
            "source_sha256": None, "run_id": f.run_id, "parser_version": PARSER_VERSION}


class _LakeLock:
    def __init__(self, path: Path, wait: bool, on_wait=None):
        self.path, self.wait, self.on_wait, self.fh = path, wait, on_wait, None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a+")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not self.wait:
                self.fh.close()
                raise LakeBusy(f"another ingest is running on {self.path.parent}") from None
            if self.on_wait:
                self.on_wait()
            fcntl.flock(self.fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self.fh.close()  # closing releases the flock
