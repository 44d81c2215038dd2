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
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import duckdb

from tasks.lake import duck
from tasks.lake.catalog import RUNS_FILE, Lake, redacted
from tasks.landing import fsync_path, inside
from warehouse import readonly

SQL_DIR = Path(__file__).resolve().parent
SQL_FILES = ("tables.sql", "views.sql", "items.sql", "index.sql", "terms.sql", "state.sql")
INDEX_RANGE = 10_000  # document versions indexed per statement (bounds its memory)
BATCH_DOCUMENTS = 30_000  # documents of the changed items updated per DuckDB session (_build)
# Row groups of 16,384 rows: a few documents' text (mentions() verifying its candidates) is a
# few row groups to read, not the whole column; and the in-memory metadata of every row group
# (about 15 KB each, held by the update and by each reader that scans the table) stays small:
# at 2,048 rows, the index of the whole series was 37,500 row groups, half a GB in each process.
ROW_GROUP_SIZE = 16_384
TMP_GLOB = ".warehouse.duckdb.*.tmp*"
GENERATIONS = ".warehouse"  # the warehouse's generations; warehouse.duckdb links to the newest


def connect(path: Path | str = ":memory:", read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection (autoinstall off, memory limit) on a warehouse file."""
    return duck.connect(path, read_only=read_only)


def warehouse_path(data_root: Path | str) -> Path:
    return Path(data_root).resolve() / "warehouse.duckdb"


def _sql(name: str) -> str:
    return (SQL_DIR / name).read_text()


def _fingerprint(lake: Lake) -> str:
    """What the warehouse depends on besides the lake's snapshot: its SQL, and the lake it
    was built from (a copied or moved data root is rebuilt)."""
    key = ("".join(_sql(n) for n in SQL_FILES) + f"rows={ROW_GROUP_SIZE}" + lake.catalog + lake.data_path
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
        data_snapshot = lake.state().data_snapshot
    return _meta(warehouse_path(data_root)) == (data_snapshot, _fingerprint(lake))


def refresh(data_root: Path | str, force: bool = False) -> bool:
    """Bring the warehouse to the lake's current snapshot; True when it changed.

    ``DATA/warehouse.duckdb`` is a link to the newest of two generations in
    ``DATA/.warehouse/``. An update takes the older generation (no reader holds it), applies
    the lake's changes since *its* snapshot (this run's and the one before), and makes it the
    newest; if a reader still holds it, it copies the newest instead. It builds the warehouse
    whole when ``force``, when there is none, or when its SQL or lake differ.
    """
    lake = Lake(data_root)
    target = warehouse_path(data_root)
    generations = inside(lake.data_root, GENERATIONS)
    generations.mkdir(exist_ok=True)
    for leftover in [*target.parent.glob(TMP_GLOB), *generations.glob("*.tmp*")]:  # a killed update's
        leftover.unlink(missing_ok=True)
    if not (lake.data_root / RUNS_FILE).exists():
        lake.export_runs()
    snapshot = lake.state().data_snapshot
    built_for, fingerprint = _meta(target)
    if not force and (built_for, fingerprint) == (snapshot, _fingerprint(lake)):
        return False
    current = target.resolve() if target.exists() else None
    number = 1 + max((int(p.stem) for p in generations.glob("*.duckdb") if p.stem.isdigit()), default=0)
    tmp = generations / f"{number}.duckdb.tmp"
    since = None
    try:
        if not force and built_for is not None and fingerprint == _fingerprint(lake):
            since = _take_spare(generations, current, tmp, lake) or built_for
            if not tmp.exists():
                shutil.copyfile(current, tmp)
        try:
            _build(tmp, lake, snapshot, since=since)
        except duckdb.Error:  # e.g. its snapshot expired from the lake: build it whole
            if since is None:
                raise
            tmp.unlink()
            _build(tmp, lake, snapshot, since=None)
        final = generations / f"{number}.duckdb"
        os.replace(tmp, final)
        link = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        link.unlink(missing_ok=True)
        os.symlink(os.path.relpath(final, target.parent), link)  # relative: a copied root is whole
        os.replace(link, target)  # readers open the new one from now on; open ones keep theirs
        fsync_path(target.parent)
        for old in generations.glob("*.duckdb"):  # the newest two stay: the older is the next spare
            if old not in (final, current):
                old.unlink(missing_ok=True)
    finally:
        for path in (tmp, Path(f"{tmp}.wal")):
            path.unlink(missing_ok=True)
    return True


def refresh_apart(data_root: Path | str, force: bool = False) -> bool:
    """:func:`refresh` in a process of its own, which returns its memory when it ends: a
    build's peak (DuckDB's limit, plus what a long-lived process's heap has kept) is then
    the same whatever the process that asks for it has done before.

    Raises:
        RuntimeError: the update failed; the message is the child's one-line reason.
    """
    argv = [sys.executable, "-m", "warehouse.db", str(data_root), *(["--force"] if force else [])]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise RuntimeError(lines[-1] if lines else f"warehouse update exited with {proc.returncode}")
    return proc.stdout.strip() == "changed"


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


def _build(path: Path, lake: Lake, snapshot: int, since: int | None) -> None:
    """Apply the lake's changes from snapshot ``since`` to ``snapshot`` to the warehouse at
    ``path`` (``since`` None: build it whole from an empty file).

    The changed items go in batches of about ``BATCH_DOCUMENTS`` documents, each in a DuckDB
    session of its own: a session keeps memory outside its limit for every row it writes
    (about 2 KB a document version with its parts, given back only when the database closes),
    so one session over the whole series would hold over a GB of it, and a batch holds what
    its volumes need. No transaction spans the update: no reader opens this file before it
    is renamed into place (a failure or a kill discards it)."""
    runs_file = duck.sql_str(inside(lake.data_root, RUNS_FILE))
    with _session(path, lake, snapshot) as con:
        if since is None:
            _run(con, _sql("tables.sql"))
        _run(con, _sql("views.sql").replace("{runs_file}", runs_file))  # (index.sql uses its macros)
        changed = con.execute(_CHANGED if since is not None else _ALL_ITEMS,
                              [int(since)] * 2 if since is not None else []).fetchall()
    for batch in _batches(changed, BATCH_DOCUMENTS):
        with _session(path, lake, snapshot) as con:
            con.execute("CREATE TEMP TABLE changed AS SELECT unnest(?::VARCHAR[]) AS uri", [batch])
            _run(con, _sql("items.sql"))
            lo, hi = con.execute("SELECT min(version_id), max(version_id) FROM new_versions").fetchone()
            for start in range(lo or 0, (hi or -1) + 1, INDEX_RANGE):
                con.execute(_sql("index.sql"), [start, start + INDEX_RANGE])
            con.execute(_sql("terms.sql"))
    with _session(path, lake, snapshot) as con:
        _run(con, _sql("state.sql"))
        con.execute("DELETE FROM warehouse_meta")
        con.execute("INSERT INTO warehouse_meta VALUES (?, ?, ?, "
                    "coalesce((SELECT built_at FROM warehouse_meta), now()), now())",
                    [snapshot, _fingerprint(lake), redacted(lake.catalog)])
        if since is None:
            con.execute("UPDATE warehouse_meta SET built_at = now()")
        con.execute("DETACH lake")
        con.execute("CHECKPOINT warehouse")


# The items whose rows differ between the snapshot ``since`` ($1, $2) and the attached one,
# with their current number of documents (0: gone); or every item, for a whole build.
_CHANGED = """
    WITH diff AS (
        (SELECT uri, sha256, parser_version, run_id FROM lake.items
         EXCEPT SELECT uri, sha256, parser_version, run_id FROM lake.items AT (VERSION => $1))
        UNION
        (SELECT uri, sha256, parser_version, run_id FROM lake.items AT (VERSION => $2)
         EXCEPT SELECT uri, sha256, parser_version, run_id FROM lake.items))
    SELECT DISTINCT d.uri, coalesce(i.documents, 0) FROM diff d LEFT JOIN lake.items i USING (uri)
    ORDER BY d.uri"""
_ALL_ITEMS = "SELECT uri, documents FROM lake.items ORDER BY uri"


def _batches(items: list[tuple[str, int]], documents: int) -> list[list[str]]:
    """The URIs of ``items`` (uri, number of documents) in batches of about ``documents``
    documents (an item bigger than that is a batch of its own)."""
    batches: list[list[str]] = []
    size = documents
    for uri, n in items:
        if size + n > documents and (not batches or batches[-1]):
            batches.append([])
            size = 0
        batches[-1].append(uri)
        size += n or 0
    return batches


@contextmanager
def _session(path: Path, lake: Lake, snapshot: int):
    """A DuckDB session on the warehouse file at ``path`` (its default database) with the
    lake attached read-only at ``snapshot``."""
    with duck.connect(temp_directory=lake.spill_dir()) as con:
        con.execute(f"ATTACH {duck.sql_str(path)} AS warehouse (ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
        con.execute("USE warehouse")
        lake.attach(con, read_only=True, snapshot=snapshot)
        yield con


def _run(con: duckdb.DuckDBPyConnection, script: str) -> None:
    """Run a SQL script statement by statement (comments and blank lines skipped)."""
    for statement in con.extract_statements(script):
        con.execute(statement)


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
            _build(tmp, lake, snapshot, since=None)
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
    path = as_of(data_root, as_of_run) if as_of_run else existing_warehouse(data_root)
    with readonly.connect(path, readable_files(data_root), spill=duck.spill_dir(Path(data_root).resolve())) as con:
        readonly.check(con, sql)
        try:
            cur = con.execute(sql, params or [])
        except duckdb.PermissionException as exc:  # a file, extension or setting: one line, as a refusal
            raise ValueError(f"read-only: {str(exc).splitlines()[0]} (the warehouse's tables, views and "
                             "macros are readable, no other file)") from exc
        cols = [d[0] for d in cur.description] if cur.description else []
        return cols, cur.fetchall()


if __name__ == "__main__":  # refresh_apart's child: python -m warehouse.db DATA [--force]
    try:
        print("changed" if refresh(sys.argv[1], force="--force" in sys.argv[2:]) else "unchanged")
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
