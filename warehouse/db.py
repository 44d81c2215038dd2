"""Open the warehouse, and bring it to the lake's state: updated with a run's changes only,
or built whole (``frus refresh --force``, a new SQL version, a first run).

DuckDB lets one process write a database file or many read it, not both. So an update is
made on a file no reader holds (the older of two generations, or a copy of the newest), then
``warehouse.duckdb`` is switched to it by an atomic rename of a link: readers keep the file
they opened, unblocked, and see the new one when they next connect; a reader never sees a
half-updated state. A kill leaves a temporary file, swept by the next update, and the old
warehouse in force.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import duckdb

from tasks.lake import duck
from tasks.lake.apart import child_main, run_apart
from tasks.lake.catalog import RUNS_FILE, Lake
from tasks.landing import fsync_path, inside
from warehouse import readonly
from warehouse.build import ROW_GROUP_SIZE, SQL_FILES, build, sql

TMP_GLOB = ".warehouse.duckdb.*.tmp*"
GENERATIONS = ".warehouse"  # the warehouse's generations; warehouse.duckdb links to the newest


def connect(path: Path | str = ":memory:", read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection (autoinstall off, memory limit) on a warehouse file."""
    return duck.connect(path, read_only=read_only)


def warehouse_path(data_root: Path | str) -> Path:
    return Path(data_root).resolve() / "warehouse.duckdb"


def _fingerprint(lake: Lake) -> str:
    """What the warehouse depends on besides the lake's snapshot: its SQL, and the lake it
    was built from (a copied or moved data root is rebuilt)."""
    key = ("".join(sql(n) for n in SQL_FILES) + f"rows={ROW_GROUP_SIZE}" + lake.catalog + lake.data_path
           + str(lake.data_root))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _meta(path: Path) -> tuple[int | None, str | None]:
    """(lake snapshot, SQL fingerprint) a warehouse file was built for; (None, None) if none."""
    if not path.exists():
        return None, None
    try:
        with duck.connect(path, read_only=True) as con:
            row = con.execute("SELECT lake_snapshot, sql_fingerprint FROM warehouse_meta").fetchone()
    except duckdb.Error:
        return None, None
    return tuple(row) if row else (None, None)


def is_current(data_root: Path | str, data_snapshot: int | None = None) -> bool:
    """True when the warehouse reflects the lake's current snapshot with the current SQL
    (``data_snapshot``: the lake's, when the caller has just read it)."""
    lake = Lake(data_root)
    if not lake.exists():
        return False
    if data_snapshot is None:
        data_snapshot = lake.data_snapshot()
    return _meta(warehouse_path(data_root)) == (data_snapshot, _fingerprint(lake))


def refresh(data_root: Path | str, force: bool = False) -> bool:
    """Bring the warehouse to the lake's current snapshot; True when it changed.

    ``DATA/warehouse.duckdb`` is a link to the newest of two generations in
    ``DATA/.warehouse/``. An update takes the older generation (no reader holds it), applies
    the lake's changes since *its* snapshot (this run's and the one before), and makes it the
    newest; if a reader still holds it, it copies the newest instead. It builds the warehouse
    whole when ``force``, when there is none, or when its SQL or lake differ, and then leaves
    a copy of it as the spare.
    """
    lake = Lake(data_root)
    target = warehouse_path(data_root)
    generations = inside(lake.data_root, GENERATIONS)
    generations.mkdir(exist_ok=True)
    for leftover in [*target.parent.glob(TMP_GLOB), *generations.glob("*.tmp*")]:  # a killed update's
        leftover.unlink(missing_ok=True)
    if lake.shared or not (lake.data_root / RUNS_FILE).exists():  # (a shared lake: others' runs too)
        lake.export_runs()
    snapshot = lake.data_snapshot()
    built_for, fingerprint = _meta(target)
    if not force and (built_for, fingerprint) == (snapshot, _fingerprint(lake)):
        return False
    current = target.resolve() if target.exists() else None
    number = 1 + max((int(p.stem) for p in generations.glob("*.duckdb") if p.stem.isdigit()), default=0)
    tmp, spare_tmp = generations / f"{number}.duckdb.tmp", generations / f"{number}.duckdb.tmp-spare"
    since = None
    try:
        if not force and built_for is not None and fingerprint == _fingerprint(lake):
            since = _take_spare(generations, current, tmp, lake) or built_for
            if not tmp.exists():
                shutil.copyfile(current, tmp)
        try:
            build(tmp, lake, snapshot, _fingerprint(lake), since=since)
        except duckdb.Error:  # e.g. its snapshot expired from the lake: build it whole
            if since is None:
                raise
            tmp.unlink()
            since = None
            build(tmp, lake, snapshot, _fingerprint(lake), since=None)
        final, spare = generations / f"{number}.duckdb", None
        if since is None:
            # A whole build leaves a copy of itself as the next update's spare: that update then
            # copies nothing (the series' warehouse is 3.7 GB, 20-35 s to copy).
            spare, final = final, generations / f"{number + 1}.duckdb"
            shutil.copyfile(tmp, spare_tmp)
            os.replace(spare_tmp, spare)
        os.replace(tmp, final)
        link = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        link.unlink(missing_ok=True)
        os.symlink(os.path.relpath(final, target.parent), link)  # relative: a copied root is whole
        os.replace(link, target)  # readers open the new one from now on; open ones keep theirs
        fsync_path(target.parent)
        for old in generations.glob("*.duckdb"):  # the newest two stay: the older is the next spare
            if old not in (final, current, spare):
                old.unlink(missing_ok=True)
    finally:
        for path in (tmp, Path(f"{tmp}.wal"), spare_tmp):
            path.unlink(missing_ok=True)
    return True


