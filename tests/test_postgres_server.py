"""The throwaway PostgreSQL server of the tests: 127.0.0.1 only, gone with its test process
(the lake on it: tests/lake/test_lake.py)."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import postgres_server as pgs
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.slow  # PostgreSQL servers


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_server_runs_on_localhost_and_leaves_nothing():
    with PostgresServer() as pg:
        root, port = pg.root, pg.port
        assert listening(port) and root.is_dir()
        assert pg.url() == f"postgresql://postgres@127.0.0.1:{port}/frus"
        assert '"listen_addresses=127.0.0.1"' in (root / "data" / "postmaster.opts").read_text()
    assert not root.exists() and not listening(port)


def test_server_dies_with_a_killed_process():
    """A test process killed with SIGKILL runs no cleanup: the watchdog stops its server."""
    code = ("import json, os, signal; from tests.postgres_server import PostgresServer; "
            "pg = PostgresServer().start(); print(json.dumps([str(pg.root), pg.port]), flush=True); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    repo = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120)
    root, port = json.loads(run.stdout)
    deadline = time.monotonic() + 30
    while (Path(root).exists() or listening(port)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(root).exists() and not listening(port)


def test_missing_binaries_say_make_setup(monkeypatch):
    monkeypatch.setattr(pgs.glob, "glob", lambda pattern: [])
    with pytest.raises(RuntimeError, match="make setup"):
        PostgresServer()
