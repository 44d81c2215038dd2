"""A Dask cluster of real processes for tests: a scheduler and two workers on 127.0.0.1
(``dask scheduler`` / ``dask worker``, one thread each, no dashboard; their HTTP servers for
health and metrics, which run even so, on 127.0.0.1 too), each in a directory
of its own; stopped by itself.

Workers run without a nanny by default: :meth:`DaskCluster.kill_worker` SIGKILLs the worker
process and it stays dead, so a test sees the cluster go on with the other one (the
scheduler hands the lost worker's tasks to it). With ``nanny=True`` each worker runs under a
nanny, which starts a new worker process (a new pid, the same name) after a kill.

``env`` is merged into ``os.environ`` for the workers (AWS_*, PREFECT_* ...); the project is
first on their ``PYTHONPATH`` and the scheduler's (which unpickles task graphs), so a test's
own functions (``tests.*``) unpickle there too. ``hide``: the
workers (not the scheduler) run in a private mount namespace where each of these directories
is covered by an empty read-only tmpfs, so they can neither read nor write what is there (the
venv and the project must stay visible). Besides ``stop()``/``atexit``, a watchdog process
(:mod:`tests.watchdog`) kills every process if the test process dies any other way (even
``kill -9``), so a cluster never outlives the tests.

    from tests.dask_cluster import dask_cluster   # in conftest.py: the fixture

    def test_flow_on_dask(dask_cluster, s3_server, tmp_path):
        cluster = dask_cluster(env=s3_server.env(), hide=[tmp_path / "data"])
        DaskTaskRunner(address=cluster.address) ...
        cluster.kill_worker(0)
"""
from __future__ import annotations

import atexit
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable

import pytest

from tests.watchdog import Watchdog, stop_group

