"""`frus ingest --replay`: re-normalise from the landing zone without fetching."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows import cli
from flows.ingest import run_ingest
from tasks.landing import raw_path
from tasks.records import PARSER_VERSION
from tasks.lake.catalog import Lake
from warehouse import db

pytestmark = pytest.mark.usefixtures("prefect_api")  # every test runs a flow

VOLUMES = ["frus1873p2v3.xml", "frus1894Nicaragua.xml"]


def _age_parser(data: Path, version: str = "0.0.1") -> None:
    """Make the lake look written by an older parser (what a parser upgrade leaves behind)."""
    with Lake(data).connect() as con:
        con.execute("UPDATE lake.items SET parser_version = ?", [version])


def test_replay_renormalises_from_raw_without_the_source(tmp_path: Path, volumes_dir: Path, capsys):
    src, data = tmp_path / "src", tmp_path / "data"
    src.mkdir()
    for name in VOLUMES:
        shutil.copy2(volumes_dir / name, src / name)
    first = run_ingest(source=str(src), data_dir=str(data))
    shutil.rmtree(src)  # the source is gone: replay must not need it

    same = run_ingest(source="replay", data_dir=str(data))
    assert same["items_unchanged"] == 2 and same["items_changed"] == 0

    _age_parser(data)
    assert cli.main(["ingest", "--replay", "--data", str(data)]) == 0
    capsys.readouterr()
    entries = Lake(data).state().items.values()
    assert {e.parser_version for e in entries} == {PARSER_VERSION}
    assert {e.source for e in entries} == {str(src)}  # replay keeps where items came from
    with db.connect(db.warehouse_path(data), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM document_versions").fetchone()[0] == first["documents_added"]
        runs = con.execute("SELECT source, items_changed, documents_updated FROM runs "
                           "ORDER BY started_at").fetchall()
    assert runs[-1] == ("replay", 2, first["documents_added"])


def test_replay_names_an_item_missing_from_the_landing_zone(tmp_path: Path, volumes_dir: Path):
    src, data = tmp_path / "src", tmp_path / "data"
    src.mkdir()
    for name in VOLUMES:
        shutil.copy2(volumes_dir / name, src / name)
    run_ingest(source=str(src), data_dir=str(data))
    _age_parser(data)
    gone = next(e for e in Lake(data).state().items.values() if e.name == VOLUMES[0])
    blob = raw_path(data, gone.sha256)
    blob.chmod(0o644)
    blob.unlink()
    summary = run_ingest(source="replay", data_dir=str(data), volumes=["frus18*"])
    assert summary["items_failed"] == 1 and summary["items_changed"] == 1
    assert "not in the landing zone" in summary["failures"][0] and VOLUMES[0] in summary["failures"][0]
    with db.connect(db.warehouse_path(data), read_only=True) as con:
        reasons = [r[0] for r in con.execute("SELECT reason FROM rejects WHERE place = ?", [VOLUMES[0]]).fetchall()]
    assert any("not in the landing zone" in r for r in reasons)
