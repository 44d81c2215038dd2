"""Kills, full disks and readers: a committed state is never lost nor half seen.

- 8 SIGKILLs of an ingest (its whole process group: the flow, its warehouse update) over an
  existing warehouse, half with the phases in processes of their own (as on a big lake), half
  in the flow's; one at a random point of each quarter of the run of its kind (the child is
  forked from a Python that has imported the code, so that every kill lands in the run, and
  every phase gets its kills): right after each, the warehouse reads the previous state or
  the new one, never an error; a rerun then equals an uninterrupted run.
- A full disk (a small tmpfs as the data root) during a run leaves the previous state
  readable, and the run completes once there is room.
- 200 reads (search and sql, through the guarded entry point) in a loop during 6 ingests:
  no error, and each read sees the state some run left.
- What killed runs leave (temporary files) is swept at the next start.
- Ctrl-C (SIGINT to the process group) or SIGINT to the flow alone, mid-normalise with two
  worker processes, leaves no process of the run within seconds, and the previous state.
"""
from __future__ import annotations

import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from flows.ingest import run_ingest
from tests.lake.test_lake import SMALL, STATE, _rows
from warehouse import db

pytestmark = pytest.mark.usefixtures("prefect_api")  # every test runs a flow

REPO = Path(__file__).resolve().parents[2]
KILLS = 8
# The children's parent: a Python that imports the pipeline once, then forks a child ingest for
# each line it reads ([source, data root, apart]), in a process group of its own, and prints its
# pid and then its exit status. A child starts its run at once, without 2 s of imports.
ZYGOTE = """
import json, os, sys, traceback
from flows.ingest import run_ingest
from tasks.lake.apart import APART_FROM
for line in sys.stdin:
    src, data, apart = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setsid()
            if apart:
                os.environ[APART_FROM] = "0"
            code = 0 if run_ingest(source=src, data_dir=data, workers=1)["status"] == "completed" else 1
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    print(pid, flush=True)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


class Children:
    """Child ingests forked from a :data:`ZYGOTE`: ``start`` one, ``wait`` for its exit
    status (None: still running after ``timeout``), ``kill`` its whole process group."""

    def __init__(self, log: Path):
        from prefect.settings import get_current_settings

        url = get_current_settings().api.url  # (this session's API: no temporary server to start)
        assert url, "the test session's Prefect API is not running"
        self.log = log
        with open(log, "ab") as err:  # (the zygote and its children write here)
            self.zygote = subprocess.Popen([sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, stderr=err, text=True,
                                           env={**os.environ, "PREFECT_API_URL": url, "PYTHONPATH": str(REPO)})
        self.pid = None

    def start(self, src: Path, data: Path, apart: bool) -> None:
        self.zygote.stdin.write(json.dumps([str(src), str(data), apart]) + "\n")
        self.zygote.stdin.flush()
        self.pid = int(self.zygote.stdout.readline())

    def wait(self, timeout: float) -> int | None:
        if not select.select([self.zygote.stdout], [], [], timeout)[0]:
            return None
        return int(self.zygote.stdout.readline())

    def kill(self) -> int:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # it finished first
        return self.wait(timeout=600)

    def close(self) -> None:
        self.zygote.stdin.close()
        self.zygote.wait(timeout=60)


def _state(data: Path) -> tuple:
    _, rows = db.query(data, STATE)
    return rows[0]


def _restore(backup: Path, data: Path) -> None:
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(backup, data, symlinks=True)


@pytest.fixture(scope="module")
def before_and_after(tmp_path_factory, volumes_dir: Path):
    """A data root holding one volume (kept as ``backup``), a source that adds the second,
    the state an uninterrupted run from there leaves, how long it takes with its phases apart
    and in the flow's process, and the :class:`Children` that run it."""
    root = tmp_path_factory.mktemp("kills")
    src, data, backup = root / "src", root / "data", root / "backup"
    src.mkdir()
    shutil.copy2(volumes_dir / SMALL[0], src)
    run_ingest(source=str(src), data_dir=str(data), workers=1)
    shutil.copytree(data, backup, symlinks=True)
    before = _state(data)
    shutil.copy2(volumes_dir / SMALL[1], src)
    children = Children(root / "children.log")
    try:
        seconds, after, rows = {}, set(), []
        for apart in (True, False):
            _restore(backup, data)
            start = time.monotonic()
            children.start(src, data, apart)
            code = children.wait(timeout=600)
            seconds[apart] = time.monotonic() - start
            assert code == 0, children.log.read_text()[-3000:]
            after.add(_state(data))
            rows.append(_rows(data))
        assert len(after) == 1 and rows[0] == rows[1], after  # apart or not, one outcome
        yield {"root": root, "src": src, "data": data, "backup": backup, "before": before,
               "after": after.pop(), "rows": rows[0], "seconds": seconds, "children": children}
    finally:
        children.close()


