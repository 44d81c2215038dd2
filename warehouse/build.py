"""Build or update a warehouse file from the lake: the SQL scripts of this folder, run in
DuckDB sessions of bounded size.

The changed items go in batches of about ``BATCH_DOCUMENTS`` documents, each in a session of
its own: a session keeps memory outside its limit for every row it writes (about 2 KB a
document version with its parts, given back only when the database closes), so one session
over the whole series held over a GB of it; a batch holds what its volumes need.
"""
from __future__ import annotations

import contextlib
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path

import duckdb

from tasks.canonical import tier_sql
from tasks.landing import inside
from tasks.lake import duck
from tasks.lake.catalog import RUNS_FILE, Lake, redacted
from warehouse import people

SQL_DIR = Path(__file__).resolve().parent
SQL_FILES = ("tables.sql", "views.sql", "changed.sql", "forget.sql", "items.sql", "ranges.sql", "index.sql",
             "terms.sql", "state.sql") + people.SQL_FILES
# What bounds an update's memory: the documents of the changed items written in one session,
# and the words the index statements running at once tokenise (INDEX_AT_ONCE statements of
# INDEX_WORDS each: 1,000 documents of the average 550 words; a range of long despatches holds
# fewer). Their tokens are held outside DuckDB's memory limit: a whole build of 10 copies of
# the corpus peaked at 685 MB with 2.5 M words, 633 MB with 1 M (one statement at a time).
BATCH_DOCUMENTS = 20_000
INDEX_AT_ONCE = 2
INDEX_WORDS = 1_000_000 // INDEX_AT_ONCE
# Row groups of 16,384 rows: a few documents' text (mentions() verifying its candidates) is a
# few row groups to read, not the whole column; and the in-memory metadata of every row group
# (about 15 KB each, held by the update and by each reader that scans the table) stays small:
# at 2,048 rows, the index of the whole series was 37,500 row groups, half a GB in each process.
ROW_GROUP_SIZE = 16_384
_ALL_ITEMS = "SELECT uri, documents FROM lake.items ORDER BY uri"


def sql(name: str) -> str:
    """The SQL script ``name`` of the warehouse folder (``{source_tier}``: the preference
    among a document's sources, written once in :mod:`tasks.canonical`)."""
    return (SQL_DIR / name).read_text().replace("{source_tier}", tier_sql())


def build(path: Path, lake: Lake, snapshot: int, fingerprint: str, since: int | None) -> None:
    """Apply the lake's changes from snapshot ``since`` to ``snapshot`` to the warehouse at
    ``path`` (``since`` None: build it whole from an empty file), recording ``snapshot`` and
    ``fingerprint`` (what else it depends on) in ``warehouse_meta``.

    No transaction spans the update: no reader opens this file before it is renamed into
    place (a failure or a kill discards it)."""
    with _session(path, lake, snapshot) as con:
        if since is None:  # (an update's file has them: it was built with this SQL, its fingerprint says)
            _run(con, sql("tables.sql"))
            runs_file = duck.sql_str(inside(lake.data_root, RUNS_FILE))
            _run(con, sql("views.sql").replace("{runs_file}", runs_file))  # (index.sql uses its macros)
        changed = con.execute(sql("changed.sql") if since is not None else _ALL_ITEMS,
                              [int(since)] * 2 if since is not None else []).fetchall()
        relink = people.prepare(con, changed, whole=since is None)  # people and places: warehouse/people.py
    for batch in _batches(changed, BATCH_DOCUMENTS):
        with _session(path, lake, snapshot) as con:
            duck.temp_column(con, "changed", batch, "uri")
            if since is not None:
                _run(con, sql("people_forget.sql"))
                _run(con, sql("forget.sql"))
            _run(con, sql("items.sql"))
            people.link_new(con)
            ranges = con.execute(sql("ranges.sql"), [INDEX_WORDS]).fetchall()
            con.execute("CREATE OR REPLACE TABLE scratch.batch_terms "
                        "(term VARCHAR, version_id INTEGER, field UTINYINT, tf INTEGER)")
            _index(con, ranges)
            # Terms as ids (terms.sql numbers the new ones), sorted by id alone: a lookup finds a
            # term's rows by the row groups' min and max id. Integers sort and store cheaper than
            # the strings (10 copies of the corpus: this insert 1.6-1.7 s, 3.0-3.4 s by term).
            con.execute(sql("terms.sql"))
            con.execute("INSERT INTO doc_terms SELECT t.term_id, b.version_id, b.field, b.tf "
                        "FROM scratch.batch_terms b JOIN terms t USING (term) ORDER BY t.term_id")
            con.execute("DROP TABLE scratch.batch_terms")
    with _session(path, lake, snapshot) as con:
        if relink:
            people.relink_all(con)
        _run(con, sql("state.sql"))
        con.execute("DELETE FROM warehouse_meta")
        con.execute("INSERT INTO warehouse_meta VALUES (?, ?, ?, "
                    "coalesce((SELECT built_at FROM warehouse_meta), now()), now())",
                    [snapshot, fingerprint, redacted(lake.catalog)])
        if since is None:
            con.execute("UPDATE warehouse_meta SET built_at = now()")
        con.execute("DETACH lake")
        con.execute("CHECKPOINT warehouse")


