"""Phases run in a process of their own, once the lake is big.

A process's memory goes back to the system only when it ends: run in the flow's process, a
big phase (a first ingest's deduplication, a whole warehouse build) would leave its
high-water mark to every later phase. Apart, each phase's peak is its own, and the flow's
process stays small. The child dies with its parent: a killed run's phase does not go on.
On a small lake a child's start (a Python, its imports, the lake's attach) costs more than
its memory saves: there the phases run in the flow's process (:func:`runs_apart`).
"""
from __future__ import annotations

import collections
import concurrent.futures
import ctypes
import json
import multiprocessing
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from tasks.landing import TMP_PREFIX, inside
from tasks.lake.catalog import Lake, Staged
from tasks.lake.staging import STAGING
from tasks.records import ItemEntry

PR_SET_PDEATHSIG = 1
APART_FROM = "FRUS_APART_FROM_DOCUMENTS"
# In the flow's process the phases' high-water marks add up. `frus ingest` peaks, apart / in
# the flow's process: 138 documents 389 / 412 MB (in 5.1-6.1 s / 4.1 s, the tests' harness),
# 549 documents 314 / 414 MB, 2,092 documents 313 / 480 MB, the shared corpus (7,233) 463 /
# 634 MB: from a 2,000-document lake, apart; 50 copies of the corpus peak at 632 MB.
DEFAULT_APART_FROM = 2_000
CODE_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds tasks/, flows/, warehouse/


def runs_apart(documents: int) -> bool:
    """Whether the dedupe, commit and warehouse phases of a run over a lake of ``documents``
    run apart: from ``FRUS_APART_FROM_DOCUMENTS`` (default 2,000; 0: always).

    Raises:
        ValueError: the setting is not a whole number.
    """
    value = os.environ.get(APART_FROM, str(DEFAULT_APART_FROM))
    try:
        return documents >= int(value)
    except ValueError:
        raise ValueError(f"{APART_FROM}={value!r}: not a number of documents") from None


