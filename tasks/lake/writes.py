"""Writing the lake: a run's commit in one transaction, its row, the runs export, the
housekeeping, and the lock that keeps runs apart (methods of :class:`tasks.lake.catalog.Lake`)."""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.lake import duck
from tasks.lake.base import (ALIAS, KEEP_SNAPSHOTS, RUNS_FILE, Staged, _CatalogLock, _LakeLock, _temp,
                             current_snapshot, last_data_snapshot)
from tasks.lake.schema import FAILURES, ITEMS, RUNS, SCHEMAS
from tasks.lake.staging import ITEM_TABLES, STAGING as STAGING_DIR, file as staged_file
from tasks.landing import TMP_PREFIX, inside, sweep_temp
from tasks.records import PARSER_VERSION, Failure, ItemEntry
from tasks.sources import volume_id


# Staged items a commit's INSERT takes (a lake in object storage): the tables are partitioned
# by volume, and DuckDB holds a buffer for each partition a statement writes. Committing 57
# volumes (3 copies of the corpus): one INSERT a table 2.81 s and 582 MB, one per 32 items
# 2.75 s and 366 MB.
COMMIT_ITEMS = 32
# The tables whose staged files a lake in a folder takes as they are: the big ones. The others
# hold a row or a few an item, which DuckLake's INSERT keeps in its catalog (data inlining)
# rather than in a file an item.
PLACED_TABLES = ("documents", "parts", "footnotes")


class LakeWrites:
    """The writing half of :class:`~tasks.lake.catalog.Lake` (it provides ``connect`` and
    ``data_root``)."""

    def lock(self, wait: bool = True, on_wait=None, catalog: bool = True):
        """An exclusive lock on the lake, held by one ingest at a time (released on exit): the
        data root's, and for a PostgreSQL catalog the catalog's too, which ingests on every
        machine sharing it take. Its ``check(unchanged)`` raises if the lock was lost meanwhile
        and cannot be taken again with the lake unchanged (``unchanged()``).

        ``on_wait(where)`` is called once when a lock is busy and ``wait`` is True (to say so;
        ``where``: the data root, or the catalog).
        ``catalog``: False for a warehouse refresh, which only reads the lake (at a snapshot)
        and needs the data root's lock alone.

        Raises:
            LakeBusy: ``wait`` is False and another run holds the lock.
        """
        local = _LakeLock(inside(self.data_root, ".ingest.lock"), wait, on_wait)
        if not (self.shared and catalog):
            return local
        from tasks.lake.catalog import postgres_conninfo, redacted

        return _Locks(local, _CatalogLock(postgres_conninfo(self.catalog), redacted(self.catalog), wait, on_wait))

    def commit(self, run: dict, staged: list[Staged] = (), updated: list[ItemEntry] = (),
               failures: dict[str, Failure] | None = None, base_failures: dict[str, Failure] | None = None,
               links: Path | None = None, duplicates: Path | None = None,
               expect_data_snapshot: int | None = None) -> int:
        """Commit a run in one transaction; returns the new snapshot id.

        Args:
            run: the run's ``runs`` row.
            staged: new or changed items: their rows replace the item's rows in every table.
            updated: items whose row alone changes (a new version token, a withdrawal).
            failures: the whole new map of failed items (None: unchanged); ``base_failures``
                the map before, to tell which reject rows go and which come.
            links, duplicates: Parquet files of the new duplicate links and clusters (None:
                unchanged), read as they are inserted: their rows never enter Python.
            expect_data_snapshot: on a shared catalog, the lake's last data snapshot the run
                started from: if another writer committed since (the lock lost between its
                check and this commit), nothing is committed.

        Raises:
            RuntimeError: the lake is no longer the state the run started from.
        """
        # A lake in a folder takes the staged files themselves as its data files, linked into
        # it and registered (no rewrite: at 50 copies of the corpus, the INSERTs of documents
        # and parts took 12 s each); a lake in object storage gets DuckLake's own copy of them.
        # If the transaction fails, the placed files are orphans, which the housekeeping
        # deletes a day later (deleting them here could take a commit whose end was lost).
        placed = None if self.remote else _placed(self.data_path, staged, run["run_id"])
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
            _temp(con, "replaced", [{"uri": s.entry.uri} for s in staged], pa.schema([("uri", pa.string())]))
            con.execute("BEGIN")
            if expect_data_snapshot is not None and last_data_snapshot(con) != expect_data_snapshot:
                raise RuntimeError("another ingest committed to the lake during this run (its lock was "
                                   "lost): nothing was committed; run the ingest again")
            # The old rows of every staged item go first, in one statement a table: a DELETE
            # after this transaction's inserts would scan them again, item after item.
            for table in ITEM_TABLES:
                con.execute(f"DELETE FROM {ALIAS}.{table} WHERE source_uri IN (SELECT uri FROM replaced)")
            # Then the new rows: the placed files, registered; the rest one INSERT a table over
            # the staged files of COMMIT_ITEMS items at a time.
            for table, files in (placed or {}).items():
                if files:
                    con.execute("CALL ducklake_add_data_files(?, ?, ?)", [ALIAS, table, files])
            inserted = [t for t in ITEM_TABLES if placed is None or t not in placed]
            for start in range(0, len(staged), COMMIT_ITEMS):
                group = staged[start:start + COMMIT_ITEMS]
                for table in inserted:
                    con.execute(f"INSERT INTO {ALIAS}.{table} BY NAME SELECT * FROM read_parquet(?)",
                                [[staged_file(s.folder, table) for s in group]])
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
            for name, rows in (("links", links), ("duplicates", duplicates)):
                if rows is not None:
                    con.execute(f"DELETE FROM {ALIAS}.{name}")
                    con.execute(f"INSERT INTO {ALIAS}.{name} BY NAME SELECT * FROM read_parquet(?)", [str(rows)])
            con.execute(f"INSERT INTO {ALIAS}.runs BY NAME SELECT * FROM new_run")
            data = bool(staged or updated or failures is not None or links is not None)
            con.execute(f"CALL {ALIAS}.set_commit_message('frus', ?, extra_info => ?)",
                        [run["run_id"], json.dumps({"data": data})])
            con.execute("COMMIT")
            return current_snapshot(con)

    def record_run(self, row: dict) -> int:
        """Add a run's row alone (a run that committed nothing, was skipped, or failed)."""
        return self.commit(row)

    def clear_staging(self) -> None:
        """Remove what a committed run staged: its items' folders (in the store, for a lake
        there) and the phases' work folders in the data root."""
        from tasks.lake import staging

        staging.clear(self.staging_root())
        if self.remote:
            staging.clear(self.staging_root(workers_elsewhere=True))

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


