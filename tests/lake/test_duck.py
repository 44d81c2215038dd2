"""Extensions on the pipeline's trusted connections: DuckDB checks each file's signature once a
process, again when the file changes, and never lets an analyst's connection load unsigned ones.
Every connection's threads follow ``FRUS_DUCKDB_THREADS``."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest

from tasks.lake import duck
from warehouse import readonly


def _copy(tmp_path: Path, folder: str) -> Path:
    """The sqlite extension copied under the name DuckDB loads it by."""
    target = tmp_path / folder / "sqlite_scanner.duckdb_extension"
    target.parent.mkdir()
    shutil.copyfile(duck.extension_path("sqlite"), target)
    return target


def test_a_trusted_connection_loads_the_checked_extensions():
    with duck.connect(trusted=True) as con:
        duck.load(con, "ducklake", "sqlite")
        loaded = {n for (n,) in con.execute(
            "SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()}
    assert {"ducklake", "sqlite_scanner"} <= loaded
    assert duck.extension_path("ducklake") in duck._CHECKED


def test_a_tampered_extension_is_refused_and_a_changed_file_checked_again(tmp_path: Path):
    good = _copy(tmp_path, "good")
    duck._checked(good)
    assert good in duck._CHECKED
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte of the code: its signature no longer matches
    # (the file changed since its check; a new file in its place: rewriting the one this process
    # loaded would change the library's mapped code under it, a crash at exit)
    tampered = good.with_name("tampered.tmp")
    tampered.write_bytes(bytes(data))
    os.replace(tampered, good)
    with pytest.raises(duckdb.Error, match="(?i)signature"):
        duck._checked(good)
    bad = _copy(tmp_path, "bad")
    bad.write_bytes(bytes(data))
    with pytest.raises(duckdb.Error, match="(?i)signature"):
        duck._checked(bad)
    assert bad not in duck._CHECKED


def test_an_analysts_connection_loads_signed_extensions_only(tmp_path: Path):
    warehouse = tmp_path / "w.duckdb"
    duckdb.connect(str(warehouse)).close()
    con = readonly.connect(warehouse, [], duck.spill_dir(tmp_path))
    try:
        assert con.execute("SELECT current_setting('allow_unsigned_extensions')").fetchone()[0] is False
    finally:
        con.close()
    with duck.connect() as con:
        assert con.execute("SELECT current_setting('allow_unsigned_extensions')").fetchone()[0] is False


def test_threads_follow_the_setting_on_every_connection(tmp_path: Path, monkeypatch):
    warehouse = tmp_path / "w.duckdb"
    duckdb.connect(str(warehouse)).close()
    monkeypatch.setenv(duck.THREADS, "3")
    with duck.connect(trusted=True) as con:
        assert con.execute("SELECT current_setting('threads')").fetchone()[0] == 3
    with duck.connect(threads=2) as con:  # (a caller's own count wins)
        assert con.execute("SELECT current_setting('threads')").fetchone()[0] == 2
    con = readonly.connect(warehouse, [], duck.spill_dir(tmp_path))  # an analyst's
    try:
        assert con.execute("SELECT current_setting('threads')").fetchone()[0] == 3
    finally:
        con.close()
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(duck.THREADS, bad)
        with pytest.raises(ValueError, match=f"FRUS_DUCKDB_THREADS='{bad}'"):
            duck.connect()
