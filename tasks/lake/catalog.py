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

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import duckdb
import pyarrow as pa

from tasks.lake import duck, store
from tasks.lake.base import (  # noqa: F401  (LakeBusy, RUNS_FILE, Staged…: imported from here too)
    ALIAS, KEEP_SNAPSHOTS, RUNS_FILE, SETTINGS, LakeBusy, LakeState, Staged, _add_run_columns, _add_tables, _rows,
    current_snapshot, last_data_snapshot)
from tasks.lake.schema import FAILURES, ITEMS, LAKE_TABLES, SCHEMAS
from tasks.lake.writes import LakeWrites
from tasks.landing import atomic_write_bytes, inside
from tasks.lake.staging import STAGING
from tasks.records import Failure, ItemEntry
from tasks.sources.uri import hide_password as redacted  # noqa: F401  (a catalog URL without its password)


def postgres_conninfo(url: str) -> str:
    """``postgresql://user:pw@host:port/db`` as a libpq key=value string (as DuckDB takes it)."""
    u = urlparse(url)
    parts = {"dbname": unquote(u.path.lstrip("/")) or None, "host": u.hostname, "port": u.port,
             "user": unquote(u.username) if u.username else None,
             "password": unquote(u.password) if u.password else None}
    parts.update((k, v[-1]) for k, v in parse_qs(u.query).items())  # sslmode=…, host=/socket
    quoted = {k: "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'" for k, v in parts.items() if v}
    return " ".join(f"{k}={v}" for k, v in quoted.items())



CATALOG_WAIT = "FRUS_CATALOG_WAIT"


def catalog_wait() -> float:
    """Seconds to keep trying a PostgreSQL catalog that does not answer (``FRUS_CATALOG_WAIT``,
    default 30: a server restarting) before its error is the run's."""
    value = os.environ.get(CATALOG_WAIT, "30")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{CATALOG_WAIT}={value!r}: not a number of seconds") from None


def _spelled(catalog: str | None) -> str | None:
    """A catalog as the data root records it (a SQLite file by its absolute path: a relative
    one would move with the working directory)."""
    if catalog and catalog.startswith("sqlite:"):
        return "sqlite:" + str(Path(catalog.removeprefix("sqlite:")).resolve())
    return catalog or None


def _spelled_data(data_path: str | None) -> str | None:
    """Lake data as the data root records it: an absolute folder, or a store URL, ending in ``/``."""
    if not data_path:
        return None
    if store.is_remote(data_path):
        return store.check_url(data_path)
    if "://" in data_path:
        raise ValueError(f"--lake-data must be a folder or s3://bucket/prefix, not {data_path!r}")
    return str(Path(data_path).resolve()) + "/"