def _index(con: duckdb.DuckDBPyConnection, ranges: list[tuple[int, int]]) -> None:
    """index.sql over each of ``ranges``, ``INDEX_AT_ONCE`` at a time (at most one a DuckDB
    thread), each on a connection of its own. One statement runs on one thread (its range lies
    in one row group, and DuckDB parallelises a scan by row groups): run one after the other,
    the search index was a whole build's longest step, with one core idle. A failure or an
    interrupt stops every statement."""
    script = sql("index.sql")
    todo = iter(ranges)
    lock = threading.Lock()
    stop = threading.Event()
    cursors: list[duckdb.DuckDBPyConnection] = []

    def work(cur: duckdb.DuckDBPyConnection) -> None:
        cur.execute("USE warehouse")
        while not stop.is_set():
            with lock:
                bounds = next(todo, None)
            if bounds is None:
                return
            try:
                cur.execute(script, list(bounds))
            except BaseException:
                stop.set()  # (the others stop after their statement)
                raise

    (threads,) = con.execute("SELECT current_setting('threads')").fetchone()
    workers = max(1, min(INDEX_AT_ONCE, int(threads), len(ranges)))
    # One DuckDB thread a statement: with the session's threads each, the statements competed
    # for the same cores (10 copies of the corpus: the index took 6.4-6.6 s, now 5.4-5.5 s).
    con.execute("SET threads = 1")
    with ThreadPoolExecutor(workers) as pool:
        try:
            cursors += [con.cursor() for _ in range(workers)]
            running = {pool.submit(work, cur) for cur in cursors}
            while running:  # (woken up now and then: a signal another thread took is handled here)
                done, running = wait(running, timeout=0.2, return_when=FIRST_EXCEPTION)
                for future in done:
                    future.result()
        except BaseException:  # (Ctrl-C: the pool would otherwise wait for every range)
            stop.set()
            for cur in cursors:
                cur.interrupt()
            raise
        finally:
            for cur in cursors:
                cur.close()
            with contextlib.suppress(duckdb.Error):  # (a failed session ends anyway)
                con.execute(f"SET threads = {int(threads)}")


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


@contextlib.contextmanager
def _session(path: Path, lake: Lake, snapshot: int):
    """A DuckDB session on the warehouse file at ``path`` (its default database) with the
    lake attached read-only at ``snapshot``."""
    with duck.connect(temp_directory=lake.spill_dir(), memory_limit=duck.WAREHOUSE_MEMORY_LIMIT,
                      trusted=True) as con:
        # No FSST: its analysis and compression of every text and term was 6 % of a whole
        # build (50 copies of the corpus: 103 s without, 110 s with), for 2.6 % of the file's
        # size; mentions and BM25 read as fast or faster (dictionary or plain strings).
        con.execute("SET disabled_compression_methods = 'fsst'")
        con.execute(f"ATTACH {duck.sql_str(path)} AS warehouse (ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
        con.execute("USE warehouse")
        con.execute("ATTACH ':memory:' AS scratch")  # (a temp table is its connection's alone)
        lake.attach(con, read_only=True, snapshot=snapshot)
        yield con


def _run(con: duckdb.DuckDBPyConnection, script: str) -> None:
    """Run a SQL script statement by statement (comments and blank lines skipped)."""
    for statement in con.extract_statements(script):
        con.execute(statement)
