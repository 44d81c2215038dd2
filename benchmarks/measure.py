"""What the benchmarks measure with: a command's wall time and peak RSS (a wrapper process),
medians of warm runs, sizes on disk, and formatting."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_PY = REPO / ".venv" / "bin" / "python"
FRUS = REPO / ".venv" / "bin" / "frus"
PHRASE = "Outer Mongolia"
RG_PATTERN = r"outer\s+mongolia"
BM25_QUERY = "Soviet troops Mongolia"
CHANGED_VOLUME = "frus1901China"
DUCKDB_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
REPEAT = 5

# Runs argv[2:], then writes its wall time, exit status and RUSAGE_CHILDREN peak RSS to argv[1].
WRAPPER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.call(sys.argv[2:])
seconds = time.perf_counter() - t
with open(sys.argv[1], "w") as f:
    json.dump({"rc": rc, "seconds": seconds,
               "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}, f)
sys.exit(rc)
"""

# A bare lxml parse of every *.xml of argv[1]; prints the parse time (interpreter start excluded).
LXML_BASELINE = """
import sys, time
from pathlib import Path
from lxml import etree
files = sorted(Path(sys.argv[1]).glob("*.xml"))
parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
t = time.perf_counter()
for f in files:
    etree.parse(str(f), parser)
print(time.perf_counter() - t)
"""


# -- helpers -------------------------------------------------------------------------


def bench_env() -> dict:
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
               PREFECT_HOME=str(REPO / ".prefect" / "bench"))
    env.pop("PREFECT_API_URL", None)
    return env


def measured(cmd: list[str], env: dict, watch=None) -> dict:
    """Run ``cmd`` under the wrapper: rc, seconds, peak RSS MB (largest single process), output.

    ``watch(pid)``: a context manager around the run, given the wrapper's pid (a CPU sampler
    of its process tree); it is returned as ``watched``."""
    with tempfile.NamedTemporaryFile(prefix="frus-scale-", suffix=".json", delete=False) as f:
        report = Path(f.name)
    watched = None
    try:
        proc = subprocess.Popen([sys.executable, "-c", WRAPPER, str(report), *cmd], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if watch is None:
            stdout, stderr = proc.communicate()
        else:
            with watch(proc.pid) as watched:
                stdout, stderr = proc.communicate()
        try:
            r = json.loads(report.read_text())
        except (OSError, ValueError):  # the wrapper itself failed
            r = {"rc": proc.returncode or 1, "seconds": float("nan"), "maxrss_kb": 0}
    finally:
        report.unlink(missing_ok=True)
    return {"rc": r["rc"], "seconds": r["seconds"], "peak_rss_mb": r["maxrss_kb"] / 1024,
            "stdout": stdout, "stderr": stderr, "watched": watched}


def last_json_object(text: str) -> dict | None:
    """The last JSON object of ``text`` that starts on a line of its own ('{' or '{...')."""
    lines = text.splitlines(keepends=True)
    decoder = json.JSONDecoder()
    for i in range(len(lines) - 1, -1, -1):
        if not lines[i].lstrip().startswith("{"):
            continue
        try:
            obj, _ = decoder.raw_decode("".join(lines[i:]).lstrip())
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def ingest(source: Path, data: Path, env: dict, wrap=None, watch=None, options=()) -> dict:
    """``frus ingest`` of ``source`` into ``data`` (and ``options``); ``wrap(cmd)`` runs it under
    a profiler, ``watch`` as :func:`measured`'s."""
    cmd = [str(FRUS), "ingest", "--source", str(source), "--data", str(data), *options]
    r = measured(wrap(cmd) if wrap else cmd, env, watch)
    r["summary"] = last_json_object(r["stderr"]) or {}
    return r


def tail(text: str, n: int = 40) -> str:
    return "\n".join("    " + line for line in text.splitlines()[-n:])


def median_ms(fn, repeat: int = REPEAT) -> tuple[float, object]:
    out = fn()  # warm
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), out


def du_mb(path: Path) -> float | None:
    """Disk usage of ``path`` (``du``), MB (10^6 bytes)."""
    if not path.exists():
        return None
    out = subprocess.run(["du", "-s", "--block-size=1", str(path.resolve())], capture_output=True, text=True)
    return int(out.stdout.split()[0]) / 1e6 if out.returncode == 0 else None


def fmt(v, spec: str = ".2f", na: str = "n/a") -> str:
    return na if v is None else format(v, spec)


# -- the scaled corpus ----------------------------------------------------------------