def test_kills_through_the_run_leave_a_readable_state_and_a_rerun_completes_it(before_and_after):
    b = before_and_after
    data, children = b["data"], b["children"]
    assert b["after"] != b["before"]
    rng = random.Random(20261202)
    seen = []
    for n in range(KILLS):
        _restore(b["backup"], data)
        apart, k = n % 2 == 0, n // 2  # (stratified: each 2/KILLS of a run of each kind once)
        at = (k + rng.random()) * b["seconds"][apart] * 2 / KILLS
        children.start(b["src"], data, apart)
        if children.wait(timeout=at) is None:
            children.kill()
        state = _state(data)  # readable right after the kill
        assert state in (b["before"], b["after"]), (n, apart, at, state)
        seen.append(state == b["after"])
        run_ingest(source=str(b["src"]), data_dir=str(data), workers=1)
        assert _state(data) == b["after"], (n, apart, at)
        assert _rows(data) == b["rows"], (n, apart, at)
    assert len(seen) == KILLS
    print(f"{KILLS} kills in runs of {b['seconds'][True]:.1f} s (apart) and {b['seconds'][False]:.1f} s: "
          f"{KILLS - sum(seen)} left the previous state, "
          f"{sum(seen)} the new one; all readable, all equal to the reference after a rerun")


def test_reads_during_six_ingests_never_fail(tmp_path: Path, volumes_dir: Path):
    src, data = tmp_path / "src", tmp_path / "data"
    src.mkdir()
    shutil.copy2(volumes_dir / SMALL[0], src)
    run_ingest(source=str(src), data_dir=str(data), workers=1)
    states = {_state(data)}
    stop, out = tmp_path / "stop", tmp_path / "reads.json"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(data), str(stop), str(out)],
                              env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.PIPE, text=True)
    try:
        path = src / SMALL[0]
        original = path.read_text()
        for n in range(6):  # add, change, remove, restore…: each run changes what readers see
            if n % 3 == 0:
                shutil.copy2(volumes_dir / SMALL[1], src)
            elif n % 3 == 1:
                path.write_text(original.replace("</p>", f" Reading number {n}.</p>", 1))
            else:
                (src / SMALL[1]).unlink()
                path.write_text(original)
            assert run_ingest(source=str(src), data_dir=str(data), workers=1)["status"] == "completed"
            states.add(_state(data))
    finally:
        stop.touch()
        _, err = reader.communicate(timeout=600)
    assert reader.returncode == 0, err
    result = json.loads(out.read_text())
    assert result["errors"] == [] and result["reads"] >= 200
    assert {tuple(s) for s in result["states"]} <= states, (result["states"], states)
    assert len(states) >= 3  # (the last run restores the first change's state)
    print(f"{result['reads']} reads, {len(result['errors'])} errors, {len(result['states'])} states seen")


