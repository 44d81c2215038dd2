"""Shared fixtures: the corpus path, each corpus volume parsed once, and an offline,
project-local Prefect for the tests that run flows (``prefect_api``, requested, not autouse)."""
from __future__ import annotations

import fcntl
import os
import shutil
import signal
import warnings
from pathlib import Path

import pytest

from tests.dask_cluster import dask_cluster  # noqa: F401 (the fixture: a Dask cluster of processes)
from tests.postgres_server import postgres_server  # noqa: F401 (the fixture: a PostgreSQL on 127.0.0.1)
from tests.s3_server import s3_bucket, s3_server  # noqa: F401 (the fixtures: an S3 server on 127.0.0.1)
from tests.store_proxy import store_proxy  # noqa: F401 (the fixture: a fault proxy in front of it)

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("FRUS_CORPUS", REPO.parent / "shared" / "corpus")).resolve()
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Prefect must never phone home, and keeps its state inside the project in tests; under
# pytest-xdist each worker has a home of its own (the harness's database lives in a temp dir).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_API_BLOCKS_REGISTER_ON_START", "false")  # (no test uses a block type)
os.environ.setdefault("PREFECT_HOME", str(REPO / ".prefect" / "test"))
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["PREFECT_HOME"] = str(Path(os.environ["PREFECT_HOME"]) / os.environ["PYTEST_XDIST_WORKER"])
    # The workers share the cores: DuckDB's threads a connection (one a core by default) only
    # add CPU on the tests' small lakes (README, Architecture: Threads).
    os.environ.setdefault("FRUS_DUCKDB_THREADS", str(max(1, (os.cpu_count() or 1)
                                                         // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))))


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared FRUS corpus (``$FRUS_CORPUS``, default ``../shared/corpus``)."""
    if not (CORPUS / "frus" / "volumes").is_dir():
        pytest.fail(f"corpus not found at {CORPUS}: set FRUS_CORPUS")
    return CORPUS


@pytest.fixture(scope="session")
def volumes_dir(corpus: Path) -> Path:
    return corpus / "frus" / "volumes"


@pytest.fixture(scope="session")
def parsed_volume():
    """``parsed_volume(path)``: the TEI file parsed once per session (worker); read, never mutate."""
    from tasks.normalise.tei import parse_volume

    cache: dict[Path, object] = {}

    def get(path: Path):
        key = Path(path).resolve()
        if key not in cache:
            cache[key] = parse_volume(key)
        return cache[key]

    return get


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def prefect_api():
    """One temporary Prefect API for the session (worker), for the tests that run flows; stopped
    before pytest closes its streams. Request it (``pytest.mark.usefixtures("prefect_api")``)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    # No heartbeats in the tests' flow runs: a run's end waits up to a second for its heartbeat
    # thread (0.85 s of a 1.3 s rerun); heartbeats only tell a server a run is alive.
    with prefect_test_harness(server_startup_timeout=120), \
            temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


@pytest.fixture(scope="session")
def corpus_lake(tmp_path_factory, corpus: Path, prefect_api) -> Path:
    """The data root of the whole shared corpus ingested once for the whole run: the volumes,
    the excerpts, the seed page text and the authority lists (links to the corpus). Under
    pytest-xdist the first worker to ask builds it while the others wait on a lock, then all
    read it. Read it only: a test that writes makes a data root of its own."""
    from flows.ingest import run_ingest

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # (the run's folder, above each worker's own)
    root, src, done = shared / "corpus-lake", shared / "corpus-src", shared / "corpus-lake.done"
    with open(shared / "corpus-lake.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(src, ignore_errors=True)
            shutil.rmtree(root, ignore_errors=True)  # (a worker's build that failed)
            src.mkdir()
            for f in [*(corpus / "frus").rglob("*.xml"), corpus / "seed" / "000_06e3c999c372cd2d.txt",
                      *(corpus / "reference").glob("*.csv")]:
                (src / f.name).symlink_to(f)
            summary = run_ingest(source=str(src), data_dir=str(root), follow_links=True)
            assert summary["status"] == "completed", summary
            done.write_text(summary["run_id"])
    return root


@pytest.fixture(autouse=True)
def _default_sigint(request):
    """Each test starts with Python's own Ctrl-C (KeyboardInterrupt), whatever an earlier test
    of its worker process left, and a warning names the test it found otherwise: under `make
    test` a worker was once found with SIGINT ignored after a corpus ingest (not reproduced
    since), and then the interrupt tests fail (their children inherit the ignore)."""
    found = signal.getsignal(signal.SIGINT)
    if found is not signal.default_int_handler:
        warnings.warn(f"SIGINT was {found!r} before {request.node.nodeid}: set back to the default")
        signal.signal(signal.SIGINT, signal.default_int_handler)


# Fixtures whose tests are slow by nature: a flow run (Prefect), a server in a child process.
SLOW_FIXTURES = {"prefect_api", "prefect_server", "postgres_server", "s3_server", "store_proxy", "dask_cluster"}
# The longest files (see `pytest --durations`) start first: under `make test` (a file on one
# worker, in this order) the two workers then end together instead of one waiting on test_kills.
LONGEST_FIRST = ("tests/hostile/test_kills.py", "tests/flows/test_ingest_flow.py", "tests/lake/test_lake.py",
                 "tests/flows/test_operators.py", "tests/flows/test_ingest_http.py", "tests/flows/test_ingest_git.py",
                 "tests/test_analyst.py", "tests/flows/test_replay.py", "tests/flows/test_schedule.py",
                 "tests/test_people.py")


def _order(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    if path in LONGEST_FIRST:
        return LONGEST_FIRST.index(path)
    return len(LONGEST_FIRST) + (0 if item.get_closest_marker("slow") else 1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that runs a flow or a server; corpus-wide, HTTP and kill tests
    carry the mark themselves. ``pytest -m "not slow"`` is the quick loop. The longest files first."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    items.sort(key=_order)  # (stable: a file's tests keep their order)
