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
from tasks.landing import TMP_PREFIX, fsync_path, inside, sweep_temp
from tasks.records import PARSER_VERSION, Failure, ItemEntry
from tasks.sources import volume_id


# Staged items a commit's INSERT takes (a lake in object storage): the tables are partitioned
# by volume, and DuckDB holds a buffer for each partition a statement writes. Committing 57
# volumes (3 copies of the corpus): one INSERT a table 2.81 s and 582 MB, one per 32 items
# 2.75 s and 366 MB.
COMMIT_ITEMS = 32
# The tables whose staged files a lake in a folder takes as they are: the big ones. The others
# hold a row or a few an item, which DuckLake's INSERT keeps in its catalog (data inlining)
# rather than in a file an item; and so do the items of fewer than PLACE_FROM_DOCUMENTS
# documents (a page text: an INSERT writes one file for the items of a volume it takes).
PLACED_TABLES = ("documents", "parts", "footnotes")
PLACE_FROM_DOCUMENTS = 20


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
        with self.connect() as con:
            # A lake in a folder takes the staged files themselves as its data files, linked
            # into it and registered (no rewrite: at 50 copies of the corpus, the INSERTs of
            # documents and parts took 12 s each); a lake in object storage gets DuckLake's own
            # copy of them. If the transaction fails, the placed files are orphans, which the
            # housekeeping deletes a day later (deleting them here could take a commit whose
            # end was lost). (A "key=value" folder in the path would be read as a partition.)
            local = not self.remote and "=" not in self.data_path
            placed = _placed(con, self.data_path, staged, run["run_id"]) if local else {}
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
            # Then the new rows: the placed files, registered (allow_missing: a column the file
            # lacks is NULL, as in the INSERT); the rest one INSERT a table over the staged
            # files of COMMIT_ITEMS items at a time.
            for table in PLACED_TABLES:
                if files := [f[table] for f in placed.values() if table in f]:
                    con.execute("CALL ducklake_add_data_files(?, ?, ?, allow_missing => true)",
                                [ALIAS, table, files])
            for start in range(0, len(staged), COMMIT_ITEMS):
                group = staged[start:start + COMMIT_ITEMS]
                for table in ITEM_TABLES:
                    files = [staged_file(s.folder, table) for s in group
                             if table not in PLACED_TABLES or s.entry.uri not in placed]
                    if files:
                        con.execute(f"INSERT INTO {ALIAS}.{table} BY NAME SELECT * FROM read_parquet(?)",
                                    [files])
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


def _placed(con, data_path: str, staged: list[Staged], run_id: str) -> dict[str, dict[str, str]]:
    """The staged files of :data:`PLACED_TABLES` that hold rows, of each item that has
    :data:`PLACE_FROM_DOCUMENTS` documents or more, linked (or, on another file system,
    copied) into its table's folder of the lake, ``volume_id=<volume>/`` where DuckLake reads
    a registered file's partition, under names of this run's, and synced to disk (DuckDB syncs
    the files it writes); returns them by item URI and table (an item placed: all its rows of
    those tables). An item stays out whose volume id reads as a NULL partition (``null``) or
    whose file's statistics do not show its volume alone; all do where a table's folder is
    not inside the data path (its files' paths would be stored whole)."""
    folders = _table_folders(con, data_path)
    if folders is None:
        return {}
    placed: dict[str, dict[str, str]] = {}
    for n, item in enumerate(staged):
        volume = item.entry.volume_id
        if (item.entry.documents or 0) < PLACE_FROM_DOCUMENTS or volume.lower() == "null":
            continue
        sources = {table: staged_file(item.folder, table) for table in PLACED_TABLES}
        metas = {table: pq.read_metadata(path) for table, path in sources.items()}
        if not all(m.num_rows == 0 or _of_volume(m, volume) for m in metas.values()):
            continue
        files = {}
        for table, meta in metas.items():
            if meta.num_rows == 0:
                continue
            target = folders[table] / f"volume_id={volume}" / f"staged-{run_id}-{n:05d}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(sources[table], target)
            except FileExistsError:
                raise
            except OSError:
                shutil.copyfile(sources[table], target)
            os.utime(target)  # (the orphans' sweep counts a day from the placing, not the staging)
            fsync_path(target)
            files[table] = str(target)
        placed[item.entry.uri] = files
    for folder in {Path(f).parent for files in placed.values() for f in files.values()}:
        fsync_path(folder)
    return placed


def _table_folders(con, data_path: str) -> dict[str, Path] | None:
    """The folder of each of :data:`PLACED_TABLES` in the lake (the data path it is attached
    with, the schema's and the table's relative paths), or None if one is not relative."""
    meta = f"__ducklake_metadata_{ALIAS}"
    rows = con.execute(f"""
        SELECT t.table_name, s.path, s.path_is_relative, t.path, t.path_is_relative
        FROM {meta}.ducklake_table t JOIN {meta}.ducklake_schema s USING (schema_id)
        WHERE t.end_snapshot IS NULL AND s.end_snapshot IS NULL AND t.table_name IN ?""",
                       [list(PLACED_TABLES)]).fetchall()
    if len(rows) != len(PLACED_TABLES) or not all(s_rel and t_rel for _, _, s_rel, _, t_rel in rows):
        return None
    return {table: Path(data_path, schema_path, table_path) for table, schema_path, _, table_path, _ in rows}


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

