"""Where a command's time goes: CPU seconds of its whole process tree over time (sampled from
``/proc``), lined up with the phases its run summary reports, and its costliest functions
(py-spy, sampling every Python process of the tree).

- :class:`TreeSampler` reads ``utime + stime`` of the command and every descendant every
  ``interval`` seconds; a process's CPU is its last reading (what it used after its last
  sample, at most one interval, is lost). CPU seconds between two instants are interpolated.
- :func:`phase_table` turns the summary's ``phase_spans`` (start, end on the clock) into wall
  seconds, CPU seconds and cores busy (CPU / wall) per phase.
- :func:`py_spy_command` wraps a command in ``py-spy record --subprocesses --format raw``;
  :func:`top_functions` reads its collapsed stacks: self time (the innermost frame) and total
  time (any frame) per function, in seconds of samples.

py-spy (a pinned dev dependency) samples without stopping the processes (``--nonblocking``)
and runs outside the measured tree: its own CPU is not counted in the phases.
"""
from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections import Counter
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _tree_cpu() -> dict[tuple[int, int], tuple[int, float, str]]:
    """Every process: (pid, start time) -> (parent pid, CPU seconds, command name)."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read().decode("latin-1")
        except OSError:  # gone
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # (the name may hold spaces and parentheses)
        ppid, utime, stime, start = int(fields[1]), int(fields[11]), int(fields[12]), int(fields[19])
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        out[(int(name), start)] = (ppid, (utime + stime) / TICK, comm)
    return out


class TreeSampler:
    """CPU seconds of a process and its descendants, sampled in a thread (a context manager);
    processes named in ``exclude`` (the profiler) are left out, their descendants counted."""

    def __init__(self, root_pid: int, interval: float = 0.1, exclude: frozenset[str] = frozenset({"py-spy"})):
        self.root, self.interval, self.exclude = root_pid, interval, exclude
        self.samples: list[tuple[float, float]] = []  # (time.time(), CPU seconds so far)
        self._seen: dict[tuple[int, int], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "TreeSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.interval):
                self.sample()
                return

    def sample(self) -> None:
        procs = _tree_cpu()
        children: dict[int, list[tuple[int, int]]] = {}
        for key, (ppid, _, _) in procs.items():
            children.setdefault(ppid, []).append(key)
        todo = [k for k in procs if k[0] == self.root]
        while todo:
            key = todo.pop()
            if procs[key][2] not in self.exclude:  # (its children are counted)
                self._seen[key] = max(self._seen.get(key, 0.0), procs[key][1])
            todo.extend(children.get(key[0], ()))
        self.samples.append((time.time(), sum(self._seen.values())))

    def cpu_at(self, t: float) -> float:
        """CPU seconds used by the tree up to ``t`` (linear between samples)."""
        s = self.samples
        if not s or t <= s[0][0]:
            return 0.0
        for (t0, c0), (t1, c1) in zip(s, s[1:]):
            if t <= t1:
                return c0 + (c1 - c0) * (t - t0) / (t1 - t0) if t1 > t0 else c1
        return s[-1][1]

    @property
    def total(self) -> float:
        return self.samples[-1][1] if self.samples else 0.0


def phase_table(spans: dict, sampler: TreeSampler, wall: float) -> list[dict]:
    """Per phase (in the order they ran), the rest of the command, and the whole: wall, CPU,
    cores busy."""
    def row(phase: str, seconds: float, cpu: float) -> dict:
        return {"phase": phase, "wall_s": seconds, "cpu_s": cpu, "busy": cpu / seconds if seconds else None}

    rows = [row(name, end - start, sampler.cpu_at(end) - sampler.cpu_at(start))
            for name, (start, end) in sorted(spans.items(), key=lambda kv: kv[1][0])]
    rest = row("other (start-up, Prefect, run records)", max(wall - sum(r["wall_s"] for r in rows), 0.0),
               max(sampler.total - sum(r["cpu_s"] for r in rows), 0.0))
    return [*rows, rest, row("whole command", wall, sampler.total)]


def py_spy() -> str | None:
    """The py-spy executable beside this Python (the venv's), else on the PATH."""
    here = Path(sys.executable).with_name("py-spy")
    return str(here) if here.exists() else shutil.which("py-spy")


def py_spy_command(cmd: list[str], out: Path, rate: int = 50) -> list[str]:
    """``cmd`` run under py-spy, its collapsed stacks written to ``out``."""
    return [py_spy() or "py-spy", "record", "--subprocesses", "--nonblocking", "--rate", str(rate),
            "--format", "raw", "--output", str(out), "--", *cmd]


def _function(frame: str) -> str:
    """``name (path/to/file.py:line)`` -> ``name (file.py)``: one row per function, not per line."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{name} ({short})"


# Innermost frames that are a thread waiting (py-spy's idle detection misses some): not work.
WAITING = {"select", "poll", "wait", "sleep", "acquire", "get", "_connection_worker_thread", "accept"}


def top_functions(raw: Path, rate: int = 50, n: int = 15) -> tuple[list[tuple[str, float, float]], float]:
    """The ``n`` functions with the most self time in py-spy's collapsed stacks:
    (function, self seconds, total seconds); and all sampled seconds. Samples whose innermost
    frame is a wait (:data:`WAITING`) are left out."""
    own: Counter = Counter()
    total: Counter = Counter()
    samples = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        k = int(count)
        samples += k
        frames = [_function(f) for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames or frames[-1].split(" (")[0].rsplit(".", 1)[-1] in WAITING:
            continue
        own[frames[-1]] += k
        for f in set(frames):
            total[f] += k
    return [(f, c / rate, total[f] / rate) for f, c in own.most_common(n)], samples / rate
