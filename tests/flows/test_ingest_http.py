"""The ingest flow on an HTTP source (a real server on 127.0.0.1): conditional re-runs, and
the lake lock and kill safety, made deterministic by parking one volume's GET on the server."""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flows.ingest import ingest, run_ingest
from tasks.lake.catalog import Lake
from tests.http_server import serving
from tests.prefect_server import copy_database
from warehouse import db

pytestmark = pytest.mark.usefixtures("prefect_api")  # every test runs a flow

# Served in this order; the last one is the volume a test holds on the server.
VOLUMES = ["frus1894Nicaragua", "frus1873p2v3", "frus1872p2v4"]
DOCS = {"frus1894Nicaragua": 138, "frus1873p2v3": 23, "frus1872p2v4": 34}
WAIT = 120  # seconds a test waits for a run to reach a point; it fails past that


@pytest.fixture
def server(tmp_path: Path, volumes_dir: Path):
    root = tmp_path / "www"
    root.mkdir()
    for vid in VOLUMES:
        shutil.copy(volumes_dir / f"{vid}.xml", root)
    with serving(root) as server:
        yield server


def _sweep_group(pgid: int) -> None:
    """Kill what is left of a killed run's process group: after a Ctrl-C the CLI exits 130, but
    a worker of its process pool was seen to outlive it, orphaned, for the rest of the session."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # nothing left


def _query(data: Path, sql: str) -> list[tuple]:
    with db.connect(db.warehouse_path(data), read_only=True) as con:
        return con.execute(sql).fetchall()


def _snapshot(data: Path) -> dict[str, list]:
    tables = ["volumes", "documents", "parts", "footnotes", "rejects"]
    return {t: sorted(map(repr, _query(data, f"SELECT * FROM {t}"))) for t in tables}


def test_http_runs_download_once(server, tmp_path: Path):
    data, base = tmp_path / "data", f"{server.url}/v"
    first = run_ingest(source=base, data_dir=str(data), volumes=VOLUMES)
    assert first["status"] == "completed", first
    assert first["items_new"] == 3 and first["items_failed"] == 0
    assert _query(data, "SELECT volume_id, count(*) FROM document_versions GROUP BY ALL ORDER BY 1") == \
        sorted(DOCS.items())
    assert sorted(_query(data, "SELECT DISTINCT source_uri FROM documents")) == \
        sorted((f"{base}/{vid}.xml",) for vid in VOLUMES)
    before = _snapshot(data)

    second = run_ingest(source=base, data_dir=str(data), volumes=VOLUMES)
    assert second["items_unchanged"] == 3 and second["items_new"] == second["items_changed"] == 0
    assert server.bodies == {f"/v/{vid}.xml": 1 for vid in VOLUMES}  # no second download
    assert _snapshot(data) == before


def test_concurrent_ingests_skip_or_wait(server, tmp_path: Path, caplog):
    """A run that finds the lake locked by another is skipped (``wait=False``), on record,
    changing nothing; or it says it waits, and runs after (``wait=True``)."""
    data, base = tmp_path / "data", f"{server.url}/v"
    arrived, release = server.hold(f"/v/{VOLUMES[-1]}.xml")
    results: dict[str, dict] = {}

    def run(name: str, **options) -> threading.Thread:
        thread = threading.Thread(target=lambda: results.update(
            {name: run_ingest(source=base, data_dir=str(data), volumes=VOLUMES, **options)}), daemon=True)
        thread.start()
        return thread

    def waiting() -> bool:
        return any("waiting for it to finish" in r.getMessage() for r in caplog.records)

    first = run("first")
    try:
        # The first run holds the lock from start to end; it is parked on its last fetch.
        assert arrived.wait(WAIT), "the first run never fetched its last volume"
        with caplog.at_level(logging.WARNING):
            skipped = ingest(source=base, data_dir=str(data), volumes=VOLUMES, wait=False, return_state=True)
            second = skipped.result()
            third = run("third")  # waits
            deadline = time.monotonic() + WAIT
            while not waiting():
                assert time.monotonic() < deadline and third.is_alive(), "the third run never said it waits"
                time.sleep(0.05)
            assert "third" not in results  # still waiting: the lock is held
    finally:
        release.set()
    for thread in (first, third):
        thread.join(timeout=300)
        assert not thread.is_alive()

    assert second["status"] == "skipped", second
    assert (skipped.type.value, skipped.name) == ("COMPLETED", "Skipped")  # its state says so
    assert "another ingest is running" in second["reason"]
    assert results["first"]["status"] == "completed" and results["first"]["items_new"] == 3
    assert results["third"]["status"] == "completed" and results["third"]["items_unchanged"] == 3
    assert any("skipped" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    # The skipped run is on record with its reason, and changed nothing.
    assert sorted(_query(data, "SELECT status, items_seen, message FROM runs")) == [
        ("completed", 3, ""), ("completed", 3, ""), ("skipped", 0, second["reason"])]
    assert _query(data, "SELECT count(*) FROM document_versions") == [(sum(DOCS.values()),)]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "ctrl-c"])
def test_killed_run_leaves_previous_state(server, tmp_path: Path, sig):
    """Kill an ingest (SIGKILL, or a terminal's Ctrl-C: SIGINT to its whole process group,
    Prefect's temporary API included) after it has written volumes of its own, before it
    commits: readers keep the committed state, and the next run completes. Ctrl-C stops it
    at once, saying so. (The SIGKILLed run reports to the session's API: a temporary one of
    its own would only add its start, 5-10 s of CPU.)"""
    data, base = tmp_path / "data", f"{server.url}/v"
    run_ingest(source=base, data_dir=str(data), volumes=VOLUMES[:1])
    before = _snapshot(data)
    arrived, release = server.hold(f"/v/{VOLUMES[-1]}.xml")
    log = tmp_path / "killed-run.log"
    env = dict(os.environ)
    if sig == signal.SIGINT:  # its own temporary API, which Ctrl-C reaches too (on a migrated database)
        env.pop("PREFECT_API_URL", None)
        copy_database(tmp_path / "prefect.db")
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}"
    else:
        from prefect.settings import get_current_settings

        env["PREFECT_API_URL"] = str(get_current_settings().api.url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "ingest", "--source", base, "--data", str(data),
         "--volumes", *VOLUMES],
        env=dict(env, PYTHONUNBUFFERED="1"), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=log.open("w"))
    staged = data / "lake" / "staging"
    try:
        assert arrived.wait(WAIT), f"the run never reached its last volume:\n{log.read_text()[-3000:]}"
        # Parked on its last fetch, it cannot commit; wait until it has stored the volume before.
        deadline = time.monotonic() + WAIT
        while not list(staged.glob("*/documents.parquet")):
            assert time.monotonic() < deadline, f"volume 2 never stored:\n{log.read_text()[-3000:]}"
            time.sleep(0.05)
        assert proc.poll() is None, log.read_text()[-3000:]
        os.killpg(proc.pid, sig)
        returncode = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        release.set()
        _sweep_group(proc.pid)
    if sig == signal.SIGINT:
        assert returncode == 130, log.read_text()[-3000:]
        assert "interrupted: the lake keeps its last committed state" in log.read_text()
    # The killed run wrote its second volume's files, but committed nothing.
    assert len(Lake(data).state().items) == 1  # the first run's volume only
    assert _snapshot(data) == before

    summary = run_ingest(source=base, data_dir=str(data), volumes=VOLUMES)
    assert summary["status"] == "completed", summary
    assert (summary["items_unchanged"], summary["items_new"]) == (1, 2)
    assert _query(data, "SELECT count(*) FROM document_versions") == [(sum(DOCS.values()),)]
