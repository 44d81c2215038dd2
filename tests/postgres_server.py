"""A throwaway PostgreSQL server for tests: 127.0.0.1 only, a free port, a temporary
directory, trust auth, a database ``frus``; stopped and removed by itself.

Uses the Debian ``postgresql`` package's binaries (``/usr/lib/postgresql/*/bin``, installed
by ``make setup``). PostgreSQL refuses to run as root, so as root the server runs as the
``postgres`` system user (``runuser``). Besides ``stop()``/``atexit``, a small watchdog
process stops the server and removes its directory if the test process dies any other way
(even ``kill -9``), so a server never outlives the tests.

    from tests.postgres_server import postgres_server   # in conftest.py: the fixture

    def test_lake(postgres_server):
        con.execute(f"ATTACH 'ducklake:postgres:{postgres_server.dsn}' AS lake ...")
"""
from __future__ import annotations

import atexit
import glob
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

USER = "postgres"  # the superuser role, and the system user the server runs as when we are root
DATABASE = "frus"
TIMEOUT = 60  # seconds for initdb, start and stop


def pg_bin() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb and pg_ctl."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    found = [d for d in found if (d / "pg_ctl").exists()]
    if not found:
        raise RuntimeError("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin: run `make setup`")
    return max(found, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else -1)


def _as_server_user() -> list[str]:
    """The command prefix that runs a program as a user PostgreSQL accepts."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise RuntimeError("runuser not found: needed to run PostgreSQL as the postgres user")
    try:
        import pwd
        pwd.getpwnam(USER)
    except KeyError:
        raise RuntimeError(f"system user {USER!r} not found (created by the postgresql package): run `make setup`")
    return [runuser, "-u", USER, "--"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cleanup(stop_cmd: list[str], root: Path) -> None:
    """Stop the server (if it runs) and remove its directory; safe to call twice."""
    if (root / "data" / "postmaster.pid").exists():
        subprocess.run(stop_cmd, cwd=root, capture_output=True, timeout=TIMEOUT)
    shutil.rmtree(root, ignore_errors=True)


def _watchdog(parent: int, root: str, stop_cmd: list[str]) -> None:
    """Wait until the parent closes our stdin or dies, then clean up after it."""
    while os.getppid() == parent and not select.select([sys.stdin], [], [], 1.0)[0]:
        pass
    _cleanup(stop_cmd, Path(root))


class PostgresServer:
    """A context manager: a started server with ``dsn``/``url`` for the database ``frus``."""

    def __init__(self) -> None:
        self.bin = pg_bin()
        self.prefix = _as_server_user()
        self.root: Path | None = None
        self.port = 0
        self._watch: subprocess.Popen | None = None
        self._stop: list[str] = []

    def dsn(self, dbname: str = DATABASE) -> str:
        """A libpq key=value string (what DuckDB's postgres extension and ducklake take)."""
        return f"dbname={dbname} host=127.0.0.1 port={self.port} user={USER}"

    def url(self, dbname: str = DATABASE) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self.prefix, *args], cwd=self.root, capture_output=True, text=True, timeout=TIMEOUT)
        if result.returncode:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{Path(args[0]).name} failed ({result.returncode}): {result.stdout}{result.stderr}{tail}")

    def createdb(self, name: str) -> str:
        """Create another database; returns its ``dsn``."""
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name)
        return self.dsn(name)

    def start(self) -> "PostgresServer":
        self.root = Path(tempfile.mkdtemp(prefix="frus-pg-"))
        if self.prefix:
            shutil.chown(self.root, USER, USER)
        data = self.root / "data"
        self._stop = [*self.prefix, str(self.bin / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate", "-w"]
        # The watchdog first, so that nothing started below can be orphaned.
        self._watch = subprocess.Popen(
            [sys.executable, __file__, "--watchdog", str(os.getpid()), str(self.root), *self._stop],
            stdin=subprocess.PIPE, start_new_session=True)
        atexit.register(self.stop)
        try:
            self._run(str(self.bin / "initdb"), "-D", str(data), "-U", USER, "--auth=trust",
                      "--no-locale", "-E", "UTF8", "--no-sync", "--no-instructions")
            for attempt in range(3):  # the free port may be taken before the server binds it
                self.port = _free_port()
                options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                           f"-c unix_socket_directories={self.root} -c fsync=off -c full_page_writes=off")
                try:
                    self._run(str(self.bin / "pg_ctl"), "start", "-D", str(data), "-w", "-t", str(TIMEOUT),
                              "-l", str(self.root / "server.log"), "-o", options)
                    self._options = options
                    break
                except RuntimeError:
                    if attempt == 2:
                        raise
            self.createdb(DATABASE)
        except BaseException:
            self.stop()
            raise
        return self

    def restart(self, down_seconds: float = 0) -> None:
        """Stop the server at once (immediate mode: every connection drops, as in a crash), wait
        ``down_seconds``, and start it again on its port."""
        data = str(self.root / "data")
        self._run(str(self.bin / "pg_ctl"), "stop", "-D", data, "-m", "immediate", "-w")
        time.sleep(down_seconds)
        self._run(str(self.bin / "pg_ctl"), "start", "-D", data, "-w", "-t", str(TIMEOUT),
                  "-l", str(self.root / "server.log"), "-o", self._options)

    def stop(self) -> None:
        """Stop the server (immediate mode) and remove its directory; idempotent."""
        if self._watch is None:
            return
        _cleanup(self._stop, self.root)
        self._watch.stdin.close()  # the watchdog finds nothing left to do and exits
        self._watch.wait(TIMEOUT)
        self._watch = None
        atexit.unregister(self.stop)

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL server for the session (database ``frus``; ``createdb`` for more)."""
    with PostgresServer() as server:
        yield server


if __name__ == "__main__" and sys.argv[1:2] == ["--watchdog"]:
    _watchdog(int(sys.argv[2]), sys.argv[3], sys.argv[4:])