REPO = Path(__file__).resolve().parents[1]
DASK = Path(sys.executable).parent / "dask"
TIMEOUT = 120  # seconds for the scheduler and the workers to come up, or a killed worker to go


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _with_repo(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the project first on ``PYTHONPATH`` (the scheduler unpickles task graphs too)."""
    return {**env, "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])}


class DaskCluster:
    """A context manager: a started scheduler (``address``) and ``workers`` workers.

    ``base``: the folder of the cluster's directory (its logs and the workers' local
    directories), left for pytest to remove; without it a temp dir, removed at ``stop()``.
    """

    def __init__(self, base: Path | str | None = None, env: dict[str, str] | None = None,
                 hide: Iterable[Path | str] = (), nanny: bool = False, workers: int = 2) -> None:
        self.base = Path(base) if base is not None else None
        self.env = dict(env or {})
        self.hide = [Path(p).resolve() for p in hide]
        self.nanny = nanny
        self.n_workers = workers
        self.root: Path | None = None
        self.address = ""
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self._client = None
        self._watch: Watchdog | None = None
        for path in self.hide:
            if not path.is_dir():
                raise ValueError(f"hide: {path} is not a directory")
            for needed in {REPO, Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}:
                if _inside(needed, path):
                    raise ValueError(f"hide: {path} would hide {needed}, which the workers need")

    # -- the cluster as the tests see it ------------------------------------------------------

    @property
    def client(self):
        """A ``distributed.Client`` of the cluster in this process (closed at ``stop()``)."""
        if self._client is None:
            from distributed import Client
            self._client = Client(self.address, timeout=TIMEOUT, set_as_default=False)
        return self._client

    def _addresses(self) -> dict[int, str]:
        """``{index: address}`` of the workers the scheduler lists now."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        return {int(w["name"].rsplit("-", 1)[1]): a for a, w in workers.items()}

    def worker_pids(self) -> dict[int, int]:
        """``{index: pid}`` of the worker processes that answer now (with a nanny, the pid of
        the worker process under it, not the nanny's)."""
        addresses = self._addresses()
        pids = self.client.run(os.getpid, workers=list(addresses.values()), on_error="return")
        return {i: pids[a] for i, a in addresses.items() if isinstance(pids.get(a), int)}

    def pids(self) -> set[int]:
        """Every pid of the cluster: the scheduler, the worker (or nanny) processes started, and
        the worker processes the scheduler knows."""
        pids = {p.pid for p in [self.scheduler, *self.workers] if p is not None}
        if self._client is not None and self.scheduler.poll() is None:
            pids |= set(self.worker_pids().values())
        return pids

    def kill_worker(self, i: int) -> int:
        """SIGKILL worker ``i``'s worker process; return its pid once the scheduler has dropped
        it. Without a nanny it stays dead; with one, the nanny starts a new worker process
        (``client.wait_for_workers(n)`` to wait for it)."""
        address = self._addresses()[i]
        pid = self.worker_pids()[i]
        os.kill(pid, signal.SIGKILL)
        if not self.nanny:
            self.workers[i].wait(TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        while address in self._addresses().values():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the scheduler still lists killed worker {i} (pid {pid})")
            time.sleep(0.05)
        return pid

    def _wait_for_nannies(self) -> None:
        """Wait until every nanny has started: a worker registers with the scheduler before
        its nanny has heard it started, and a worker killed in between takes its nanny down
        (``Nanny failed to start worker process``) instead of being restarted."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            status = self.client.run(lambda dask_worker: dask_worker.status.name, nanny=True, on_error="return")
            if len(status) == self.n_workers and set(status.values()) == {"running"}:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the nannies did not start: {status}")
            time.sleep(0.1)

    def logs(self) -> str:
        """The tails of the scheduler's and workers' logs (for assertion messages)."""
        tails = []
        for log in sorted(self.root.glob("*.log")) if self.root else []:
            tails.append(f"== {log.name}\n{log.read_text(errors='replace')[-3000:]}")
        return "\n".join(tails)

    # -- start and stop -------------------------------------------------------------------------

    def _popen(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        folder = self.root / name
        folder.mkdir()
        with open(self.root / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(cmd, cwd=folder, env={**env, "PYTHONUNBUFFERED": "1"},
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self._watch.guard(proc.pid)
        return proc

    def _worker_cmd(self, i: int) -> list[str]:
        cmd = [str(DASK), "worker", self.address, "--nthreads", "1", "--nworkers", "1",
               "--host", "127.0.0.1", "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
               "--nanny" if self.nanny else "--no-nanny",
               "--name", f"worker-{i}", "--local-directory", str(self.root / f"worker-{i}"),
               "--death-timeout", "60"]  # (a worker whose scheduler is gone exits by itself)
        if not self.hide:
            return cmd
        mounts = " && ".join(f"mount -t tmpfs -o ro,size=4k tmpfs {shlex.quote(str(p))}" for p in self.hide)
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", f'{mounts} && exec "$@"', "sh", *cmd]

    def start(self) -> "DaskCluster":
        self.root = Path(tempfile.mkdtemp(prefix="frus-dask-", dir=self.base))
        for path in self.hide:
            if _inside(self.root, path):
                raise ValueError(f"hide: {path} would hide the cluster's directory {self.root}")
        self._watch = Watchdog(None if self.base else self.root)  # first: nothing below is orphaned
        atexit.register(self.stop)
        try:
            spec = self.root / "scheduler.json"
            self.scheduler = self._popen("scheduler", [
                str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0",
                "--scheduler-file", str(spec), "--no-dashboard",
                "--dashboard-address", "127.0.0.1:0"], _with_repo(dict(os.environ)))
            deadline = time.monotonic() + TIMEOUT
            while not self.address:
                if self.scheduler.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the Dask scheduler did not start:\n{self.logs()}")
                try:
                    self.address = json.loads(spec.read_text())["address"]
                except (OSError, ValueError, KeyError):
                    time.sleep(0.1)
            env = _with_repo({**os.environ, **self.env})
            self.workers = [self._popen(f"worker-{i}", self._worker_cmd(i), env) for i in range(self.n_workers)]
            try:
                self.client.wait_for_workers(self.n_workers, timeout=TIMEOUT)
                if self.nanny:
                    self._wait_for_nannies()
            except Exception as e:
                raise RuntimeError(f"the Dask workers did not register ({e!r}):\n{self.logs()}") from None
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the workers, then the scheduler (SIGTERM, then SIGKILL); idempotent."""
        if self._watch is None:
            return
        if self._client is not None:
            try:
                self._client.close(timeout=10)
            except Exception:
                pass
            self._client = None
        for proc in self.workers:
            try:
                if proc.returncode is None:
                    os.killpg(proc.pid, signal.SIGTERM)  # (all at once: each takes its time to close)
            except ProcessLookupError:
                pass
        for proc in [*self.workers, self.scheduler]:
            if proc is not None:
                stop_group(proc)
        if self.base is None:
            shutil.rmtree(self.root, ignore_errors=True)
        self._watch.close()  # the watchdog finds nothing left to do and exits
        self._watch = None
        atexit.unregister(self.stop)

    def __enter__(self) -> "DaskCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture
def dask_cluster(tmp_path):
    """``dask_cluster(env=None, hide=(), nanny=False, workers=2)``: start a :class:`DaskCluster`
    (in ``tmp_path``) for this test; every cluster started is stopped at the test's end."""
    started: list[DaskCluster] = []

    def start(env: dict[str, str] | None = None, hide: Iterable[Path | str] = (),
              nanny: bool = False, workers: int = 2) -> DaskCluster:
        cluster = DaskCluster(tmp_path, env=env, hide=hide, nanny=nanny, workers=workers)
        started.append(cluster)
        return cluster.start()

    yield start
    for cluster in started:
        cluster.stop()
