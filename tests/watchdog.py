"""A watchdog for the tests' server processes: it kills them (their process groups) and
removes their directory when the test process dies, however it dies (even ``kill -9``).

The parent starts the watchdog first, then tells it each process group it starts
(:meth:`Watchdog.guard`; a process started with ``start_new_session=True`` leads its own
group). The watchdog waits until the parent closes the pipe (a normal stop: the parent has
stopped its processes already, and the watchdog finds nothing alive) or dies (the pipe
closes, or the watchdog is handed to another parent); then it sends SIGTERM, and SIGKILL to
what remains after :data:`GRACE` seconds, and removes the directory. A group is only killed
while its leader is the process registered (its start time in ``/proc`` matches), so a
reused pid is never hit. Standard library only: this file runs as a script.

    from tests.watchdog import Watchdog

    dog = Watchdog(root)                                  # before anything it must stop
    proc = subprocess.Popen([...], start_new_session=True)
    dog.guard(proc.pid)
    ...
    dog.close()                                           # after stopping proc yourself
"""
from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

GRACE = 5.0  # seconds between SIGTERM and SIGKILL


def start_time(pid: int) -> str | None:
    """A process's start time (clock ticks since boot, ``/proc/<pid>/stat`` field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _running(pid: int, started: str | None) -> bool:
    """Whether ``pid`` is still the process registered, and not a zombie."""
    if started is None or start_time(pid) != started:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def kill_groups(groups: dict[int, str | None], grace: float = GRACE) -> None:
    """SIGTERM the process groups whose leader runs still; after ``grace`` seconds SIGKILL
    every group whose leader runs or is gone (whatever it left in its group), but never one
    whose pid now names another process."""
    for group in [g for g, t in groups.items() if _running(g, t)]:
        try:
            os.killpg(group, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + grace
    while any(_running(g, t) for g, t in groups.items()) and time.monotonic() < deadline:
        time.sleep(0.05)
    for group, started in groups.items():
        if start_time(group) in (None, started):
            try:
                os.killpg(group, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _watch(parent: int, root: str) -> None:
    """Read ``pid`` lines from stdin until the parent closes it or dies; then clean up."""
    groups: dict[int, str | None] = {}
    pending = b""
    while os.getppid() == parent:
        if not select.select([0], [], [], 1.0)[0]:
            continue
        data = os.read(0, 4096)
        if not data:
            break
        *lines, pending = (pending + data).split(b"\n")
        for line in lines:
            pid, started = line.split()
            groups[int(pid)] = started.decode()
    kill_groups(groups)
    if root:
        shutil.rmtree(root, ignore_errors=True)


class Watchdog:
    """The parent's end: a watchdog process that guards process groups and ``root``."""

    def __init__(self, root: Path | str | None) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, str(os.getpid()), str(root or "")],
                                     stdin=subprocess.PIPE, start_new_session=True)

    def guard(self, pid: int) -> None:
        """Have the watchdog kill the process group led by ``pid`` if the parent dies."""
        self.proc.stdin.write(f"{pid} {start_time(pid)}\n".encode())
        self.proc.stdin.flush()

    def close(self, timeout: float = 30) -> None:
        """Let the watchdog go (it kills what is left, removes the directory and exits)."""
        if self.proc.stdin.closed:
            return
        self.proc.stdin.close()
        self.proc.wait(timeout)


def stop_group(proc: subprocess.Popen, grace: float = GRACE) -> None:
    """Stop a child that leads its own process group (all of the group): SIGTERM, then
    SIGKILL; reap it."""
    if proc.returncode is None:  # not reaped: its pid (even a zombie's) is still its own
        kill_groups({proc.pid: start_time(proc.pid)}, grace)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass


if __name__ == "__main__":
    _watch(int(sys.argv[1]), sys.argv[2])
