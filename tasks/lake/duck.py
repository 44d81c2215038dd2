"""DuckDB connections with extensions loaded by path from their pip packages (offline).

Autoinstall and autoload are off: an extension is loaded from ``duckdb-extension-<name>``
only, never downloaded. The sqlite and postgres extensions load only under their internal
names (``sqlite_scanner``, ``postgres_scanner``), so they are linked under those names in a
link beside the package's file (once, atomically).
"""
from __future__ import annotations

import importlib.resources
import os
import secrets
from pathlib import Path

import duckdb
import pyarrow as pa

# The external file cache keeps the blocks of every Parquet file a connection reads in memory:
# a commit reading each staged file once held a share of every volume (400 MB of cache and its
# overhead at 50 copies). Local files have the page cache; remote ones are read once a phase.
CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False,
          "enable_external_file_cache": False}
# package module, file in the package, the name DuckDB loads it under
_EXTENSIONS = {
    "ducklake": ("duckdb_extension_ducklake", "ducklake", "ducklake"),
    "sqlite": ("duckdb_extension_sqlite", "sqlite", "sqlite_scanner"),
    "postgres": ("duckdb_extension_postgres", "postgres", "postgres_scanner"),
    "httpfs": ("duckdb_extension_httpfs", "httpfs", "httpfs"),
}
MEMORY_LIMIT = os.environ.get("FRUS_DUCKDB_MEMORY", "768MB")  # peak RSS follows the largest volume
# A commit's deduplication holds, beside DuckDB's tables, a batch of candidates and their texts
# in Python: its DuckDB gets less (a first ingest of 50 copies of the corpus peaked at 694 MB
# with 400MB, 624 MB with 300MB; links in Python, before: 845 MB with 400MB).
DEDUPE_MEMORY_LIMIT = os.environ.get("FRUS_DUCKDB_DEDUPE_MEMORY", "300MB")
# The warehouse update's sessions: DuckDB keeps the blocks a session reads and writes cached up
# to its limit, so on a big warehouse the process grows by the whole limit. A whole build of 50
# copies of the corpus (`frus refresh --force`) peaked at 797 MB with 512MB and 573 MB with
# 320MB, in the same time (135 s and 138 s); the tokens of the index statements are held outside
# the limit (warehouse/build.py's INDEX_WORDS).
WAREHOUSE_MEMORY_LIMIT = os.environ.get("FRUS_DUCKDB_WAREHOUSE_MEMORY", "320MB")
# DuckDB's threads a connection (default: its own, one a core). Processes sharing the cores
# (the test suite's workers, several ingests side by side) set fewer: on the tests' small
# lakes a statement takes milliseconds, and two threads a process over two cores only add CPU
# (12 small ingests: 31 s of CPU with DuckDB's default, 24 s with one thread, in the same wall).
THREADS = "FRUS_DUCKDB_THREADS"
SPILL = ".duckdb-tmp"  # in the data root: the spill folders of its connections


def spill_dir(data_root: Path | str) -> Path:
    """A spill folder of one connection's own, ``DATA/.duckdb-tmp/<pid>-<random>``: DuckDB's
    temporary file names are the same in every process, so two processes spilling into one
    folder overwrite each other's files. DuckDB creates it when it spills and removes it
    when the connection closes; a killed process's is swept by the next ingest."""
    parent = Path(data_root) / SPILL
    parent.mkdir(exist_ok=True)  # (DuckDB creates the folder itself, not its parents)
    return parent / f"{os.getpid()}-{secrets.token_hex(4)}"