class Lake(LakeWrites):
    """The lake of one data root: attach it, read its state; commit runs (:class:`LakeWrites`)."""

    def __init__(self, data_root: Path | str, catalog: str | None = None, data_path: str | None = None):
        self.data_root = Path(data_root).resolve()
        self.root = self.data_root / "lake"
        saved = self._settings()
        catalog, data_path = _spelled(catalog), _spelled_data(data_path)
        if saved is not None and (catalog or data_path) and (catalog, data_path) != (
                saved.get("catalog"), saved.get("data_path")):
            raise ValueError(f"{self.data_root} has its lake's catalog at "
                             f"{redacted(saved.get('catalog') or 'the default')} "
                             f"and data at {saved.get('data_path') or 'the default'}: --catalog and "
                             "--lake-data apply to a new data root only")
        if saved is None:
            if catalog and not catalog.startswith("sqlite:") and (
                    urlparse(catalog).password or "password" in parse_qs(urlparse(catalog).query)):
                raise ValueError(f"{redacted(catalog)}: the catalog URL is saved in the data root, so it "
                                 "takes no password: give it in PGPASSWORD or ~/.pgpass")
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

    @property
    def remote(self) -> bool:
        """Whether the lake's data files are in object storage (``s3://…``)."""
        return store.is_remote(self.data_path)

    @property
    def shared(self) -> bool:
        """Whether other machines may use this lake: its catalog is a PostgreSQL server."""
        return not self.catalog.startswith("sqlite:")

    def staging_root(self, workers_elsewhere: bool = False) -> str:
        """Where workers stage the items they parse: ``DATA/lake/staging``; or, for workers
        on other machines (Dask) and a lake in object storage, ``<lake data>/_staging`` in the
        same store, so that they need no file system shared with the flow. (Workers of this
        machine stage here even then: the commit and the dedupe read their files from the
        local disk, not through the store: a 10-copy first ingest took 134.5 s staging in a
        local S3 server against 78.2 s with the lake local.)"""
        if self.remote and workers_elsewhere:
            return store.join(self.data_path, "_staging")
        return str(inside(self.data_root, STAGING))

    def exists(self) -> bool:
        """True once an ingest has created the lake's tables."""
        return self._settings() is not None

    def adopt(self) -> None:
        """Record in this data root a lake that another data root created (a reader's laptop
        on a team's catalog and store): checked, never created nor changed.

        Raises:
            FileNotFoundError: the catalog holds no lake.
        """
        if self.exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        con = duck.connect(temp_directory=self.spill_dir(), trusted=True)
        try:
            try:
                self.attach(con, read_only=True)
                con.execute(f"SELECT count(*) FROM {ALIAS}.items").fetchone()
            except duckdb.Error as exc:
                raise FileNotFoundError(f"no lake in the catalog {redacted(self.catalog)} with data at "
                                        f"{self.data_path}: {str(exc).splitlines()[0]}") from None
        finally:
            con.close()
        self._save_settings()

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
        if self.remote:
            duck.load(con, "httpfs")
            store.duckdb_secret(con)
        sql = self._attach_sql(read_only, snapshot)
        if not self.shared:
            con.execute(sql)
            return
        deadline, pause = time.monotonic() + catalog_wait(), 0.25
        while True:  # (a catalog server restarting: tried again for a while, then its error)
            try:
                con.execute(sql)
                return
            except duckdb.IOException as exc:
                if "Unable to connect to Postgres" not in str(exc) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 4)

    @contextmanager
    def connect(self, read_only: bool = False, snapshot: int | None = None,
                memory_limit: str | None = duck.MEMORY_LIMIT):
        """A DuckDB connection with the lake attached (created on first write)."""
        if not read_only:
            self.root.mkdir(parents=True, exist_ok=True)
        elif not self.exists():
            raise FileNotFoundError(f"no lake under {self.data_root}: run `frus ingest --source PATH "
                                    f"--data {self.data_root}` first")
        con = duck.connect(temp_directory=self.spill_dir(), memory_limit=memory_limit, trusted=True)
        try:
            self.attach(con, read_only, snapshot)
            if not read_only and not self.exists():
                self._create(con)
            elif not read_only and snapshot is None:
                _add_run_columns(con, self.catalog)
            yield con
        finally:
            con.close()

    def _create(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create every table (in one transaction) and record the catalog in the data root.

        Raises:
            ValueError: the store's prefix holds another lake's files (this catalog's
                housekeeping would delete them as orphans).
        """
        if self.remote and not self._catalog_has_lake(con) and self._prefix_in_use():
            raise ValueError(f"{self.data_path} already holds a lake's data files: give that lake's "
                             "--catalog (its housekeeping would take them for orphans), or another prefix")
        con.execute("BEGIN")
        _add_tables(con, LAKE_TABLES)
        con.execute("COMMIT")
        con.execute(f"CALL {ALIAS}.set_option('parquet_compression', 'zstd')")
        self._save_settings()

    def _save_settings(self) -> None:
        # (no secret: a catalog URL takes no password, a store's keys come from the environment)
        atomic_write_bytes(self.data_root, SETTINGS, json.dumps(
            {"catalog": self._given[0], "data_path": self._given[1]}, indent=1).encode())

    def _catalog_has_lake(self, con: duckdb.DuckDBPyConnection) -> bool:
        return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = 'items'",
                                [ALIAS]).fetchone()[0])

    def _prefix_in_use(self) -> bool:
        from pyarrow import fs as pafs

        selector = pafs.FileSelector(store.fs_path(store.join(self.data_path, "main")), allow_not_found=True)
        return bool(store.filesystem().get_file_info(selector))

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

    def data_snapshot(self) -> int | None:
        """The lake's last snapshot that changed more than ``runs`` (None before the first
        ingest): :meth:`state`'s ``data_snapshot`` without reading its items and failures."""
        if not self.exists():
            return None
        with self.connect(read_only=True) as con:
            return last_data_snapshot(con)

    def snapshot_of(self, run_id: str) -> int:
        """The snapshot a run left: its commit (or its runs row)."""
        with self.connect(read_only=True) as con:
            row = con.execute(f"SELECT max(snapshot_id) FROM {ALIAS}.snapshots() WHERE commit_message = ?",
                              [run_id]).fetchone()
        if row[0] is None:
            raise ValueError(f"no run {run_id!r} in the lake (frus sql \"SELECT run_id FROM runs\" lists them)")
        return row[0]