def refresh_apart(data_root: Path | str, force: bool = False, apart: bool = True) -> bool:
    """:func:`refresh` in a process of its own (``tasks.lake.apart``; not ``apart``: in this
    one): a build's peak is then the same whatever the process that asks for it has done before.

    Raises:
        RuntimeError: the update failed apart; the message is the child's one-line reason
            (in this process: what :func:`refresh` raised).
    """
    if not apart:
        return refresh(data_root, force)
    return run_apart("warehouse.db", str(data_root), *(["--force"] if force else [])) == "changed"


def _take_spare(generations: Path, current: Path | None, tmp: Path, lake: Lake) -> int | None:
    """Move the older generation to ``tmp`` if no reader holds it and it was built with the
    current SQL; returns its snapshot (None: there is no usable spare)."""
    for spare in sorted(generations.glob("*.duckdb")):
        if spare == current:
            continue
        built_for, fingerprint = _meta(spare)
        if built_for is None or fingerprint != _fingerprint(lake):
            continue
        try:
            duck.connect(spare).close()  # fails at once while a reader has it open
        except duckdb.Error:
            continue
        os.replace(spare, tmp)
        return built_for
    return None


def as_of(data_root: Path | str, run_id: str) -> Path:
    """A warehouse of the state the run ``run_id`` left (DuckLake time travel), built once
    under ``DATA/as-of/`` and kept: a snapshot never changes."""
    lake = Lake(data_root)
    snapshot = lake.snapshot_of(run_id)
    if not (lake.data_root / RUNS_FILE).exists():
        lake.export_runs()
    path = inside(lake.data_root, "as-of", f"snapshot-{snapshot}.duckdb")
    if _meta(path) != (snapshot, _fingerprint(lake)):
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            build(tmp, lake, snapshot, _fingerprint(lake), since=None)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return path


def existing_warehouse(data_root: Path | str) -> Path:
    """The warehouse of ``data_root``; FileNotFoundError (saying what to run) if there is none."""
    path = warehouse_path(data_root)
    if not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: run `frus ingest --source PATH --data {data_root}` first")
    return path


def readable_files(data_root: Path | str) -> list[Path]:
    """The files besides the warehouse that its views read, and so the only ones a reader's
    connection (``query``, ``frus shell``) may open: ``DATA/lake/runs.parquet`` (the ``runs``
    view, ``{runs_file}`` in views.sql)."""
    return [inside(Path(data_root).resolve(), RUNS_FILE)]


def query(data_root: Path | str, sql: str, params: list | None = None,
          as_of_run: str | None = None) -> tuple[list[str], list[tuple]]:
    """Run one read-only statement (SELECT, FROM, WITH, VALUES, DESCRIBE, SHOW, SUMMARIZE,
    PIVOT, or EXPLAIN [ANALYZE] of one) against the warehouse, or against the state a run
    left (``as_of_run``); returns the column names and the rows.

    The statement runs on a connection that reads the warehouse (attached read-only) and
    ``readable_files`` only, with external access off and its configuration locked
    (``warehouse.readonly``), after ``readonly.check`` accepted it.

    Raises:
        FileNotFoundError: there is no warehouse under ``data_root``.
        ValueError: (one line) ``sql`` is empty, holds several statements, or one that could
            write or read beyond the warehouse (COPY, ATTACH, EXPORT, SET, PRAGMA, CREATE…,
            or EXPLAIN ANALYZE of one): the warehouse is for reading.
    """
    with readonly_connection(data_root, as_of_run) as con:
        readonly.check(con, sql)
        try:
            cur = con.execute(sql, params or [])
        except duckdb.PermissionException as exc:  # a file, extension or setting: one line, as a refusal
            raise ValueError(f"read-only: {str(exc).splitlines()[0]} (the warehouse's tables, views and "
                             "macros are readable, no other file)") from exc
        cols = [d[0] for d in cur.description] if cur.description else []
        return cols, cur.fetchall()


def readonly_connection(data_root: Path | str, as_of_run: str | None = None) -> duckdb.DuckDBPyConnection:
    """The connection :func:`query` runs on: the warehouse (or the state ``as_of_run`` left)
    attached read-only, ``readable_files`` only, external access off, configuration locked."""
    path = as_of(data_root, as_of_run) if as_of_run else existing_warehouse(data_root)
    return readonly.connect(path, readable_files(data_root), spill=duck.spill_dir(Path(data_root).resolve()))


if __name__ == "__main__":  # refresh_apart's child: python -m warehouse.db DATA [--force]
    child_main(lambda: "changed" if refresh(sys.argv[1], force="--force" in sys.argv[2:]) else "unchanged")
