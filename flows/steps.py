"""The ingest flow's tasks (coarse: a source item, or a batch of items, a task run) and where
they run.

Each task wraps a plain function of ``tasks/`` (or a source's method) with its retries and
its name; :func:`task_runner` chooses the workers that normalise.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import logging
import os
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

import flows.prefect_env  # noqa: F401,E402  (before Prefect)

from prefect import task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner  # noqa: E402

from tasks.lake import staging  # noqa: E402
from tasks.lake.apart import commit_apart, deduplicate_apart, start_pool_worker  # noqa: E402
from tasks.lake.catalog import Lake, Staged  # noqa: E402
from tasks.lake.provenance import is_reviewed_source  # noqa: E402
from tasks.records import PARSER_VERSION, Failure, ItemEntry, Lineage, utcnow  # noqa: E402
from tasks.sources import FetchedItem, FetchError, Source, SourceItem, printable  # noqa: E402
from warehouse import db  # noqa: E402
from flows.prefect_env import quiet_engine_logs  # noqa: E402

quiet_engine_logs()  # (here too: worker processes import this module to run its tasks)


def _named(verb: str, parameter: str):
    """A task run name after its item (``fetch volumes/frus1938v03.xml``), not ``fetch-ac4``:
    its name in the source, so two files with one stem in two folders are told apart."""
    def name(parameters: dict) -> str:
        value = parameters[parameter]
        item = value.item if isinstance(value, FetchedItem) else value
        return f"{verb} {printable(item.name)}"
    return name


PERMANENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


LOCAL_URIS = ("file:", "git+file:")


def may_pass_again(uri: str) -> bool:
    """Whether fetching ``uri`` again may pass where it failed: not a local file or git repository."""
    return not uri.startswith(LOCAL_URIS)


def worth_retrying(task, task_run, state) -> bool:
    """Whether a failed scan or fetch may pass if tried again: a network down, yes; a full or
    read-only disk, or a local file or git repository that cannot be read, no."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception as error:  # (a result that cannot be read: judge by that error)
        exc = error
    if not isinstance(exc, BaseException):
        return True
    if isinstance(exc, FetchError) and (exc.permanent or not may_pass_again(exc.item)):
        return False
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in PERMANENT_ERRNOS:
            return False
        exc = exc.__cause__ or exc.__context__
    return True


@task(name="scan", retries=2, retry_delay_seconds=5, retry_condition_fn=worth_retrying, cache_policy=NO_CACHE)
def scan(source: Source) -> list[SourceItem]:
    return source.scan()


@task(name="scan-or-mirror", cache_policy=NO_CACHE)
def scan_or_mirror(source: Source, mirror: Source) -> tuple[Source, list[SourceItem], str]:
    """List ``source``, or when it cannot be listed the ``mirror``, without retrying an
    unreachable upstream (the mirror is the fallback). Returns the source used, its items,
    and why ``source`` could not be listed ("" when it could)."""
    try:
        return source, source.scan(), ""
    except FetchError as exc:
        return mirror, mirror.scan(), str(exc)


# Sources retry transient errors themselves (HTTP backoff); the task retries once more
# for what outlives them (a network down for a minute).
@task(name="fetch", task_run_name=_named("fetch", "item"), retries=1, retry_delay_seconds=30,
      retry_condition_fn=worth_retrying, cache_policy=NO_CACHE)
def fetch(source: Source, item: SourceItem) -> FetchedItem:
    return source.fetch(item)


def fetched(source: Source, item: SourceItem) -> FetchedItem:
    """Fetch ``item``: in a task run of its own (retried) where a retry may help; a local file
    or a local git repository's blob is a copy no retry helps, fetched here without one (a task
    run costs the Prefect API about 0.1 s of CPU: 100 s for the whole series)."""
    return fetch(source, item) if may_pass_again(item.uri) else source.fetch(item)


