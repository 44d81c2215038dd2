"""The tests' throwaway servers: the S3 server (moto), the fault proxy in front of it, the
Dask cluster of real processes; real clients on them (DuckDB httpfs, pyarrow's AWS SDK,
boto3, distributed), all on 127.0.0.1, nothing left once they stop."""
from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs as pafs

from tasks.lake import duck
from tests.dask_cluster import DaskCluster
from tests.s3_server import S3Server
from tests.store_proxy import StoreProxy

pytestmark = pytest.mark.slow  # servers in child processes

REPO = Path(__file__).resolve().parents[1]
BIG_ROWS = 1_600_000  # hash(range) as UBIGINT: a ~13 MB parquet file, three 5 MB parts


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def alive(pids) -> list[int]:
    """The pids of ``pids`` that still name a live process (not a zombie)."""
    found = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                found.append(pid)
        except psutil.NoSuchProcess:
            pass
    return found


def duck_on(endpoint):
    """A DuckDB connection with httpfs on ``endpoint``: one try a request (faults fast), and
    5 MB upload parts (800 GB / 10,000 parts by default: 80 MB, so a COPY of a few MB would
    be a single PUT, not a multipart upload)."""
    con = duck.connect(trusted=True)
    duck.load(con, "httpfs")
    con.execute(endpoint.duckdb_secret())
    con.execute("SET http_retries=1; SET http_retry_wait_ms=10; SET http_timeout=30; "
                "SET s3_uploader_max_filesize='50GB'")
    return con


def one_try(endpoint, **options):
    """A pyarrow S3 filesystem on ``endpoint`` that tries a request once."""
    return endpoint.pyarrow_fs(**{"retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=1),
                                  "connect_timeout": 5, "request_timeout": 30, **options})


def write_big(con, url: str) -> None:
    con.execute(f"COPY (SELECT hash(range) AS a FROM range({BIG_ROWS})) TO '{url}'")


def big_sum(con) -> int:
    return con.execute(f"SELECT sum(hash(range)::HUGEINT) FROM range({BIG_ROWS})").fetchone()[0]


# -- the S3 server ---------------------------------------------------------------------------