class _Locks:
    """The data root's lock, then the catalog's; released the other way round."""

    def __init__(self, local, catalog):
        self.local, self.catalog = local, catalog

    def __enter__(self):
        self.local.__enter__()
        try:
            self.catalog.__enter__()
        except BaseException:
            self.local.__exit__(None, None, None)
            raise
        return self

    def check(self, unchanged=lambda: True) -> bool:
        """Whether the catalog's lock had to be taken again (see ``_CatalogLock.check``)."""
        self.catalog.check(unchanged)
        return self.catalog.retaken

    def __exit__(self, *exc):
        try:
            self.catalog.__exit__(*exc)
        finally:
            self.local.__exit__(*exc)


def _placed(data_path: str, staged: list[Staged], run_id: str) -> dict[str, list[str]]:
    """Each staged item's files of :data:`PLACED_TABLES` that hold rows, linked (or, on
    another file system, copied) into the lake's data folder where DuckLake puts a volume's
    files (``main/<table>/volume_id=<volume>/``: a registered file's partition is read from
    its path), under names of this run's; returns them by table."""
    placed: dict[str, list[str]] = {table: [] for table in PLACED_TABLES}
    for n, item in enumerate(staged):
        for table in PLACED_TABLES:
            source = staged_file(item.folder, table)
            meta = pq.read_metadata(source)
            if meta.num_rows == 0:
                continue
            if not _of_volume(meta, item.entry.volume_id):  # (its path would misname its partition)
                raise RuntimeError(f"{source}: rows of another volume than {item.entry.volume_id}")
            target = Path(data_path, "main", table, f"volume_id={item.entry.volume_id}",
                          f"staged-{run_id}-{n:05d}.parquet")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)  # (a killed commit of this run's)
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
            placed[table].append(str(target))
    return placed


def _of_volume(meta: pq.FileMetaData, volume_id: str) -> bool:
    """Whether every row of a Parquet file (by its statistics) has ``volume_id``."""
    column = meta.schema.names.index("volume_id")
    for group in range(meta.num_row_groups):
        stats = meta.row_group(group).column(column).statistics
        if stats is None or not stats.has_min_max or stats.null_count or not stats.min == stats.max == volume_id:
            return False
    return True


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("inf")  # gone already



def _reject_row(f: Failure) -> dict:
    """The reject row of a failed item, in its volume's partition like documents' rejects."""
    return {"volume_id": volume_id(f.name), "source_uri": f.uri, "place": f.name, "reason": f.reason,
            "source_sha256": None, "run_id": f.run_id, "parser_version": PARSER_VERSION}

