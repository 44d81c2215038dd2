"""The warehouse's index statements run several at once (warehouse/build.py's _index), each on
a DuckDB connection of its own: an error or an interrupt in one stops them all."""
from __future__ import annotations

import os
import signal
import threading
import time

import duckdb
import pytest

from warehouse import build

RANGES = 40


@pytest.fixture
def warehouse(monkeypatch):
    """An in-memory warehouse of RANGES one-document ranges whose index statements each take
    a quarter of a second (a Python function index.sql calls once a statement), and fail for
    the versions in ``scratch.fail``."""
    con = duckdb.connect(config={"threads": 2})
    con.execute("ATTACH ':memory:' AS warehouse")
    con.execute("USE warehouse")
    con.execute("ATTACH ':memory:' AS scratch")
    con.execute(f"CREATE TABLE document_versions AS SELECT i::INTEGER AS version_id, 'Title' AS title, "
                f"'alpha beta ' || i AS text FROM range(1, {RANGES + 1}) t(i)")
    con.execute(f"CREATE TABLE footnote_rows AS SELECT i::INTEGER AS version_id, 'a note' AS text "
                f"FROM range(1, {RANGES + 1}) t(i)")
    con.execute("CREATE TABLE doc_terms (term VARCHAR, version_id INTEGER, field UTINYINT, tf INTEGER)")
    con.execute("CREATE TABLE scratch.batch_terms AS FROM doc_terms LIMIT 0")
    con.execute("CREATE MACRO frus_terms(s) AS regexp_extract_all(lower(coalesce(s, '')), '[\\pL\\pN]+')")

    def nap(version_id: int) -> int:
        time.sleep(0.25)
        return version_id

    con.create_function("nap", nap, ["BIGINT"], "BIGINT", side_effects=True)
    con.execute("CREATE TABLE scratch.fail (version_id INTEGER)")
    index_sql = build.sql("index.sql")
    where = "WHERE d.version_id >= $1 AND d.version_id < $2\n"
    assert where in index_sql
    slowed = index_sql.replace(where, where.rstrip("\n") + " AND CASE WHEN d.version_id IN (FROM scratch.fail) "
                               "THEN error('no index for version ' || d.version_id) ELSE nap(d.version_id) > 0 END\n")
    monkeypatch.setattr(build, "sql", lambda name: slowed)
    yield con
    con.close()


def _statements_run(con) -> int:
    return con.execute("SELECT count(DISTINCT version_id) FROM scratch.batch_terms").fetchone()[0]


def test_all_ranges_indexed_two_at_a_time(warehouse):
    con = warehouse
    build._index(con, [(i, i + 1) for i in range(1, 11)])
    assert _statements_run(con) == 10
    assert con.execute("SELECT current_setting('threads')").fetchone() == (2,)  # (one each while they ran)
    rows = con.execute("SELECT term, version_id, field, tf FROM scratch.batch_terms "
                       "WHERE version_id = 3 ORDER BY ALL").fetchall()
    assert rows == [("3", 3, 0, 1), ("a", 3, 1, 1), ("alpha", 3, 0, 1), ("beta", 3, 0, 1),
                    ("note", 3, 1, 1), ("title", 3, 0, 1)]


def test_an_interrupt_stops_every_statement(warehouse):
    """Ctrl-C (KeyboardInterrupt in the main thread) ends the index step within a statement,
    not after every remaining range has run."""
    con = warehouse
    threading.Timer(0.6, os.kill, [os.getpid(), signal.SIGINT]).start()
    with pytest.raises(KeyboardInterrupt):
        build._index(con, [(i, i + 1) for i in range(1, RANGES + 1)])
    assert _statements_run(con) < RANGES // 2


def test_a_failing_statement_fails_the_step_with_its_error(warehouse):
    con = warehouse
    con.execute("INSERT INTO scratch.fail VALUES (5)")
    with pytest.raises(duckdb.Error, match="no index for version 5"):
        build._index(con, [(i, i + 1) for i in range(1, RANGES + 1)])
    assert _statements_run(con) < RANGES // 2
    assert con.execute("SELECT current_setting('threads')").fetchone() == (2,)
