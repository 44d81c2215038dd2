"""What the lake's modules share: its names, the records of its state, the lock, and small
queries of a connection (``tasks/lake/catalog.py`` attaches the lake, ``writes.py`` changes it).
"""
from __future__ import annotations

import fcntl
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from tasks.lake import duck
from tasks.lake.schema import LAKE_TABLES, RUNS, SCHEMAS
from tasks.records import Failure, ItemEntry

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

    @property
    def documents(self) -> int:
        """How many documents its items held when they were stored."""
        return sum(e.documents for e in self.items.values())


@dataclass
class Staged:
    """A new or changed item: its entry and the staging folder of its rows."""

    entry: ItemEntry
    folder: str  # its staging folder: a path, or a URL in the lake's store



def _add_tables(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Schema]) -> None:
    """Create ``tables`` (name -> schema) in the lake, an item's tables partitioned by volume."""
    for name, schema in tables.items():
        empty = pa.Table.from_pylist([], schema)  # noqa: F841 (read by DuckDB below)
        con.execute(f"CREATE TABLE IF NOT EXISTS {ALIAS}.{name} AS SELECT * FROM empty")
        if name in SCHEMAS and "volume_id" in schema.names:
            con.execute(f"ALTER TABLE {ALIAS}.{name} SET PARTITIONED BY (volume_id)")


# (catalog, schema version) pairs this process found current: DuckLake raises the version at
# every change of the schema, so a later connection to that schema skips the check (two
# catalog scans, 30-50 ms, on each of the four writable connections of a run).
_CURRENT: set[tuple[str, int]] = set()


def _add_run_columns(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
    """Columns the model added to ``runs`` since the lake was created (flow_run_id, trigger,
    refresh_seconds): added, empty for older runs; tables added since (``reference_rows``):
    created empty. Checked once a process for each schema version of ``catalog``."""
    version = _schema_version(con)
    if (catalog, version) in _CURRENT:
        return
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ?",
                                        [ALIAS]).fetchall()}
    if missing := {n: s for n, s in LAKE_TABLES.items() if n not in tables}:
        _add_tables(con, missing)
    have = {r[0] for r in con.execute(f"DESCRIBE {ALIAS}.runs").fetchall()}
    for f in RUNS:
        if f.name not in have:
            con.execute(f"ALTER TABLE {ALIAS}.runs ADD COLUMN {f.name} {_DUCK_TYPES[str(f.type)]}")
    _CURRENT.add((catalog, _schema_version(con)))


def _schema_version(con: duckdb.DuckDBPyConnection) -> int:
    # (DuckDB attaches the lake's catalog database as __ducklake_metadata_<alias>)
    return con.execute(f"SELECT max(schema_version) FROM __ducklake_metadata_{ALIAS}.ducklake_snapshot").fetchone()[0]


_DUCK_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "double": "DOUBLE", "bool": "BOOLEAN",
               "timestamp[us, tz=UTC]": "TIMESTAMPTZ"}


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


# The advisory lock that one ingest at a time holds on a PostgreSQL catalog (any 64-bit number
# no other program of the database uses; advisory locks are the database's, not a table's).
CATALOG_LOCK_KEY = 0x4652_5553_4C41_4B45  # "FRUSLAKE"
LOCK_POLL_SECONDS = 1.0


class _CatalogLock:
    """A PostgreSQL advisory lock held by a connection of its own for as long as the run:
    ingests on other machines sharing the catalog wait for it or skip. A killed run's
    connection closes and PostgreSQL releases its lock; a restarted server has forgotten it,
    which :meth:`check` tells (and mends, when it can) before a commit."""

    def __init__(self, conninfo: str, where: str, wait: bool, on_wait=None):
        self.conninfo, self.where, self.wait, self.on_wait, self.con = conninfo, where, wait, on_wait, None
        self.retaken = False

    def _connect(self):
        import psycopg

        # (keepalives: a connection dropped silently, by a crashed machine or a NAT, is noticed
        # in about a minute, by the server (which frees the lock) and by :meth:`check`)
        return psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10,
                               application_name="frus ingest lock", keepalives=1, keepalives_idle=30,
                               keepalives_interval=10, keepalives_count=3, tcp_user_timeout=60_000)

    def _take(self) -> bool:
        return self.con.execute("SELECT pg_try_advisory_lock(%s)", [CATALOG_LOCK_KEY]).fetchone()[0]

    def __enter__(self):
        import psycopg

        self.con = self._connect()
        told = False
        while True:  # (polled, not pg_advisory_lock: a blocked call would not hear Ctrl-C)
            try:
                if self._take():
                    break
            except psycopg.OperationalError:  # (the server restarting while we wait)
                self._reconnect("the connection broke while waiting")
                continue
            if not self.wait:
                self.con.close()
                raise LakeBusy(f"another ingest is running on the catalog {self.where}")
            if self.on_wait and not told:
                self.on_wait(f"the catalog {self.where}")
                told = True
            time.sleep(LOCK_POLL_SECONDS)
        return self

    def check(self, unchanged=lambda: True) -> None:
        """Make sure the run still holds the lock. If its connection broke (the server
        restarted), take the lock again, once the server answers (:func:`catalog_wait`), if no
        other ingest took it and ``unchanged()`` says the lake is as the run found it.

        Raises:
            RuntimeError: the lock is lost for good; nothing may be committed.
        """
        import psycopg

        try:
            self.con.execute("SELECT 1")
            return
        except psycopg.Error as exc:
            lost = _first_line(exc) or "connection lost"
        self._reconnect(lost)
        if not self._take() or not unchanged():
            raise RuntimeError(f"the catalog {self.where} dropped this run's lock ({lost}) and another "
                               "ingest has used the lake since: nothing was committed; run the ingest again")
        self.retaken = True  # (said in the run's log: tests/lake/test_team.py reads it)

    def _reconnect(self, lost: str) -> None:
        """A new connection, once the server answers again (:func:`catalog_wait`)."""
        import psycopg

        from tasks.lake.catalog import catalog_wait

        deadline, pause = time.monotonic() + catalog_wait(), 0.25
        while True:
            try:
                self.con = self._connect()
                return
            except psycopg.OperationalError:
                if time.monotonic() + pause > deadline:
                    raise RuntimeError(f"the catalog {self.where} dropped this run's lock ({lost}) and does "
                                       "not answer: nothing was committed; run the ingest again") from None
                time.sleep(pause)
                pause = min(pause * 2, 4)

    def __exit__(self, *exc):
        try:
            self.con.close()  # (closing releases the advisory lock)
        except Exception:
            pass


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


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
                self.on_wait(str(self.path.parent))
            fcntl.flock(self.fh, fcntl.LOCK_EX)
        return self

    def check(self, unchanged=None) -> None:
        """(A file lock is not lost while its process lives.)"""

    def __exit__(self, *exc):
        self.fh.close()  # closing releases the flock