def normalise_and_stage_item(staging_root: str, fetched: FetchedItem, run_id: str,
                             source: str | None) -> tuple[Staged, dict[str, int], float]:
    """Parse one item and stage its rows under ``staging_root`` (a folder, or a URL in the
    lake's store: :meth:`Lake.staging_root`) for the commit; returns the staged item, its
    rejects by reason and the seconds it took.

    Raises:
        NormaliseError: the item cannot be normalised (a refusal, or a crash with its traceback).
    """
    from tasks.normalise import FrusError, NormaliseError, normalise_item  # (here: a run with nothing new needs neither)

    start = time.perf_counter()
    lineage = Lineage(fetched.item.uri, fetched.sha256, run_id)
    reason = trace = None
    try:
        parsed = normalise_item(fetched, reviewed=is_reviewed_source(source))
    except FrusError as exc:  # a refusal: its message says it all
        reason = str(exc)
    except Exception as exc:  # a crash: its type and message on one line, its traceback kept
        reason = printable(f"{fetched.item.uri}: {type(exc).__name__}: {exc}")[:200]
        trace = traceback.format_exc()
    if reason is not None:  # raised outside the except: no unpicklable lxml error as context
        raise NormaliseError(reason, traceback=trace)
    folder = staging.stage_volume(staging_root, parsed.volume, parsed.documents, parsed.rejects, lineage,
                                  parsed.is_volume, parsed.references)
    entry = ItemEntry(
        uri=fetched.item.uri, volume_id=parsed.volume.volume_id, sha256=fetched.sha256,
        version=fetched.item.version, parser_version=PARSER_VERSION, run_id=run_id,
        ingested_at=utcnow().isoformat(), documents=len(parsed.documents),
        source=source, name=fetched.item.name, rejects=len(parsed.rejects),
    )
    reasons: dict[str, int] = {}
    for r in parsed.rejects:
        reasons[r.reason] = reasons.get(r.reason, 0) + 1
    return Staged(entry, folder), reasons, time.perf_counter() - start


def _batch_name(parameters: dict) -> str:
    """``normalise volumes/frus1861.xml``, or for a batch ``normalise a.xml … z.xml (8 items)``."""
    names = [printable(fetched.item.name) for fetched, _ in parameters["batch"]]
    if len(names) == 1:
        return f"normalise {names[0]}"
    return f"normalise {names[0]} … {names[-1]} ({len(names)} items)"


@task(name="normalise-and-stage", task_run_name=_batch_name, cache_policy=NO_CACHE)
def normalise_and_stage(staging_root: str, batch: list[tuple[FetchedItem, str | None]],
                        run_id: str) -> list:
    """Normalise and stage a batch of items, ``(fetched, its source)``, in a worker: for each,
    in order, what :func:`normalise_and_stage_item` returns or the error it raised (one bad
    item fails alone; a worker that dies fails its batch). A batch, not an item, a task run: a
    task run costs its worker and the Prefect API about 0.3 s of CPU, as much as parsing a
    middling volume. Items that carry their bytes (a worker on another machine) are parsed
    from a temporary copy of the worker's own."""
    outcomes: list = []
    with contextlib.ExitStack() as stack:
        # (made once, for a carried item only: a worker killed mid-batch leaves it behind)
        scratch = functools.cache(
            lambda: Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="frus-normalise-"))))
        for item, source in batch:
            outcomes.append(_outcome(staging_root, item, run_id, source, scratch))
    return outcomes


def _landed_here(fetched: FetchedItem, scratch: Callable[[], Path]) -> FetchedItem:
    """``fetched`` with a path this process can read (a carried item's bytes, written once
    into the folder ``scratch()`` gives)."""
    if fetched.data is None:
        return fetched
    path = scratch() / fetched.sha256
    path.write_bytes(fetched.data)
    return dataclasses.replace(fetched, path=path, data=None)


def _outcome(staging_root: str, item: FetchedItem, run_id: str, source: str | None,
             scratch: Callable[[], Path]):
    """What :func:`normalise_and_stage_item` returns for ``item`` (landed here first, see
    :func:`_landed_here`), or the error it raised (picklable)."""
    from tasks.errors import NormaliseError

    try:
        return normalise_and_stage_item(staging_root, _landed_here(item, scratch), run_id, source)
    except NormaliseError as exc:
        return exc
    except Exception as exc:  # (staging: a full disk…) as a NormaliseError, which pickles
        return NormaliseError(printable(f"{item.item.uri}: {type(exc).__name__}: {exc}")[:200],
                              traceback=traceback.format_exc())


@task(name="deduplicate", cache_policy=NO_CACHE)
def deduplicate(lake: Lake, changed: set[str], staged: list[Staged], run_id: str, apart: bool):
    """Duplicate links and clusters of the state about to be committed (changed documents
    matched against the stored signatures), ``apart``: in a process of its own
    (``tasks.lake.apart``)."""
    return deduplicate_apart(lake, changed, staged, run_id, apart)


@task(name="commit", cache_policy=NO_CACHE)
def commit(lake: Lake, run: dict, staged: list[Staged], updated: list[ItemEntry],
           failures: dict[str, Failure], base_failures: dict[str, Failure], dedupe, apart: bool,
           expect_data_snapshot: int | None = None) -> int:
    links, duplicates = dedupe if dedupe else (None, None)  # (Parquet files: deduplicate's)
    return commit_apart(lake, run, staged, updated, failures, base_failures, links, duplicates,
                        apart=apart, expect_data_snapshot=expect_data_snapshot)