def test_s3_server_pyarrow_writes_duckdb_reads_and_back(s3_server, s3_bucket):
    assert s3_server.endpoint_url == f"http://127.0.0.1:{s3_server.port}" and listening(s3_server.port)
    assert s3_server.secret_key.startswith("frus-test-secret-") and len(s3_server.secret_key) > 30
    assert s3_server.env() == {
        "AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_ENDPOINT_URL": s3_server.endpoint_url, "AWS_ENDPOINT_URL_S3": s3_server.endpoint_url,
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
    fs, bucket = s3_server.pyarrow_fs(), s3_bucket.removeprefix("s3://")
    assert s3_bucket.startswith("s3://frus-test-") and fs.get_file_info(bucket).type == pafs.FileType.Directory

    table = pa.table({"id": list(range(1000)), "name": [f"doc-{i}" for i in range(1000)]})
    pq.write_table(table, f"{bucket}/docs.parquet", filesystem=fs)
    con = duck_on(s3_server)
    assert con.execute(f"SELECT count(*), sum(id), max(name) FROM '{s3_bucket}/docs.parquet'").fetchone() \
        == (1000, 499500, "doc-999")

    write_big(con, f"{s3_bucket}/big.parquet")  # (a multipart upload)
    back = pq.read_table(f"{bucket}/big.parquet", filesystem=fs)
    assert back.num_rows == BIG_ROWS and sum(back["a"].to_pylist()) == big_sum(con)
    assert fs.get_file_info(f"{bucket}/big.parquet").size > 10 << 20


def test_s3_buckets_are_fresh(s3_server):
    a, b = s3_server.bucket(), s3_server.bucket("frus-named")
    assert a != s3_server.bucket() and b == "frus-named"
    names = {x["Name"] for x in s3_server.client().list_buckets()["Buckets"]}
    assert {a, b} <= names


def test_servers_die_with_a_killed_process():
    """A test process killed with SIGKILL runs no cleanup: the watchdogs stop its S3 server
    and its Dask cluster (nannies and the worker processes under them too), and remove their
    directories."""
    code = ("import json, os, signal, psutil; from tests.s3_server import S3Server; "
            "from tests.dask_cluster import DaskCluster; "
            "s3 = S3Server().start(); c = DaskCluster(nanny=True).start(); "
            "kids = {k.pid for p in c.pids() for k in psutil.Process(p).children(recursive=True)}; "
            "print(json.dumps([str(s3.root), s3.port, s3.proc.pid, str(c.root), sorted(c.pids() | kids)]), flush=True); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == -signal.SIGKILL, run.stderr
    s3_root, port, s3_pid, dask_root, pids = json.loads(run.stdout)
    assert len(pids) >= 5  # the scheduler, two nannies, their worker processes (and helpers)
    deadline = time.monotonic() + 60
    while (alive([s3_pid, *pids]) or listening(port) or Path(s3_root).exists() or Path(dask_root).exists()) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive([s3_pid, *pids]) and not listening(port)
    assert not Path(s3_root).exists() and not Path(dask_root).exists()


# -- the store proxy ---------------------------------------------------------------------------

def test_proxy_passes_real_clients_through(s3_server, store_proxy, s3_bucket):
    """pyarrow's multipart upload sends ``Transfer-Encoding: chunked`` + ``aws-chunked`` parts
    (with ``Expect: 100-continue``); DuckDB a multipart upload and Range reads."""
    bucket, direct = s3_bucket.removeprefix("s3://"), s3_server.pyarrow_fs()
    fs, con = store_proxy.pyarrow_fs(), duck_on(store_proxy)
    blob = os.urandom(12 << 20)
    with fs.open_output_stream(f"{bucket}/blob.bin") as f:
        f.write(blob)
    assert direct.open_input_stream(f"{bucket}/blob.bin").read() == blob
    with fs.open_input_file(f"{bucket}/blob.bin") as f:  # a ranged read through the proxy
        assert f.read_at(1000, 5 << 20) == blob[5 << 20:(5 << 20) + 1000]

    write_big(con, f"{s3_bucket}/big.parquet")
    parts = [p for m, p, s in store_proxy.log if m == "PUT" and "partNumber=" in p and s == 200]
    assert len(parts) >= 2 + 2  # (pyarrow's two 10 MB parts, DuckDB's three 5 MB ones)
    back = pq.read_table(f"{bucket}/big.parquet", filesystem=fs)
    assert back.num_rows == BIG_ROWS and sum(back["a"].to_pylist()) == big_sum(con)
    assert con.execute(f"SELECT count(*) FROM '{s3_bucket}/big.parquet'").fetchone()[0] == BIG_ROWS
    assert any(s == 206 for m, p, s in store_proxy.log if m == "GET")
    assert store_proxy.requests == len(store_proxy.log) > 10
    assert all(s in (200, 206) for m, p, s in store_proxy.log), store_proxy.log


def test_proxy_fails_every_client(s3_server, store_proxy, s3_bucket):
    bucket = s3_bucket.removeprefix("s3://")
    with s3_server.pyarrow_fs().open_output_stream(f"{bucket}/x.bin") as f:
        f.write(b"x")
    con, fs = duck_on(store_proxy), one_try(store_proxy)
    store_proxy.mode = "fail"
    with pytest.raises(duckdb.Error, match="503"):
        con.execute(f"SELECT octet_length(content) FROM read_blob('{s3_bucket}/x.bin')").fetchall()
    with pytest.raises(duckdb.Error, match="503"):
        con.execute(f"COPY (SELECT 1 AS a) TO '{s3_bucket}/y.parquet'")
    with pytest.raises(OSError, match="503"):
        fs.open_input_stream(f"{bucket}/x.bin").read()
    with pytest.raises(OSError, match="SERVICE_UNAVAILABLE"):  # (the XML error's code, read by the SDK)
        fs.open_output_stream(f"{bucket}/y.bin").close()

    from botocore.config import Config
    from botocore.exceptions import ClientError
    import boto3

    store_proxy.fail_code = "SlowDown"
    s3 = boto3.client("s3", endpoint_url=store_proxy.endpoint_url, aws_access_key_id=store_proxy.access_key,
                      aws_secret_access_key=store_proxy.secret_key, region_name="us-east-1",
                      config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    with pytest.raises(ClientError) as failed:
        s3.get_object(Bucket=bucket, Key="x.bin")
    assert failed.value.response["Error"]["Code"] == "SlowDown"
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert {s for m, p, s in store_proxy.log} == {503}

    store_proxy.mode = "pass"
    assert con.execute(f"SELECT octet_length(content) FROM read_blob('{s3_bucket}/x.bin')").fetchone()[0] == 1


def test_proxy_fails_after_n_requests_and_drops(s3_server, store_proxy, s3_bucket):
    bucket, fs = s3_bucket.removeprefix("s3://"), one_try(store_proxy)
    s3_server.pyarrow_fs().open_output_stream(f"{bucket}/x.bin").close()
    before = store_proxy.requests
    store_proxy.fail_after(2)
    fs.get_file_info(f"{bucket}/x.bin")
    fs.get_file_info(f"{bucket}/x.bin")
    with pytest.raises(OSError, match="503"):
        fs.get_file_info(f"{bucket}/x.bin")
    with pytest.raises(OSError, match="503"):
        fs.get_file_info(f"{bucket}/x.bin")
    assert store_proxy.requests == before + 4
    assert [s for m, p, s in store_proxy.log[-4:]] == [200, 200, 503, 503]

    store_proxy.mode = "drop"
    with pytest.raises(OSError, match="(?i)empty reply|connection|network"):
        fs.get_file_info(f"{bucket}/x.bin")
    assert store_proxy.log[-1][2] == 0
    store_proxy.mode = "pass"
    assert fs.get_file_info(f"{bucket}/x.bin").size == 0


def test_proxy_slow_delays(s3_server, store_proxy, s3_bucket):
    bucket, fs = s3_bucket.removeprefix("s3://"), one_try(store_proxy)
    s3_server.pyarrow_fs().open_output_stream(f"{bucket}/x.bin").close()
    store_proxy.mode, store_proxy.delay = "slow", 0.6
    start = time.monotonic()
    assert fs.get_file_info(f"{bucket}/x.bin").type == pafs.FileType.File
    assert time.monotonic() - start >= 0.6
    store_proxy.mode = "pass"
    start = time.monotonic()
    fs.get_file_info(f"{bucket}/x.bin")
    assert time.monotonic() - start < 0.5


def test_proxy_stops_with_its_connections(s3_server):
    with StoreProxy(s3_server) as proxy:
        fs = one_try(proxy, connect_timeout=2)
        bucket = proxy.bucket()  # (through the proxy)
        assert fs.get_file_info(bucket).type == pafs.FileType.Directory  # (a kept-alive connection)
        with pytest.raises(ValueError):
            proxy.mode = "broken"
    assert not listening(proxy.port)
    with pytest.raises(OSError):
        fs.get_file_info(bucket)


# -- the Dask cluster -------------------------------------------------------------------------

def listeners(pids) -> set[str]:
    """The addresses the processes ``pids`` listen on (TCP)."""
    found = set()
    for pid in pids:
        for c in psutil.Process(pid).net_connections(kind="inet"):
            if c.status == psutil.CONN_LISTEN:
                found.add(c.laddr.ip)
    return found


def test_dask_workers_get_env_and_do_not_see_hidden_dirs(dask_cluster, tmp_path):
    secret = tmp_path / "data-root"
    secret.mkdir()
    (secret / "lake.duckdb").write_text("not for workers")
    cluster = dask_cluster(env={"FRUS_TEST_MARK": "on-workers"}, hide=[secret])
    assert cluster.address.startswith("tcp://127.0.0.1:")
    pids = cluster.worker_pids()
    assert sorted(pids) == [0, 1] and sorted(pids.values()) == sorted(p.pid for p in cluster.workers)
    assert listeners(cluster.pids()) == {"127.0.0.1"}

    run = cluster.client.run
    assert set(run(os.getpid).values()) == set(pids.values())
    assert set(run(lambda: os.environ.get("FRUS_TEST_MARK")).values()) == {"on-workers"}
    assert set(run(os.path.exists, str(secret / "lake.duckdb")).values()) == {False}
    assert list(run(os.listdir, str(secret)).values()) == [[], []]
    assert all(not v for v in run(os.access, str(secret), os.W_OK).values())  # (read-only)
    assert set(run(lambda: importlib.import_module("tasks.lake.duck").__file__).values()) \
        == {str(REPO / "tasks" / "lake" / "duck.py")}  # (the project's code: visible)
    assert (secret / "lake.duckdb").read_text() == "not for workers"  # (the test still sees it)
    assert cluster.client.submit(lambda x: x + 1, 41).result(timeout=60) == 42

    everything = cluster.pids()
    cluster.stop()
    assert not alive(everything)


def _slow_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def test_dask_killed_worker_leaves_the_other_serving(dask_cluster):
    cluster = dask_cluster()
    pids, client = cluster.worker_pids(), cluster.client
    first = next(a for a, w in client.scheduler_info()["workers"].items() if w["name"] == "worker-0")
    task = client.submit(_slow_pid, 3, workers=[first], allow_other_workers=True, pure=False)
    deadline = time.monotonic() + 60
    while not client.processing().get(first) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.processing()[first], "the task never started on worker 0"

    assert cluster.kill_worker(0) == pids[0]
    assert not alive([pids[0]]) and cluster.worker_pids() == {1: pids[1]}
    assert task.result(timeout=120) == pids[1]  # (rerun on the worker left)
    assert client.submit(_slow_pid, 0, pure=False).result(timeout=60) == pids[1]
    time.sleep(1)
    assert cluster.worker_pids() == {1: pids[1]}  # (no nanny: nobody restarts it)


def test_dask_nanny_restarts_a_killed_worker(dask_cluster):
    cluster = dask_cluster(nanny=True)
    pids = cluster.worker_pids()
    nannies = {p.pid for p in cluster.workers}
    assert not nannies & set(pids.values())  # (the worker processes run under the nannies)
    assert cluster.kill_worker(0) == pids[0]
    cluster.client.wait_for_workers(2, timeout=120)
    deadline = time.monotonic() + 60
    while len(now := cluster.worker_pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert now[1] == pids[1] and now[0] != pids[0] and not alive([pids[0]])
    assert psutil.Process(now[0]).ppid() == cluster.workers[0].pid
    everything = cluster.pids()
    cluster.stop()
    assert not alive(everything)


def test_dask_hide_refuses_the_code_and_venv(tmp_path):
    with pytest.raises(ValueError, match="would hide"):
        DaskCluster(tmp_path, hide=[REPO])
    with pytest.raises(ValueError, match="would hide"):
        DaskCluster(tmp_path, hide=[Path(sys.prefix)])
    with pytest.raises(ValueError, match="not a directory"):
        DaskCluster(tmp_path, hide=[tmp_path / "missing"])
