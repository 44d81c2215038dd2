"""The analysts' SQL entry point, read-only for real (``frus sql``, ``frus search``, ``frus status``).

Two guards, each holding on its own:

- The statement. One statement only: a SELECT (DuckDB parses FROM, WITH, VALUES, TABLE,
  DESCRIBE, SHOW, SUMMARIZE and PIVOT as one), or EXPLAIN [ANALYZE] of one. EXPLAIN ANALYZE
  runs its statement, so the text after ``EXPLAIN``, ``ANALYZE`` and any ``(options)`` is
  checked the same way (DuckDB's tokenizer finds it: comments, case and white space do not
  matter). Anything else is refused before it runs, with a one-line ValueError.
- The connection. A fresh in-memory DuckDB (never an instance another connection of this
  process shares) with the warehouse attached READ_ONLY, external access off (no file,
  network, extension or Python object is reachable but the warehouse's own files and the
  ``allowed_paths`` given: the files its views read), Python replacement scans off, and the
  configuration locked: all of it before the statement is even parsed (DuckDB expands
  PRAGMA and IMPORT DATABASE while parsing).
"""
from __future__ import annotations

import re
from pathlib import Path

import duckdb

from tasks.lake import duck

ALLOWED = ("allowed: one SELECT, FROM, WITH, VALUES, TABLE, DESCRIBE, SHOW, SUMMARIZE or PIVOT "
           "statement, or EXPLAIN [ANALYZE] of one")
# first words of the statements DuckDB parses as SELECT ("(" opens a parenthesised query)
SELECT_WORDS = frozenset({"select", "from", "with", "values", "table", "describe", "desc", "show",
                          "summarize", "pivot", "unpivot", "pivot_wider", "pivot_longer", "("})
_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_$]*")


def lockdown(paths: list[Path]) -> list[str]:
    """The settings, in order, that leave a connection reading only its databases and
    ``paths`` (the duckdb shell runs the same through ``-cmd``, then ``.safe_mode``)."""
    allowed = ", ".join(duck.sql_str(str(p)) for p in paths)
    return [f"SET allowed_paths = [{allowed}]", "SET enable_external_access = false"]


def connect(database: Path, allowed_paths: list[Path], spill: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory connection (``duck.connect``: autoinstall off, memory limit) with
    ``database`` attached read-only as ``warehouse`` and in use, reading no file but its own
    and ``allowed_paths``, its configuration locked.

    It spills (beyond its memory limit) to ``spill``, a folder of its own (``duck.spill_dir``)."""
    con = duck.connect(temp_directory=spill)
    try:
        con.execute(f"ATTACH {duck.sql_str(str(database))} AS warehouse (READ_ONLY)")
        con.execute("USE warehouse")
        con.execute("SET python_enable_replacements = false")
        for setting in lockdown(allowed_paths):
            con.execute(setting)
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def check(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse ``sql`` unless it is one read-only statement.

    Raises:
        ValueError: (one line) it is empty, holds several statements, or one that is not a
            SELECT or an EXPLAIN [ANALYZE] of one.
        duckdb.ParserException: it is not SQL.
    """
    problem = _problem(con, sql, "")
    if problem:
        raise ValueError(problem)


def _problem(con: duckdb.DuckDBPyConnection, text: str, explained: str) -> str | None:
    """Why ``text`` is refused (None: it is read-only); ``explained``: the EXPLAIN [ANALYZE]
    prefixes it stood behind."""
    raw = text.encode()
    tokens = [offset for offset, _ in duckdb.tokenize(text)]  # byte offsets; comments left out
    words = [_word(raw, t) for t in tokens]
    count = _statements(words)
    if count == 0:
        return "empty query"
    if count > 1:
        return f"read-only: one statement at a time ({count} given; {ALLOWED})"
    first = words[0]
    if first not in SELECT_WORDS and first != "explain":
        return _refused(explained + first.upper())  # before parsing: IMPORT expands at parse time
    statements = con.extract_statements(text)
    if len(statements) != 1:  # PIVOT without an IN list creates a type first
        hint = "; give PIVOT an IN list" if first == "pivot" else ""
        return f"read-only: one statement at a time ({len(statements)} given{hint}; {ALLOWED})"
    kind = statements[0].type
    if kind == duckdb.StatementType.EXPLAIN and first == "explain":
        i, analyze = 1, False
        while i < len(words) and words[i] in ("analyze", "analyse", "("):
            end = _closing(words, i) if words[i] == "(" else i + 1
            analyze = analyze or any(w in ("analyze", "analyse") for w in words[i:end])
            i = end
        if i >= len(words):
            return _refused(explained + "EXPLAIN")
        inner = raw[tokens[i]:].decode()  # the explained statement, as written
        return _problem(con, inner, explained + ("EXPLAIN ANALYZE " if analyze else "EXPLAIN "))
    if kind != duckdb.StatementType.SELECT or first == "explain":
        return _refused(explained + (kind.name if first in SELECT_WORDS else first.upper()))
    return None


def _refused(what: str) -> str:
    return f"read-only: {what} statements are refused ({ALLOWED})"


def _word(raw: bytes, offset: int) -> str:
    """The token at ``offset``: a word in lower case, or its first character."""
    m = _WORD.match(raw, offset)
    return m.group().decode().lower() if m else raw[offset:offset + 1].decode(errors="replace")


def _statements(words: list[str]) -> int:
    """How many non-empty statements the tokens hold (split at ``;``)."""
    count, open_ = 0, False
    for w in words:
        if w == ";":
            open_ = False
        elif not open_:
            count, open_ = count + 1, True
    return count


def _closing(words: list[str], start: int) -> int:
    """The index after the ``)`` closing the ``(`` at ``start``."""
    depth = 0
    for i in range(start, len(words)):
        depth += {"(": 1, ")": -1}.get(words[i], 0)
        if depth == 0:
            return i + 1
    return len(words)