@task(name="refresh-warehouse", cache_policy=NO_CACHE)
def refresh_warehouse(data_root: Path, apart: bool) -> bool:
    return db.refresh_apart(data_root, apart=apart)  # (apart: its memory goes back to the system)


def default_workers() -> int:
    return os.cpu_count() or 1


# A worker process costs its start (a Python, the pipeline's imports: about 2.5 s) and more a
# task than the flow's process does. Normalising in the tests' harness, one process / two
# workers: 8 volumes (18.5 MB) 3.3-3.8 / 10.0-10.6 s; the 19 volumes of the corpus (60 MB) 10.3
# / 13.6 s (the runs 21.0 / 23.3 s, 23 / 38 s of CPU); `frus ingest` of 57 volumes (3 copies,
# 180 MB) 43.5 / 23.6 s (the runs 73.8 / 51.0 s). The break-even lies between 19 and 57.
POOL_FROM = "FRUS_POOL_FROM_ITEMS"
DEFAULT_POOL_FROM = 32


def pool_from_items() -> int:
    """From how many items to normalise the default runner starts worker processes
    (``FRUS_POOL_FROM_ITEMS``, default 32; 0: always).

    Raises:
        ValueError: the setting is not a whole number.
    """
    value = os.environ.get(POOL_FROM, str(DEFAULT_POOL_FROM))
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{POOL_FROM}={value!r}: not a number of items") from None


def task_runner(workers: int | None = None, dask_address: str | None = None, items: int | None = None):
    """Where the normalise-and-stage tasks (a batch of items each) run.

    ``workers`` processes of this machine (1 = in this process, one volume at a time while the
    next is fetched), through Prefect's process pool; by default one per core once there are
    :func:`pool_from_items` ``items`` to normalise, in this process below. One item is always
    normalised here. Or, with ``dask_address``, the Dask scheduler there (prefect-dask), whose
    workers reach the same Prefect API, and the lake's store or else the data root.

    Raises:
        ValueError: ``workers`` below 1, or a bad ``FRUS_POOL_FROM_ITEMS``.
    """
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    few = pool_from_items() if workers is None else 2  # (checked whatever the run's size)
    if dask_address:
        from prefect_dask import DaskTaskRunner

        logging.getLogger("distributed").setLevel(logging.WARNING)  # the client's chatter
        # A batch carries its volumes' bytes (up to BATCH_BYTES) for workers that see no data
        # root: a "large graph" by Dask's measure, sent once and never repeated.
        warnings.filterwarnings("ignore", "Sending large graph", UserWarning)
        return DaskTaskRunner(address=dask_address)
    if items is not None and items < few:
        workers = 1
    workers = default_workers() if workers is None else workers
    if workers == 1:
        return ThreadPoolTaskRunner(max_workers=1)
    return WorkerPool(max_workers=workers)


class WorkerPool(ProcessPoolTaskRunner):
    """Prefect's process pool, whose worker processes never outlive the run.

    A worker waits for its next batch on the pool's queue, whose write end it holds itself:
    left alone, it never sees the end of the flow's process. Before this class, `frus ingest
    --workers 2` on the corpus, interrupted mid-normalise, left both workers (and
    multiprocessing's resource tracker) running for good: Ctrl-C or SIGINT to the flow on the
    temporary API (the flow ends at once, ``os._exit``); Ctrl-C with a Prefect server (the
    flow hung at exit). SIGINT or SIGTERM to the flow alone with a server waited for the
    running batches (2.5-5 s). Now the workers die with the flow's process (the kernel kills
    them), and an interrupted or failed run kills them at once: none is left 0.2-1 s after.
    """

    def __init__(self, max_workers: int | None = None):
        super().__init__(max_workers=max_workers, initializer=start_pool_worker)

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        if exc_type is not None and self._executor is not None:
            # KeyboardInterrupt, Prefect's TerminationSignal (SIGTERM), a failed run: no
            # outcome is wanted any more, and Prefect's exit would wait for the running
            # batches. A killed worker leaves what a SIGKILL does, which the next run handles.
            if self._subprocess_message_queue is not None:  # (a killed worker may hold its
                self._subprocess_message_queue.cancel_join_thread()  # lock: exit need not wait)
            for process in list((self._executor._processes or {}).values()):
                process.kill()  # (the pool's manager thread then fails the pending futures)
        super().__exit__(exc_type, exc_value, traceback)