READER = """
import json, os, sys
from warehouse import db
from tests.lake.test_lake import STATE
data, stop, out = sys.argv[1:4]
reads, errors, states = 0, [], set()
while not os.path.exists(stop) or reads < 200:
    try:
        if reads % 2:
            states.add(tuple(db.query(data, STATE)[1][0]))
        else:
            db.query(data, "SELECT doc_key, hits FROM mentions(?)", ["Nicaragua"])
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    reads += 1
json.dump({"reads": reads, "errors": errors, "states": sorted(states)}, open(out, "w"))
"""


@contextmanager
def small_disk(where: Path, size: str = "48m"):
    """A tmpfs of ``size`` mounted at ``where`` (a real disk that fills up)."""
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"mounting a tmpfs needs root (as on CI): {done.stderr}"
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(disk: Path, leave: int = 256 * 1024) -> Path:
    filler = disk / "filler"
    with open(filler, "ab") as f:
        f.write(b"\0" * max(0, shutil.disk_usage(disk).free - leave))
    return filler


def test_a_full_disk_leaves_the_previous_state_and_the_next_run_completes(tmp_path: Path, volumes_dir: Path):
    """The data root on a 48 MB tmpfs: a second volume arrives when the disk is full."""
    with small_disk(tmp_path / "disk") as disk:
        src, data = tmp_path / "src", disk / "data"
        src.mkdir()
        shutil.copy2(volumes_dir / SMALL[0], src)
        assert run_ingest(source=str(src), data_dir=str(data), workers=1)["status"] == "completed"
        before = _state(data)
        shutil.copy2(volumes_dir / SMALL[1], src)
        filler = _fill(disk)
        summary = run_ingest(source=str(src), data_dir=str(data), workers=1)
        assert summary["status"] != "completed"
        assert any("No space left" in f for f in summary["failures"]), summary["failures"]
        assert _state(data) == before  # the previous state, readable
        filler.unlink()
        again = run_ingest(source=str(src), data_dir=str(data), workers=1)
        assert again["status"] == "completed"
        assert _state(data) != before and db.is_current(data)


def test_a_failure_after_the_commit_is_a_warning_on_a_completed_run(tmp_path: Path, volumes_dir: Path,
                                                                    monkeypatch):
    """The disk fills up right after the run's commit: the run is completed (the lake holds
    it), says why its warehouse is behind, and readers keep the previous state."""
    from flows import steps

    with small_disk(tmp_path / "disk") as disk:
        src, data = tmp_path / "src", disk / "data"
        src.mkdir()
        shutil.copy2(volumes_dir / SMALL[0], src)
        run_ingest(source=str(src), data_dir=str(data), workers=1)
        before = _state(data)
        shutil.copy2(volumes_dir / SMALL[1], src)
        real_commit, fillers = steps.commit_apart, []

        def commit_then_fill(*args, **kwargs):  # (the commit runs in a child process)
            snapshot = real_commit(*args, **kwargs)
            fillers.append(_fill(disk, leave=0))
            return snapshot

        monkeypatch.setattr(steps, "commit_apart", commit_then_fill)
        summary = run_ingest(source=str(src), data_dir=str(data), workers=1)
        monkeypatch.undo()
        assert summary["status"] == "completed" and summary["items_new"] == 1
        assert "committed; then" in summary["message"] and "No space left" in summary["message"]
        assert _state(data) == before and not db.is_current(data)  # readable, one run behind
        fillers[0].unlink()
        again = run_ingest(source=str(src), data_dir=str(data), workers=1)
        assert again["status"] == "completed" and again["items_unchanged"] == 2
        assert db.is_current(data) and _state(data) != before


def test_leftovers_of_killed_runs_are_swept_at_the_next_start(tmp_path: Path, volumes_dir: Path):
    src, data = tmp_path / "src", tmp_path / "data"
    src.mkdir()
    shutil.copy2(volumes_dir / SMALL[0], src)
    run_ingest(source=str(src), data_dir=str(data), workers=1)
    leftovers = [data / "raw" / ".tmp-killed", data / "lake" / "staging" / ".tmp-abc-def-p1.1.0.999",
                 data / "lake" / ".runs.parquet.999.tmp", data / ".warehouse" / "9.duckdb.tmp",
                 data / ".warehouse" / "9.duckdb.tmp.wal"]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0" * 1024)
    shutil.copy2(volumes_dir / SMALL[1], src)
    assert run_ingest(source=str(src), data_dir=str(data), workers=1)["status"] == "completed"
    assert [p for p in leftovers if p.exists()] == []


