"""A real Prefect server on 127.0.0.1 for the tests that need one, and its children's helpers.

Every process binds 127.0.0.1 only, keeps its state in a temp dir, and is stopped (its whole
process group) whatever happens: try/finally inside the fixture. One server a test module:
its tests tell their runs apart by their data root (:func:`runs_of`).
"""
from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from prefect.client.base import PrefectHttpxSyncClient

BIN = Path(sys.executable).parent


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
        PREFECT_API_BLOCKS_REGISTER_ON_START="false",  # (no test uses a block type: 1.4 s of CPU a start)
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


def rest(api: str, method: str, path: str, **kwargs):
    """One call of the server's REST API (``path`` under ``api``), its JSON body.

    Through Prefect's own HTTP client, which retries as every Prefect client does: a 503 is the
    server's SQLite database busy (its scheduler writing runs under CI's load), not an error.
    """
    with PrefectHttpxSyncClient(base_url=api, timeout=30) as client:
        return client.request(method, f"{api}{path}", **kwargs).json()


def runs_of(runs: list[dict], data: Path) -> list[dict]:
    """The flow runs (as the API lists them) that ingested into the data root ``data``."""
    return [r for r in runs if Path(r["parameters"].get("data_dir", "")).resolve() == data.resolve()]


def _tail(path: Path, n: int = 3000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else ""


def copy_database(db: Path) -> None:
    """A copy at ``db`` of the database of this worker's test API (``prefect_api``): migrated,
    its block types registered. A server started on it skips that: 5 s of CPU instead of 10."""
    from prefect.settings import get_current_settings

    url = get_current_settings().server.database.connection_url.get_secret_value()
    source = url.removeprefix("sqlite+aiosqlite:///")
    assert source != url and Path(source).is_file(), url
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(db)) as dst:
        src.backup(dst)  # (SQLite's online backup: consistent while the server writes)


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory, prefect_api):
    """A real Prefect server (`frus server`: `prefect server start` with the project's
    settings) on a free local port, one a module; yields its API URL. Its database starts as
    a copy of the test API's (whose flow runs it then lists too: tell yours by data root)."""
    tmp_path = tmp_path_factory.mktemp("prefect-server")
    home = tmp_path / "prefect-home"
    home.mkdir()
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    log = tmp_path / "server.log"
    copy_database(tmp_path / "prefect.db")
    env = _env(home, PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "frus"), "server", "--host", "127.0.0.1", "--port", str(port)],  # (the project's way)
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