def extension_path(name: str) -> Path:
    """The file of extension ``name`` for this duckdb, under the name DuckDB expects."""
    module, stem, load_as = _EXTENSIONS[name]
    root = Path(str(importlib.resources.files(module)))
    path = root / "extensions" / f"v{duckdb.__version__}" / f"{stem}.duckdb_extension"
    if not path.exists():
        raise RuntimeError(f"DuckDB extension {name} not found at {path}: "
                           f"pip install duckdb-extension-{name}=={duckdb.__version__}")
    if stem == load_as:
        return path
    target = path.with_name(f"{load_as}.duckdb_extension")
    if not target.exists():
        tmp = target.with_name(f".{target.name}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        os.symlink(path.name, tmp)
        os.replace(tmp, target)  # atomic: parallel processes never see half a link
    return target


# Extension files whose signature DuckDB checked in this process: their (inode, size, mtime).
_CHECKED: dict[Path, tuple[int, int, int]] = {}


def _load_sql(path: Path) -> str:
    return f"LOAD {sql_str(path)}"


def _checked(path: Path) -> None:
    """Have DuckDB check the signature of the extension at ``path`` (a throwaway connection),
    once a process and again whenever the file changes."""
    st = path.stat()
    key = (st.st_ino, st.st_size, st.st_mtime_ns)
    if _CHECKED.get(path) != key:
        with duckdb.connect(config=CONFIG) as con:
            con.execute(_load_sql(path))  # (raises on a file not signed by DuckDB)
        _CHECKED[path] = key


def load(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """Load extensions ``names`` by path; on a ``trusted`` connection (:func:`connect`), once
    DuckDB has checked the file's signature in this process."""
    trusted = con.execute("SELECT current_setting('allow_unsigned_extensions')").fetchone()[0]
    for name in names:
        path = extension_path(name)
        if trusted:
            _checked(path)
        con.execute(_load_sql(path))


def connect(path: Path | str = ":memory:", read_only: bool = False,
            memory_limit: str | None = MEMORY_LIMIT, threads: int | None = None,
            temp_directory: Path | None = None, trusted: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection: autoinstall off, a memory limit, no extension loaded yet.

    ``temp_directory``: where DuckDB spills beyond its memory limit (an in-memory connection
    would spill to ``./.tmp`` of the working directory: give one inside the data root).
    ``trusted``: for the pipeline's own connections, which run only its SQL. Checking an
    extension's signature reads the whole file (35 MB for ducklake): 70 ms a load, 12 loads
    in a small ingest. :func:`load` has it checked once a process, then loads it unchecked.
    Never for a connection that runs an analyst's SQL: there any unsigned file would load."""
    config = dict(CONFIG)
    if trusted:
        config["allow_unsigned_extensions"] = True
    if temp_directory is not None:
        config["temp_directory"] = str(temp_directory)
    if memory_limit:
        config["memory_limit"] = memory_limit
    threads = threads or _threads()
    if threads:
        config["threads"] = threads
    return duckdb.connect(str(path), read_only=read_only, config=config)


def _threads() -> int | None:
    value = os.environ.get(THREADS, "")
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{THREADS}={value!r}: not a positive number of threads")
    return int(value)


def temp_table(con: duckdb.DuckDBPyConnection, name: str, rows: pa.Table) -> str:
    """Make (or replace) the temp table ``name`` holding ``rows``; returns ``name``.

    Python data enters DuckDB this way: an INSERT reading an Arrow object inside a DuckLake
    transaction can hang, and a list bound as a query parameter costs about 0.2 ms an element
    (80 s for the keys of the whole series)."""
    con.register("_arrow_rows", rows)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _arrow_rows")
    finally:
        con.unregister("_arrow_rows")
    return name


def temp_column(con: duckdb.DuckDBPyConnection, name: str, values, column: str = "doc_key",
                type_: pa.DataType = pa.string()) -> str:
    """:func:`temp_table` of one ``column`` holding ``values``."""
    return temp_table(con, name, pa.table({column: pa.array(list(values), type_)}))


def sql_str(value: str) -> str:
    """``value`` as a SQL string literal (for statements that take no parameters: ATTACH, LOAD)."""
    return "'" + str(value).replace("'", "''") + "'"