def run_apart(module: str, *args: str) -> str:
    """Run ``python -m module args`` (a :func:`child_main`) and return its standard output.

    Raises:
        RuntimeError: the child failed; the message is its one-line reason.
    """
    # The child imports the code this process runs (a checkout beside the installed one, too;
    # -P: not the one in the working directory, which `-m` would put first).
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(CODE_ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-P", "-m", module, *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise RuntimeError(lines[-1] if lines else f"{module} exited with {proc.returncode}")
    return proc.stdout.strip()


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent ends (Linux: PR_SET_PDEATHSIG;
    the parent is the thread that started this process, and its end counts)."""
    try:
        ctypes.CDLL("libc.so.6").prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # (no glibc: the process may outlive a killed parent)
        pass


def start_pool_worker() -> None:
    """A pool worker process's start (its pool's initializer): it dies with the process that
    started it, and leaves Ctrl-C to that one (which stops the pool).

    Ctrl-C in a terminal reaches the workers too: a worker's KeyboardInterrupt came back as its
    work's outcome (in a Prefect pool, re-raised in the pool's manager thread, which killed it:
    the flow then waited at exit, for ever, for workers no one told to stop)."""
    # (the kernel's "parent" is the thread that started the worker: Prefect's pool starts them
    # from its manager thread, Offload from its caller's, both living as long as the pool)
    die_with_parent()
    if multiprocessing.parent_process().pid != os.getppid():  # gone before the line above
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def process_pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    """A pool of ``workers`` fresh processes (spawned: this one may hold DuckDB's threads)
    that die with this process."""
    return concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=start_pool_worker)


class Offload:
    """Calls run in a pool of ``processes`` (:func:`process_pool`) while this process goes on,
    or here when ``processes`` is 1. Their results come in the order of the calls, and wait in
    this process until :meth:`ready` or :meth:`results` takes them; a caller that takes
    :meth:`ready` after each call holds the arguments of ``processes + 1`` calls at most."""

    def __init__(self, processes: int):
        self.pool = process_pool(processes) if processes > 1 else None
        self.ahead = processes + 1
        self.pending: collections.deque = collections.deque()
        for _ in range(processes if self.pool else 0):  # (started now: a spawned process's imports take a second)
            self.pool.submit(int)

    def __call__(self, fn, *args) -> None:
        """``fn(*args)``, here or in the pool (``fn`` and ``args`` picklable)."""
        if self.pool is None:
            done = concurrent.futures.Future()
            done.set_result(fn(*args))
            self.pending.append(done)
            return
        self.pending.append(self.pool.submit(fn, *args))

    def ready(self) -> list:
        """The results of the first calls not taken yet that are done, and as many more as
        leave at most ``ahead`` calls waiting (waiting for those)."""
        out = []
        while self.pending and (self.pending[0].done() or len(self.pending) > self.ahead):
            out.append(self.pending.popleft().result())
        return out

    def results(self) -> list:
        """The results of every call not taken yet, in their order (waiting for them)."""
        out = []
        while self.pending:
            out.append(self.pending.popleft().result())
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.pool is None:
            return
        if exc[0] is not None:  # a failure or an interrupt: no call is wanted any more, and
            for process in list((self.pool._processes or {}).values()):  # the pool's exit
                process.kill()  # would wait for the running and queued ones
        self.pool.shutdown(wait=exc[0] is None, cancel_futures=True)


def child_main(work) -> None:
    """The ``__main__`` of a phase run apart: die with the parent, print what ``work()``
    returns, or the error in one line on stderr and exit 1."""
    die_with_parent()
    try:
        print(work())
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)


def deduplicate_apart(lake: Lake, changed, staged: list[Staged], run_id: str,
                      apart: bool = True) -> tuple[Path, Path]:
    """:func:`tasks.lake.dedupe.deduplicate` in a process of its own (or, not ``apart``, in
    this one); returns its ``links`` and ``duplicates`` Parquet files, in a temporary folder
    of the staging area that the commit reads them from (cleared with the staging area after
    the commit; a killed run's is swept). The series' 350,000 duplicate rows never enter
    this process."""
    work = _work_folder(lake, "dedupe")
    try:
        if apart:
            (work / "request.json").write_text(json.dumps({
                "data_root": str(lake.data_root), "changed": sorted(changed), "run_id": run_id,
                "staged": [{"entry": asdict(s.entry), "folder": s.folder} for s in staged]}))
            run_apart("tasks.lake.apart", "dedupe", str(work))
        else:
            from tasks.lake.dedupe import deduplicate  # (datasketch, scipy: only when needed)

            deduplicate(lake, sorted(changed), staged, run_id, work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return work / "links.parquet", work / "duplicates.parquet"


def commit_apart(lake: Lake, *args, apart: bool = True, **kwargs) -> int:
    """:meth:`tasks.lake.catalog.Lake.commit` in a process of its own (or, not ``apart``, in
    this one); returns the snapshot.

    A first ingest of the series commits some 3,800 files in one transaction: apart, its
    peak is its own, not added to the flow's. Killed with the flow, the child dies too and
    its transaction commits nothing."""
    if not lake.exists():
        lake.ensure()  # (the child opens the lake by its data root's saved settings: no secret passes)
    if not apart:
        return Lake(lake.data_root).commit(*args, **kwargs)  # (opened as the child opens it)
    work = _work_folder(lake, "commit")
    try:
        # (pickle: the run row's datetimes and the records as they are; the file is this
        # process's own, in the data root, read once by the child it starts)
        with open(work / "request.pickle", "wb") as f:
            pickle.dump({"data_root": str(lake.data_root), "args": args, "kwargs": kwargs}, f)
        return int(run_apart("tasks.lake.apart", "commit", str(work)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _work_folder(lake: Lake, phase: str) -> Path:
    parent = inside(lake.data_root, STAGING)
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{phase}-", dir=parent))


def _dedupe_child(work: Path) -> str:
    from tasks.lake.dedupe import deduplicate  # (datasketch, scipy: the child's imports only)

    request = json.loads((work / "request.json").read_text())
    staged = [Staged(ItemEntry(**s["entry"]), s["folder"]) for s in request["staged"]]
    return deduplicate(Lake(request["data_root"]), request["changed"], staged, request["run_id"], work)


def _commit_child(work: Path) -> int:
    with open(work / "request.pickle", "rb") as f:
        request = pickle.load(f)
    return Lake(request["data_root"]).commit(*request["args"], **request["kwargs"])


if __name__ == "__main__":  # python -m tasks.lake.apart dedupe|commit WORK
    child_main(lambda: {"dedupe": _dedupe_child, "commit": _commit_child}[sys.argv[1]](Path(sys.argv[2])))
