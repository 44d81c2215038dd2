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


def _cli(*args: str, env: dict[str, str]) -> subprocess.Popen:
    """``frus ARGS`` in a process of its own (another machine's ingest), output to pipes."""
    return subprocess.Popen([sys.executable, "-m", "flows.cli", *args], cwd=REPO, env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _summary(proc: subprocess.Popen, timeout: float = 600) -> tuple[dict, str]:
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode in (0, 1), err[-3000:]
    return json.loads(next(ln for ln in reversed(err.splitlines()) if ln.startswith("{"))), err


def _advisory_locks(team) -> int:
    import psycopg

    with psycopg.connect(team.pg.dsn(team.catalog.rsplit("/", 1)[1])) as con:
        return con.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted").fetchone()[0]


def _lake_rows(data: Path, tables=("documents", "duplicates", "links", "parts", "footnotes")) -> dict[str, list]:
    """Every row of the lake's tables, without the run that wrote it."""
    out = {}
    with Lake(data).connect(read_only=True) as con:
        for t in tables:
            cols = [r[0] for r in con.execute(f"DESCRIBE lake.{t}").fetchall() if r[0] != "run_id"]
            out[t] = sorted(map(repr, con.execute(f"SELECT {', '.join(cols)} FROM lake.{t}").fetchall()))
    return out


def test_two_ingests_on_one_catalog_never_commit_at_once(tmp_path: Path, team, volumes_dir: Path):
    """Two machines (data roots) ingest one source into one catalog at once: the second waits
    for the first's lock, then finds nothing to do; an ingest that may not wait is skipped;
    every machine's status lists every run; the lake equals a single run's."""
    from tasks.lake.base import CATALOG_LOCK_KEY
    from tests.flows.test_ingest_flow import _copy

    src = _copy(volumes_dir, SMALL, tmp_path / "src")
    options = ["--source", str(src), "--catalog", team.catalog, "--lake-data", team.lake_data, "--workers", "1"]
    env = _prefect_env()
    first = _cli("ingest", "--data", str(tmp_path / "a"), *options, env=env)
    deadline = time.monotonic() + 120
    while _advisory_locks(team) == 0:  # the first holds the catalog's lock
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()[-3000:]
        time.sleep(0.05)
    second = _cli("ingest", "--data", str(tmp_path / "b"), *options, env=env)
    a, _ = _summary(first)
    b, b_log = _summary(second)
    assert (a["status"], a["items_new"]) == ("completed", 2)
    assert "another ingest is running on the catalog" in b_log
    assert (b["status"], b["items_new"], b["items_unchanged"]) == ("completed", 0, 2)

    import psycopg  # an ingest that may not wait, while another holds the lock: skipped, on record

    with psycopg.connect(team.pg.dsn(team.catalog.rsplit("/", 1)[1]), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [CATALOG_LOCK_KEY])
        skipped = run_ingest(source=str(src), data_dir=str(tmp_path / "c"), catalog=team.catalog,
                             lake_data=team.lake_data, wait=False)
    assert skipped["status"] == "skipped" and "catalog" in skipped["reason"]
    for machine in "abc":  # every machine's status shows every run
        status = json.loads(subprocess.run([sys.executable, "-m", "flows.cli", "status", "--data",
                                            str(tmp_path / machine), "--format", "json"],
                                           cwd=REPO, capture_output=True, text=True).stdout)
        runs = {r["run_id"]: r["status"] for r in status["runs"]}
        assert runs == {a["run_id"]: "completed", b["run_id"]: "completed", skipped["run_id"]: "skipped"}
    single = tmp_path / "single"
    run_ingest(source=str(src), data_dir=str(single), workers=1)
    assert _lake_rows(tmp_path / "a") == _lake_rows(single)
    assert _rows(tmp_path / "b") == _rows(single)  # (b's warehouse, from the lake a wrote)


def test_one_two_four_workers_and_dask_give_one_lake(tmp_path: Path, volumes_dir: Path, corpus: Path,
                                                     dask_cluster):
    """The same inputs give the same documents, duplicate links and clusters (canonical
    members) whatever the runner: in-process, 2 and 4 worker processes, a Dask cluster."""
    from tests.flows.test_ingest_flow import _copy

    src = _copy(volumes_dir, DUPLICATED, tmp_path / "src")
    (src / "d83.txt").write_bytes((corpus / "seed" / "000_06e3c999c372cd2d.txt").read_bytes())
    excerpt = next((corpus / "frus").rglob("frus1938v03-d83.xml"))
    (src / excerpt.name).write_bytes(excerpt.read_bytes())
    lakes = {}
    for name, options in [("one", {"workers": 1}), ("two", {"workers": 2}), ("four", {"workers": 4})]:
        summary = run_ingest(source=str(src), data_dir=str(tmp_path / name), **options)
        assert summary["status"] == "completed", summary
        lakes[name] = _lake_rows(tmp_path / name)
    cluster = dask_cluster(env=_prefect_env())
    summary = run_ingest(source=str(src), data_dir=str(tmp_path / "dask"), dask_address=cluster.address)
    assert summary["status"] == "completed", summary
    lakes["dask"] = _lake_rows(tmp_path / "dask")
    assert len(lakes["one"]["duplicates"]) >= 20 and any("cross-source" in r for r in lakes["one"]["links"])
    for name in ("two", "four", "dask"):
        assert lakes[name] == lakes["one"], name


class _Output:
    """The standard error of a running ``frus`` command, read line by line as it comes."""

    def __init__(self, proc: subprocess.Popen):
        self.proc, self.lines = proc, []
        self.thread = threading.Thread(target=lambda: self.lines.extend(iter(proc.stderr.readline, "")), daemon=True)
        self.thread.start()

    def wait_for(self, text: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.proc.poll() is None and time.monotonic() < deadline, "".join(self.lines)[-3000:]
            time.sleep(0.02)

    def finish(self, timeout: float = 600) -> tuple[int, str]:
        self.proc.wait(timeout)
        self.thread.join(10)
        return self.proc.returncode, "".join(self.lines)


def _ingest(team, src: Path, data: Path, env: dict[str, str] = {}, *more: str) -> _Output:
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "ingest", "--source", str(src), "--data", str(data),
         "--catalog", team.catalog, "--lake-data", team.lake_data, *more],
        cwd=REPO, env={**os.environ, **_prefect_env(), **env}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    return _Output(proc)


def _items(data: Path) -> set[str]:
    return {e.name for e in Lake(data).state().items.values()}


def _completed(out: _Output) -> dict:
    code, log = out.finish()
    summary = json.loads(next(ln for ln in reversed(log.splitlines()) if ln.startswith("{")))
    assert (code, summary["status"]) == (0, "completed"), log[-3000:]
    return summary


def _reference(tmp_path: Path, src: Path) -> dict:
    single = tmp_path / "reference"
    assert run_ingest(source=str(src), data_dir=str(single), workers=1)["status"] == "completed"
    return _lake_rows(single)


def test_a_dask_worker_killed_mid_run_costs_its_volumes_only(tmp_path: Path, team, volumes_dir: Path,
                                                              dask_cluster):
    """A Dask worker SIGKILLed while it normalises: the scheduler runs its batch again on the
    other worker and the run completes with every volume, equal to a run without the kill."""
    from tests.flows.test_ingest_flow import _copy

    work = tmp_path / "machine"
    src = _copy(volumes_dir, [*DUPLICATED, "frus1861.xml", "frus1872p2v4.xml", "frus1901China.xml"], work / "src")
    cluster = dask_cluster(env={**team.s3.env(), **_prefect_env()}, hide=[work])
    out = _ingest(team, src, work / "data", {}, "--dask-address", cluster.address)
    names = {w: info["name"] for w, info in cluster.client.scheduler_info(n_workers=-1)["workers"].items()}
    deadline = time.monotonic() + 300
    while not (busy := [w for w, keys in cluster.client.processing().items() if keys]):
        assert out.proc.poll() is None and time.monotonic() < deadline, "".join(out.lines)[-3000:]
        time.sleep(0.02)
    killed = cluster.kill_worker(int(names[busy[0]].rsplit("-", 1)[1]))
    summary = _completed(out)
    assert killed not in cluster.worker_pids().values()
    assert summary["items_new"] == len(list(src.iterdir())) and summary["items_failed"] == 0
    assert _lake_rows(work / "data") == _reference(tmp_path, src)


@pytest.mark.parametrize("fault", ["fail", "slow"])
def test_a_store_failing_or_slow_during_the_commit_fails_the_run_and_keeps_the_lake(
        tmp_path: Path, team, volumes_dir: Path, store_proxy, fault):
    """The store answers 503 (or too slowly) once the commit has begun writing: the requests
    are retried, then the run fails with one line naming the reason; the lake keeps its last
    state, and the next run completes it."""
    from tests.flows.test_ingest_flow import _copy

    src = _copy(volumes_dir, SMALL[:1], tmp_path / "src")
    via_proxy = {**store_proxy.env(), "FRUS_STORE_RETRIES": "1", "FRUS_STORE_TIMEOUT": "2"}
    data = tmp_path / "data"
    _completed(_ingest(team, src, data, via_proxy, "--workers", "1"))
    before = _items(data)
    _copy(volumes_dir, SMALL[1:], src)
    out = _ingest(team, src, data, via_proxy, "--workers", "1")
    deadline = time.monotonic() + 300
    while not any(method in ("PUT", "POST") and "/lake/main/" in path for method, path, _ in list(store_proxy.log)):
        assert out.proc.poll() is None and time.monotonic() < deadline, "".join(out.lines)[-3000:]
        time.sleep(0.005)
    store_proxy.delay = 4
    store_proxy.mode = fault
    code, log = out.finish()
    assert code != 0
    errors = [ln for ln in log.splitlines() if "failed" in ln and ("503" in ln or "timed out" in ln.lower()
                                                                   or "timeout" in ln.lower())]
    assert errors, log[-3000:]
    assert _items(data) == before  # (read past the proxy: the lake as it was)
    store_proxy.mode = "pass"
    _completed(_ingest(team, src, data, via_proxy, "--workers", "1"))
    assert _lake_rows(data) == _reference(tmp_path, src)
    _no_secret(team.secret, data, texts=(log,))


def test_postgres_restarted_during_a_run_takes_its_lock_again_and_completes(tmp_path: Path, team,
                                                                             volumes_dir: Path):
    """The catalog's server restarts while a run normalises: it forgot the run's lock, so the
    run takes it again before its commit (no other ingest wrote meanwhile) and completes; the
    lake equals a run's without the restart."""
    from tests.flows.test_ingest_flow import _copy

    src = _copy(volumes_dir, SMALL, tmp_path / "src")
    data = tmp_path / "data"
    out = _ingest(team, src, data, {}, "--workers", "1")
    out.wait_for("[1/2]")
    team.pg.restart(down_seconds=1)
    summary = _completed(out)
    assert summary["items_new"] == 2
    assert "forgot this run's lock (a restart): taken again" in "".join(out.lines)
    assert _lake_rows(data) == _reference(tmp_path, src)


def test_postgres_restarted_while_another_ingest_took_the_lock_fails_the_run(tmp_path: Path, team,
                                                                             volumes_dir: Path):
    """The catalog's server restarts during a run and another machine's ingest takes the lock
    first: the run commits nothing and fails with one line; the lake is the other's."""
    import psycopg

    from tasks.lake.base import CATALOG_LOCK_KEY
    from tests.flows.test_ingest_flow import _copy

    # (volumes enough for seconds of normalising: the restart and the other's lock come first)
    src = _copy(volumes_dir, [*DUPLICATED, "frus1861.xml", "frus1901China.xml"], tmp_path / "src")
    data = tmp_path / "data"
    _completed(_ingest(team, src, data, {}, "--workers", "1", "--volumes", "frus1873p2v3"))
    before = _lake_rows(data)
    out = _ingest(team, src, data, {}, "--workers", "1")
    out.wait_for("[1/6]")
    team.pg.restart()
    with psycopg.connect(team.pg.dsn(team.catalog.rsplit("/", 1)[1]), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [CATALOG_LOCK_KEY])  # (the other machine's)
        code, log = out.finish()
    assert code != 0 and "dropped this run's lock" in log and "nothing was committed" in log, log[-3000:]
    assert _lake_rows(data) == before
    _completed(_ingest(team, src, data, {}, "--workers", "1"))
    assert _lake_rows(data) == _reference(tmp_path, src)


def _processes_of(session: int, text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.getsid(int(proc.name)) == session and \
                    text in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                found.append(int(proc.name))
        except (OSError, ProcessLookupError):
            pass
    return found


def test_a_run_killed_during_its_commit_leaves_the_old_state_or_the_new(tmp_path: Path, team, volumes_dir: Path):
    """SIGKILL to the ingest (its process group) while its commit, in a process of its own,
    writes to the store and the catalog: the lake holds the state before the run or after it,
    never one between; the next run completes it."""
    from tests.flows.test_ingest_flow import _copy

    src = _copy(volumes_dir, SMALL[:1], tmp_path / "src")
    data = tmp_path / "data"
    apart = {"FRUS_APART_FROM_DOCUMENTS": "0"}  # (the commit in a child process, as on a big lake)
    _completed(_ingest(team, src, data, apart, "--workers", "1"))
    before = _lake_rows(data)
    _copy(volumes_dir, SMALL[1:], src)
    after = _reference(tmp_path, src)
    out = _ingest(team, src, data, apart, "--workers", "1")
    deadline = time.monotonic() + 300
    while not _processes_of(out.proc.pid, "tasks.lake.apart commit"):
        assert out.proc.poll() is None and time.monotonic() < deadline, "".join(out.lines)[-3000:]
        time.sleep(0.005)
    time.sleep(0.3)
    os.killpg(out.proc.pid, 9)
    out.finish()
    assert _lake_rows(data) in (before, after)
    _completed(_ingest(team, src, data, apart, "--workers", "1"))
    assert _lake_rows(data) == after
