"""A throwaway S3-compatible server for tests: moto in server mode on 127.0.0.1, a free
port, a temporary directory (its log); stopped by itself.

moto keeps everything in memory, accepts any key and checks no signature. Besides
``stop()``/``atexit``, a watchdog process (:mod:`tests.watchdog`) stops the server and removes
its directory if the test process dies any other way (even ``kill -9``), so a server never
outlives the tests.

    from tests.s3_server import s3_server, s3_bucket   # in conftest.py: the fixtures

    def test_lake(s3_server, s3_bucket):
        fs = s3_server.pyarrow_fs()                      # pyarrow.fs.S3FileSystem
        con.execute(s3_server.duckdb_secret())           # CREATE SECRET for DuckDB httpfs
        con.execute(f"COPY t TO '{s3_bucket}/t.parquet'")
        subprocess.run([...], env={**os.environ, **s3_server.env()})

Clients: DuckDB needs ``URL_STYLE 'path'`` and ``USE_SSL false``; pyarrow needs
``scheme="http"`` (and keeps path-style addressing by default with ``endpoint_override``).
"""
from __future__ import annotations

import atexit
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.watchdog import Watchdog, stop_group

REGION = "us-east-1"
TIMEOUT = 60  # seconds for the server to answer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str, timeout: float = 2) -> bool:
    """Whether an HTTP server answers at ``url`` (any status)."""
    try:
        urllib.request.urlopen(url, timeout=timeout).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


class Endpoint:
    """The client settings of an S3 endpoint (the server's, or a proxy's in front of it)."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region = REGION

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT`` (DuckDB's ``ENDPOINT``, pyarrow's ``endpoint_override``)."""
        return self.endpoint_url.removeprefix("http://")

    def env(self) -> dict[str, str]:
        """The usual AWS variables, for a child process (boto3, the AWS CLI, pyarrow's SDK)."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_ENDPOINT_URL": self.endpoint_url, "AWS_ENDPOINT_URL_S3": self.endpoint_url,
                "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}

    def pyarrow_fs(self, **options):
        """A ``pyarrow.fs.S3FileSystem`` on this endpoint; ``options`` override (e.g.
        ``retry_strategy=pyarrow.fs.AwsStandardS3RetryStrategy(max_attempts=1)``)."""
        from pyarrow import fs

        settings = dict(endpoint_override=self.host, scheme="http", access_key=self.access_key,
                        secret_key=self.secret_key, region=self.region, allow_bucket_creation=True)
        return fs.S3FileSystem(**{**settings, **options})

    def duckdb_secret(self, name: str = "") -> str:
        """The ``CREATE OR REPLACE SECRET`` statement of DuckDB's httpfs for this endpoint."""
        return (f"CREATE OR REPLACE SECRET {name}{' ' if name else ''}(TYPE s3, KEY_ID '{self.access_key}', "
                f"SECRET '{self.secret_key}', REGION '{self.region}', ENDPOINT '{self.host}', "
                f"URL_STYLE 'path', USE_SSL false)")

    def client(self):
        """A boto3 S3 client on this endpoint (few retries: the tests want faults fast)."""
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint_url, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name=self.region,
                            config=Config(retries={"max_attempts": 2, "mode": "standard"},
                                          connect_timeout=5, read_timeout=30))

    def bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh unique name if ``name`` is None); returns its name."""
        name = name or f"frus-test-{secrets.token_hex(4)}"
        self.client().create_bucket(Bucket=name)
        return name


class S3Server(Endpoint):
    """A context manager: a started moto server; ``endpoint_url``, keys, ``bucket()``..."""

    def __init__(self) -> None:
        self.access_key = f"FRUSTEST{secrets.token_hex(6).upper()}"
        self.secret_key = f"frus-test-secret-{secrets.token_hex(12)}"
        self.root: Path | None = None
        self.port = 0
        self.endpoint_url = ""
        self.proc: subprocess.Popen | None = None
        self._watch: Watchdog | None = None

    def _log(self) -> str:
        log = self.root / "server.log"
        return log.read_text()[-2000:] if log.exists() else ""

    def start(self) -> "S3Server":
        self.root = Path(tempfile.mkdtemp(prefix="frus-s3-"))
        self._watch = Watchdog(self.root)  # first, so that nothing started below can be orphaned
        atexit.register(self.stop)
        try:
            for attempt in range(3):  # the free port may be taken before the server binds it
                self.port = _free_port()
                self.endpoint_url = f"http://127.0.0.1:{self.port}"
                with open(self.root / "server.log", "ab") as log:
                    self.proc = subprocess.Popen(
                        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                        cwd=self.root, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                        start_new_session=True)
                self._watch.guard(self.proc.pid)
                deadline = time.monotonic() + TIMEOUT
                while self.proc.poll() is None and time.monotonic() < deadline:
                    if answers(self.endpoint_url + "/"):
                        return self
                    time.sleep(0.1)
                stop_group(self.proc)
                if attempt == 2:
                    raise RuntimeError(f"moto server did not start on port {self.port}: {self._log()}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server and remove its directory; idempotent."""
        if self._watch is None:
            return
        if self.proc is not None:
            stop_group(self.proc)
        shutil.rmtree(self.root, ignore_errors=True)
        self._watch.close()  # the watchdog finds nothing left to do and exits
        self._watch = None
        atexit.unregister(self.stop)

    def __enter__(self) -> "S3Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture(scope="session")
def s3_server():
    """One throwaway S3 server (moto) for the session: ``endpoint_url``, ``access_key``,
    ``secret_key``, ``region``, ``env()``, ``bucket()``, ``pyarrow_fs()``, ``duckdb_secret()``."""
    with S3Server() as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server) -> str:
    """A fresh bucket of the session's S3 server, as ``s3://<name>``."""
    return f"s3://{s3_server.bucket()}"
