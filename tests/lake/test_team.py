"""A team's lakehouse, on real servers started by the tests: the catalog in PostgreSQL, data
and staging in an S3-compatible store (moto), normalising on a Dask cluster of two worker
processes that cannot see the flow's files; readers on other data roots; one writer per
catalog; the same lake whatever the runner."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from flows import cli
from flows.ingest import run_ingest
from tasks.lake.catalog import Lake
from tests.lake.test_lake import SMALL, _rows
from warehouse import db

pytestmark = pytest.mark.usefixtures("prefect_api")  # every test runs a flow

REPO = Path(__file__).resolve().parents[2]
# The volumes of the runner tests: 1864p3 and 1872p2v2 reprint each other's letters (clusters).
DUPLICATED = ["frus1864p3.xml", "frus1872p2v2.xml", *SMALL]


@pytest.fixture
def team(tmp_path: Path, postgres_server, s3_server, monkeypatch):
    """A fresh catalog database and bucket; the store's settings in this process's environment
    (the flow's and its children's), as a machine of the team has them."""
    name = f"team_{secrets.token_hex(4)}"
    postgres_server.createdb(name)
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    return SimpleNamespace(catalog=postgres_server.url(name), lake_data=f"s3://{s3_server.bucket()}/lake",
                           s3=s3_server, pg=postgres_server, secret=s3_server.secret_key)


def _corpus_source(corpus: Path, dest: Path) -> Path:
    """The shared corpus as conftest's ``corpus_lake`` ingests it (links to its files)."""
    dest.mkdir()
    for f in [*(corpus / "frus").rglob("*.xml"), corpus / "seed" / "000_06e3c999c372cd2d.txt",
              *(corpus / "reference").glob("*.csv")]:
        (dest / f.name).symlink_to(f)
    return dest


def _prefect_env() -> dict[str, str]:
    from prefect.settings import get_current_settings

    return {"PREFECT_API_URL": str(get_current_settings().api.url)}


def _no_secret(secret: str, *places: Path, texts: tuple[str, ...] = ()) -> None:
    for place in places:
        found = subprocess.run(["grep", "-r", "-l", "-a", "-F", secret, str(place)], capture_output=True, text=True)
        assert found.returncode == 1, f"the secret key is written in {found.stdout}"
    for text in texts:
        assert secret not in text


def test_a_team_lake_on_postgres_and_s3_normalised_on_dask_and_read_elsewhere(
        tmp_path: Path, team, corpus: Path, corpus_lake: Path, dask_cluster, capsys, caplog):
    """The shared corpus ingested with the catalog in PostgreSQL, data and staging in the store,
    normalising on two Dask workers that see none of the flow's folders; a second, empty data
    root builds its warehouse from the lake and answers Outer Mongolia; both equal a local lake."""
    work = tmp_path / "machine-a"
    work.mkdir()
    src, data = _corpus_source(corpus, work / "src"), work / "data"
    cluster = dask_cluster(env={**team.s3.env(), **_prefect_env()}, hide=[work])
    summary = run_ingest(source=str(src), data_dir=str(data), catalog=team.catalog, lake_data=team.lake_data,
                         dask_address=cluster.address, follow_links=True)
    assert summary["status"] == "completed", summary
    assert summary["items_new"] == 19 + 2 + 1 + 6  # the volumes, the excerpts, the page, the lists
    assert not (data / "lake" / "data").exists() and not any((data / "lake" / "staging").iterdir())
    keys = [o["Key"] for o in team.s3.client().list_objects_v2(Bucket=team.lake_data.split("/")[2])["Contents"]]
    assert any(k.startswith("lake/main/documents/") for k in keys)
    assert not any(k.startswith("lake/_staging/") for k in keys)  # (cleared after the commit)
    assert _rows(data) == _rows(corpus_lake)

    reader = tmp_path / "laptop"
    assert cli.main(["refresh", "--catalog", team.catalog, "--lake-data", team.lake_data, "--data", str(reader)]) == 0
    capsys.readouterr()
    assert cli.main(["search", "Outer Mongolia", "--phrase", "--data", str(reader), "--format", "json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert sorted(h["doc_key"] for h in hits) == ["frus1919Parisv01/d37", "frus1938v03/d83"]
    assert _rows(reader) == _rows(corpus_lake)
    assert cli.main(["status", "--data", str(reader), "--format", "json"]) == 0
    status = capsys.readouterr().out
    assert summary["run_id"] in status  # the reader sees the writer's run
    assert cli.main(["refresh", "--data", str(reader)]) == 0  # nothing changed: nothing to do
    assert "already up to date" in capsys.readouterr().err
    _no_secret(team.secret, data, reader, cluster.root,
               texts=(status, caplog.text, json.dumps(summary, default=str)))
