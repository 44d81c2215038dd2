"""Where the lake's files live: a store's settings from the environment only, its URLs, and
what a data root records of a team's lake (never a secret)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.lake import store
from tasks.lake.catalog import Lake

ENV = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value",
       "AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_REGION": "eu-west-3"}


def test_settings_come_from_the_usual_variables_and_hide_the_secret():
    s = store.settings(ENV)
    assert (s.key_id, s.region, s.endpoint, s.use_ssl, s.path_style) == (
        "AKIDEXAMPLE", "eu-west-3", "127.0.0.1:9000", False, True)
    assert "s3cr3t-value" not in repr(s)
    aws = store.settings({"AWS_DEFAULT_REGION": "us-west-2"})  # AWS itself: https, virtual hosts
    assert (aws.endpoint, aws.use_ssl, aws.path_style, aws.region) == (None, True, False, "us-west-2")
    assert store.settings({**ENV, "AWS_ENDPOINT_URL_S3": "https://s3.example:443"}).use_ssl
    assert not store.settings({**ENV, "AWS_S3_ADDRESSING_STYLE": "virtual"}).path_style
    with pytest.raises(ValueError, match="AWS_ENDPOINT_URL"):
        store.settings({"AWS_ENDPOINT_URL": "127.0.0.1:9000"})
    with pytest.raises(ValueError, match="FRUS_STORE_RETRIES"):
        store.settings({"FRUS_STORE_RETRIES": "many"})


def test_store_urls_are_checked():
    assert store.check_url("s3://bucket/a/b") == "s3://bucket/a/b/"
    assert store.join("s3://bucket/a/", "_staging", "x") == "s3://bucket/a/_staging/x"
    for bad in ("s3://", "s3://key:secret@bucket/x", "s3://bucket/a/../b", "s3://bucket/x?versionId=1"):
        with pytest.raises(ValueError):
            store.check_url(bad)


def test_a_data_root_records_a_team_lake_without_secrets(tmp_path: Path):
    with pytest.raises(ValueError, match="PGPASSWORD"):
        Lake(tmp_path / "a", "postgresql://frus:hunter2@db:5432/lake", "s3://bucket/lake")
    with pytest.raises(ValueError, match="folder or s3://"):
        Lake(tmp_path / "a", "postgresql://frus@db:5432/lake", "gs://bucket/lake")
    lake = Lake(tmp_path / "a", "postgresql://frus@db:5432/lake", "s3://bucket/lake")
    assert lake.remote and lake.shared and lake.staging_root(workers_elsewhere=True) == "s3://bucket/lake/_staging"
    assert lake.staging_root() == str(tmp_path / "a" / "lake" / "staging")  # (workers of this machine)
    lake._save_settings()
    saved = json.loads((tmp_path / "a" / "lake" / "catalog.json").read_text())
    assert saved == {"catalog": "postgresql://frus@db:5432/lake", "data_path": "s3://bucket/lake/"}
    # the same settings given again (spelled without the final /) are the data root's own
    assert Lake(tmp_path / "a", "postgresql://frus@db:5432/lake", "s3://bucket/lake").data_path == "s3://bucket/lake/"
    with pytest.raises(ValueError, match="new data root only"):
        Lake(tmp_path / "a", "postgresql://frus@db:5432/other", "s3://bucket/lake")
    local = Lake(tmp_path / "b")
    assert not local.remote and not local.shared
    assert local.staging_root() == str(tmp_path / "b" / "lake" / "staging")


def test_a_stored_item_takes_the_run_start_as_its_ingest_time():
    """Versions of a document rank by ingest time: the run's, not when a worker finished."""
    from tasks.lake.base import LakeState, Staged
    from tasks.lake.changes import Changes
    from tasks.records import ItemEntry, RunReport, utcnow
    from tasks.sources import SourceItem

    report = RunReport("run-1", "src", utcnow())
    changes = Changes(LakeState(), report)
    for name, finished in (("a.xml", "2030-01-01T00:00:09+00:00"), ("b.xml", "2030-01-01T00:00:01+00:00")):
        item = SourceItem(name, f"file:///src/{name}", "v1")
        entry = ItemEntry(item.uri, name[0], "0" * 64, "v1", "p", "run-1", finished, 1, name=name)
        changes.stored(item, Staged(entry, "/staged"), 0.1, {})
    assert {s.entry.ingested_at for s in changes.staged} == {report.started_at.isoformat()}


def test_secrets_never_echoed_in_errors():
    from tasks.sources.uri import hide_password

    with pytest.raises(ValueError) as raised:
        store.check_url("s3://AKID:s3cr3t@bucket/lake")
    assert "s3cr3t" not in str(raised.value)
    with pytest.raises(ValueError, match="go together"):
        store.settings({"AWS_ACCESS_KEY_ID": "AKID"})
    with pytest.raises(ValueError, match="PGPASSWORD"):
        Lake(Path("/nonexistent-root"), "postgresql://frus@db/lake?password=hunter2", "s3://b/lake")
    quoted = "Unable to connect to Postgres at \"dbname='x' host='h' password='hun\\'ter2' user='u'\""
    assert "hun" not in hide_password(quoted) and "user='u'" in hide_password(quoted)
    assert "hunter2" not in hide_password("password=hunter2 host=h")


def test_a_commit_on_a_lake_another_wrote_since_commits_nothing(tmp_path: Path):
    """The last guard of one writer per catalog: a commit that expects the lake's last data
    snapshot the run started from finds another's, and commits nothing."""
    from tasks.records import RunReport, utcnow

    lake = Lake(tmp_path / "data")
    lake.ensure()
    start = lake.data_snapshot()
    row = RunReport("run-1", "src", utcnow(), utcnow(), "completed").row()
    lake.commit(row, updated=[], failures={}, expect_data_snapshot=start)  # (its own: commits)
    with pytest.raises(RuntimeError, match="another ingest committed"):
        lake.commit({**row, "run_id": "run-2"}, failures={}, expect_data_snapshot=start)
    with lake.connect(read_only=True) as con:
        assert [r for (r,) in con.execute("SELECT run_id FROM lake.runs").fetchall()] == ["run-1"]