def _processes() -> dict[int, tuple[str, int, int, float, str]]:
    """Every live process: pid -> (state, parent, session, CPU seconds, command line)."""
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # (ended meanwhile)
        f = stat[stat.rindex(")") + 2:].split()  # (after the command's name, which may hold spaces)
        if f[0] != "Z":
            out[int(pid)] = (f[0], int(f[1]), int(f[3]), (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK"), cmd)
    return out


def _descendants(pid: int, procs: dict) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        children = {p for p, info in procs.items() if info[1] == parent} - found
        found |= children
        todo += children
    return found


@pytest.mark.slow
@pytest.mark.parametrize("to_group", [True, False], ids=["ctrl-c", "kill-INT"])
def test_an_interrupt_mid_normalise_leaves_no_worker_process(tmp_path: Path, volumes_dir: Path, to_group):
    """`frus ingest --workers 2` of the corpus over a lake of one volume, interrupted while
    both worker processes normalise: Ctrl-C (SIGINT to the whole process group, on the
    session's API: Prefect's own interrupt) or SIGINT to the flow alone (a supervisor's
    `kill -INT`, on the CLI's temporary API: its stop at once). Within seconds no process of
    the run is left (a worker had outlived it for good), and the lake holds the state before.
    """
    from tasks.lake.catalog import Lake
    from tests.prefect_server import copy_database

    src, data, log = tmp_path / "src", tmp_path / "data", tmp_path / "run.log"
    src.mkdir()
    shutil.copy2(volumes_dir / SMALL[0], src)
    run_ingest(source=str(src), data_dir=str(data), workers=1)
    before, rows = _state(data), _rows(data)
    for volume in volumes_dir.glob("*.xml"):
        shutil.copy2(volume, src)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if to_group:
        from prefect.settings import get_current_settings

        env["PREFECT_API_URL"] = str(get_current_settings().api.url)
    else:  # the CLI's temporary API (on a migrated database: a start without migrations)
        env.pop("PREFECT_API_URL", None)
        copy_database(tmp_path / "prefect.db")
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}"
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "ingest", "--source", str(src), "--data",
                             str(data), "--workers", "2"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=log.open("w"))
    seen: set[int] = set()  # every process of the run, whoever its parent is by the end
    try:
        deadline, cpu = time.monotonic() + 300, {}
        while True:  # until both workers run (their CPU grows) and one has staged an item
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            procs = _processes()
            seen |= _descendants(proc.pid, procs)
            workers = {p: procs[p][3] for p in seen & procs.keys() if "spawn_main" in procs[p][4]}
            busy = len(workers) == 2 and all(t > cpu.get(p, t) for p, t in workers.items())
            if busy and list((data / "lake" / "staging").glob("*/documents.parquet")):
                break
            cpu = workers
            time.sleep(0.2)
        (os.killpg if to_group else os.kill)(proc.pid, signal.SIGINT)
        start = time.monotonic()
        while time.monotonic() - start < 10:
            procs = _processes()
            left = {p: i[4][:100] for p, i in procs.items() if p in seen or i[2] == proc.pid}  # (or its session)
            if not left:
                break
            time.sleep(0.1)
        seconds = time.monotonic() - start
        assert not left, f"left {seconds:.0f} s after the interrupt: {left}"
        assert proc.wait(timeout=1) == 130, log.read_text()[-3000:]
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # (what a failure leaves: its strays keep its group)
        except ProcessLookupError:
            pass
        proc.wait()
    assert len(Lake(data).state().items) == 1  # nothing of the run committed
    assert _state(data) == before and _rows(data) == rows
    print(f"interrupted with {len(seen)} processes of its own; none left {seconds:.1f} s later")
