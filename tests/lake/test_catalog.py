"""The lake's connections: its schema brought up to the model once a schema version, and the
snapshot the warehouse follows read without the lake's items."""
from __future__ import annotations

from pathlib import Path

from tasks.lake import base, duck
from tasks.lake.catalog import Lake
from tasks.lake.schema import RUNS


def _runs_columns(lake: Lake) -> list[str]:
    with lake.connect(read_only=True) as con:
        return [r[0] for r in con.execute("DESCRIBE lake.runs").fetchall()]


def test_a_writable_connection_brings_the_schema_up_once_a_schema_version(tmp_path: Path):
    lake = Lake(tmp_path / "data")
    lake.ensure()
    with lake.connect() as con:  # (checked: the pair is remembered)
        version = base._schema_version(con)
    assert (lake.catalog, version) in base._CURRENT
    con = duck.connect(temp_directory=lake.spill_dir())  # an older lake: a column fewer
    try:
        lake.attach(con)
        con.execute("ALTER TABLE lake.runs DROP COLUMN refresh_seconds")
    finally:
        con.close()
    assert "refresh_seconds" not in _runs_columns(lake)
    with lake.connect() as con:  # a new schema version: checked again, the column is back
        assert base._schema_version(con) > version
    assert _runs_columns(lake) == RUNS.names
    assert lake.data_snapshot() == lake.state().data_snapshot is not None


def test_a_lake_not_yet_made_has_no_data_snapshot(tmp_path: Path):
    assert Lake(tmp_path / "none").data_snapshot() is None
