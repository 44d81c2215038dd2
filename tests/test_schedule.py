"""The schedule end to end: a real Prefect server, `frus serve`, one scheduled run completed.

Both processes bind 127.0.0.1 only, keep their state in tmp_path, and are stopped (their
whole process groups) whatever happens: try/finally inside the fixtures.
"""
from __future__ import annotations

import inspect
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from warehouse import db

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
VOLUME = "frus1873p2v3"  # 23 documents: the smallest quick volume


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a child: no Prefect setting inherited from the test harness."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_SERVER_UI_ENABLED="false",
        PREFECT_LOGGING_LEVEL="INFO",
        **extra,
    )
    return env


def _stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    """Stop a child's whole process group: SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path: Path, n: int = 3000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else ""


@pytest.fixture
def prefect_server(tmp_path: Path):
    """A real `prefect server start` on a free local port; yields its API URL."""
    home = tmp_path / "prefect-home"
    home.mkdir()
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    log = tmp_path / "server.log"
    env = _env(home, PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=tmp_path, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"prefect server exited:\n{_tail(log)}"
            assert time.monotonic() < deadline, f"prefect server not healthy in 120 s:\n{_tail(log)}"
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        yield api
    finally:
        _stop(proc)


def _completed_runs(api: str) -> list[dict]:
    body = {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}, "limit": 10}
    r = httpx.post(f"{api}/flow_runs/filter", json=body, timeout=10)
    r.raise_for_status()
    return r.json()


def test_frus_serve_runs_the_schedule(prefect_server: str, tmp_path: Path, volumes_dir: Path):
    api = prefect_server
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(volumes_dir / f"{VOLUME}.xml", src)
    data = tmp_path / "data"
    log = tmp_path / "serve.log"
    env = _env(tmp_path / "serve-home", PREFECT_API_URL=api)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "frus"), "serve", "--interval", "5", "--source", str(src), "--data", str(data)],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=REPO, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 150
        runs: list[dict] = []
        while not runs:
            assert proc.poll() is None, f"frus serve exited ({proc.returncode}):\n{_tail(log)}"
            assert time.monotonic() < deadline, f"no scheduled run completed in 150 s:\n{_tail(log)}"
            runs = [r for r in _completed_runs(api) if r["deployment_id"]]
            time.sleep(1)
    finally:
        _stop(proc)

    run = runs[0]
    assert run["parameters"]["source"] == str(src)
    assert run["parameters"]["data_dir"] == str(data)
    assert run["auto_scheduled"], run  # made by the schedule, not by hand
    dep = httpx.get(f"{api}/deployments/{run['deployment_id']}", timeout=10).json()
    assert dep["name"] == "nightly"
    assert dep["global_concurrency_limit"]["limit"] == 1, dep
    assert dep["concurrency_options"]["collision_strategy"] in ("ENQUEUE", "CANCEL_NEW")
    assert dep["schedules"][0]["schedule"]["interval"] == 5

    with db.connect(db.warehouse_path(data), read_only=True) as con:
        docs = con.execute("SELECT count(*), min(volume_id), max(volume_id) FROM document_versions").fetchone()
        runs_rows = con.execute("SELECT status, items_new FROM runs ORDER BY started_at").fetchall()
    assert docs == (23, VOLUME, VOLUME)
    assert runs_rows[0] == ("completed", 1)


def test_nightly_deployment_definition():
    """The deployment `frus serve` registers, and prefect.yaml's twin: cron, zone, limit 1."""
    import yaml
    from prefect.client.schemas.objects import ConcurrencyLimitStrategy

    from flows.deploy import nightly_deployment
    from flows.ingest import ingest

    dep = nightly_deployment(source="git", data_dir="data")
    assert dep.name == "nightly"
    assert dep.parameters == {"source": "git", "data_dir": str(Path("data").resolve()), "volumes": None,
                              "mirror": None, "workers": None, "dask_address": None, "follow_links": False}
    (schedule,) = dep.schedules
    assert schedule.schedule.cron == "0 3 * * *"
    assert schedule.schedule.timezone == "America/New_York"
    assert dep.concurrency_limit == 1
    assert dep.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.ENQUEUE

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    (nightly,) = [d for d in spec["deployments"] if d["name"] == "nightly"]
    assert nightly["entrypoint"] == "flows/ingest.py:ingest"
    assert nightly["schedules"][0]["cron"] == schedule.schedule.cron
    assert nightly["schedules"][0]["timezone"] == schedule.schedule.timezone
    assert nightly["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}
    assert nightly["work_pool"]["name"] == "frus-pool"
    assert set(nightly["parameters"]) == set(dep.parameters)  # the twins take the same parameters
    assert set(dep.parameters) <= set(inspect.signature(ingest.fn).parameters)
