"""The ingest flow: scan → plan → fetch → normalise → dedupe → commit → publish, one source
item (volume) a task.

Reads top to bottom like the pipeline. The work lives in ``tasks/`` as plain functions (what
changed since the last commit is ``tasks.lake.changes``'s rule), the tasks and their runner
in ``flows/steps.py``; this module only orchestrates and reports.
"""
from __future__ import annotations

import functools
import os
import time
import uuid
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, replace
from pathlib import Path

import flows.prefect_env  # noqa: F401,E402  (before Prefect)

from prefect import flow, get_run_logger  # noqa: E402

from tasks.lake.apart import runs_apart  # noqa: E402
from tasks.lake.catalog import Lake, LakeBusy, LakeState  # noqa: E402
from tasks.lake.changes import Changes  # noqa: E402
from tasks.records import RunReport, utcnow  # noqa: E402
from tasks.sources import FetchedItem, Source, SourceItem, open_source, printable  # noqa: E402
from tasks.sources.uri import display, hide_password, parse  # noqa: E402
from warehouse import db  # noqa: E402
from flows.prefect_env import quiet_engine_logs  # noqa: E402
from flows.report import final_state, prefect_run, publish, quality_section  # noqa: E402
from flows.steps import (  # noqa: E402,F401  (_named, task_runner: the tests' and the CLI's import)
    _named, commit, deduplicate, fetched, normalise_and_stage, refresh_warehouse, scan, scan_or_mirror,
    task_runner)

quiet_engine_logs()


def new_run_id() -> str:
    return f"{utcnow():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


@flow(name="ingest", log_prints=True)
def ingest(source: str, data_dir: str = "data", volumes: list[str] | None = None,
           wait: bool = True, mirror: str | None = None, workers: int | None = None,
           dask_address: str | None = None, catalog: str | None = None,
           lake_data: str | None = None, follow_links: bool = False):
    """Ingest a source of TEI volumes and page texts into the lake and warehouse.

    Returns the run's summary (a dict) in a state that says what happened: Completed, or
    Completed named ``Skipped`` (the lake was busy) or ``Empty`` (the source or selection
    offers nothing); Failed named ``Partial`` (some items failed) or ``Failed``. Call
    :func:`run_ingest` for the summary whatever the state.

    Args:
        source: where the volumes are: a folder, ``git``/``git+…``, ``http(s)://…``,
            ``urls:FILE`` (see ``tasks.sources.uri``), or ``replay``: re-normalise
            what the lake holds from the landing zone, without fetching. Any spelling of one
            source is recorded as its one identity (``tasks.sources.uri.parse``).
        data_dir: the data root (landing zone, lake, warehouse).
        volumes: volume ids or globs to select (``frus1936v*``); None = all.
        wait: when another ingest holds the data root, wait for it (True) or skip (False).
        mirror: a local copy of the volumes (a folder) to ingest instead when ``source``
            cannot be listed (no network, upstream down); the run's ``message`` says so.
        workers: volumes normalised at once, in processes (default: see :func:`task_runner`).
        dask_address: a Dask scheduler to normalise on instead (see :func:`task_runner`).
        catalog: the lake's catalog on its first ingest: ``sqlite:PATH`` (default
            ``DATA/lake/catalog.sqlite``) or ``postgresql://…``; later runs read it from the
            data root.
        lake_data: where the lake's data files go on its first ingest: a folder or
            ``s3://bucket/prefix`` (default ``$FRUS_LAKE_DATA``, else ``DATA/lake/data/``).
        follow_links: in a local folder, follow symlinks to files anywhere (default: only to
            regular files inside the folder; FIFOs, devices and sockets are never read).
    """
    quiet_engine_logs()
    log = get_run_logger()
    task_runner(workers, dask_address)  # (a bad choice fails here, before any work)
    runner = functools.partial(task_runner, workers, dask_address)  # (sized once the plan is known)
    runner.remote = bool(dask_address)  # (its workers may see neither the landing zone nor the data root)
    source, mirror = parse(source).identity, mirror and parse(mirror).identity
    data_root = Path(data_dir).resolve()
    if lake_data is None and not Lake(data_root).exists():  # (a later run's root has its own)
        lake_data = os.environ.get("FRUS_LAKE_DATA") or None
    lake = Lake(data_root, catalog, lake_data)
    try:
        with lake.lock(wait=wait, on_wait=lambda where: log.warning(
                "another ingest is running on %s: waiting for it to finish", where)) as held:
            report = RunReport(new_run_id(), source, utcnow(), **prefect_run())
            try:
                return final_state(_ingest(log, lake, report, volumes, mirror, runner,
                                           {"follow_links": True} if follow_links else {}, held))
            except Exception as exc:
                # On record before Prefect marks the flow run failed (and retries it, if set).
                report.status, report.message = "failed", hide_password(printable(f"{type(exc).__name__}: {exc}"))
                report.finished_at = utcnow()
                log.error("run %s failed: %s", report.run_id, report.message)
                try:
                    lake.record_run(report.row())
                    lake.export_runs()
                except Exception as again:  # (the catalog or the store still down: the log has it)
                    log.error("run %s: its row could not be recorded: %s: %s", report.run_id,
                              type(again).__name__, hide_password(printable(str(again))))
                raise
    except LakeBusy as exc:
        return final_state(_skipped(log, lake, source, exc))


def _skipped(log, lake: Lake, source: str, exc: LakeBusy) -> dict:
    """The summary of a run that found the lake busy (and its row, once the lake exists)."""
    log.warning("skipped: %s (runs never overlap)", exc)
    now = utcnow()
    # (the running ingest may have just created it; a root with settings: as saved)
    lake = Lake(lake.data_root) if lake.exists() else Lake(lake.data_root, *lake._given)
    if lake.shared and not lake.exists():  # (a new machine of a team: the lake is in the catalog)
        with suppress(FileNotFoundError):
            lake.adopt()
    report = RunReport(new_run_id(), source, now, now, "skipped", message=str(exc), **prefect_run())
    if lake.exists():  # a first run still creating the lake: its row is the first
        lake.record_run(report.row())
        lake.export_runs()
    return {**report.row(), "reason": str(exc), "failures": [], "volumes": []}


def run_ingest(**parameters) -> dict:
    """Run the flow and return its summary whatever its final state (the CLI's entry).

    Raises:
        Exception: what stopped the run (a source that cannot be listed, a bad argument).
    """
    state = ingest(**parameters, return_state=True)
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        raise result
    return result


@contextmanager
def _phase(report: RunReport, name: str):
    """Time a phase of the run into ``report.phases`` (and its first start and last end, on
    the clock, into ``report.phase_spans``)."""
    start, began = time.perf_counter(), time.time()
    try:
        yield
    finally:
        report.phases[name] = round(report.phases.get(name, 0) + time.perf_counter() - start, 3)
        report.phase_spans[name] = (report.phase_spans.get(name, (began,))[0], time.time())


def _ingest(log, lake: Lake, report: RunReport, volumes: list[str] | None,
            mirror: str | None, runner, options: dict, held) -> dict:
    """One run, holding the lake's lock (``held``): the pipeline, top to bottom."""
    if not lake.exists() and lake.shared:  # (a new machine of a team: the lake may be there)
        with suppress(FileNotFoundError):
            lake.adopt()
    if not lake.exists():
        lake.ensure()  # the first ingest creates the tables
    if swept := lake.sweep():
        log.info("removed %d temporary files a killed run left", swept)
    base = lake.state()
    changes = Changes(base, report, volumes)
    peers = {report.source, mirror}  # a source and its mirror hold versions of one volume
    with ExitStack() as stack:
        with _phase(report, "scan"):
            src, items = _scan(log, stack, lake, report, volumes, mirror, options)
        todo = changes.to_read(items)  # unchanged items are neither fetched nor parsed
        with _phase(report, "fetch-normalise-stage"):
            numbers = {item.uri: n for n, item in enumerate(items, start=1)}
            pending = _fetch_and_submit(log, stack, lake, changes, src, todo, runner, numbers)
            _collect(log, changes, src, pending, peers, numbers)
        # Items this source offered before and no longer does are withdrawn, not deleted:
        # their rows stay, flagged with the run that saw them go.
        for old in changes.withdraw_missing(items, report.source):
            log.info("%s withdrawn: no longer in %s", printable(old.name), display(report.source))
    changes.finish()
    apart = runs_apart(base.documents + sum(s.entry.documents for s in changes.staged))
    snapshot = _dedupe_and_commit(lake, report, changes, base, apart, held) if changes.committed else base.snapshot
    _refresh(log, lake, report, changes, base, apart)
    snapshot = _record(log, lake, report, changes.committed, snapshot)
    summary = {**report.row(), "failures": report.failures, "lake_snapshot": snapshot,
               "phases": report.phases, "phase_spans": report.phase_spans, "volumes": [asdict(r) for r in changes.rows]}
    try:
        publish(summary, quality_section(lake.data_root, log) if changes.committed else "")
    except Exception as exc:  # the run is on record: a report that cannot be sent is a warning
        log.warning("run %s: its artifact could not be published: %s: %s", report.run_id,
                    type(exc).__name__, exc)
    log.info("run %s %s: %d new, %d changed, %d unchanged, %d removed, %d failed", report.run_id,
             report.status, report.items_new, report.items_changed, report.items_unchanged,
             report.items_removed, report.items_failed)
    return summary


def _scan(log, stack: ExitStack, lake: Lake, report: RunReport, volumes: list[str] | None,
          mirror: str | None, options: dict) -> tuple[Source, list[SourceItem]]:
    """Open and list the source (or, when it cannot be listed, its mirror)."""
    source = report.source
    primary = stack.enter_context(open_source(source, lake.data_root, volumes, **_local(source, options)))
    if mirror:
        fallback = stack.enter_context(open_source(mirror, lake.data_root, volumes, **_local(mirror, options)))
        src, items, error = scan_or_mirror(primary, fallback)
        if src is fallback:
            log.warning("ingesting the local mirror %s instead: %s", display(mirror), error)
            report.message = f"fell back to the mirror: {error}"
            report.source = mirror
    else:
        src, items = primary, scan(primary)
    report.items_seen = len(items)
    if not items:
        log.warning("%s offers no items%s: nothing to ingest", display(report.source),
                    f" matching {' '.join(volumes)}" if volumes else "")
    return src, items


# A batch closes at this many bytes of XML (about 2 s of one core's parsing: the last batch
# keeps one worker busy while the other has none left), or at an eighth of the items to read,
# so that a small run still spreads over the workers.
BATCH_BYTES = 24 << 20


def _fetch_and_submit(log, stack: ExitStack, lake: Lake, changes: Changes, src: Source,
                      todo: list[SourceItem], runner, numbers: dict[str, int]) -> list[tuple]:
    """Fetch here, one item after another; normalise on the runner in batches (started only if
    there is work). Returns ``(items and their fetch seconds, future)`` in order.

    A remote runner's workers (Dask) of a lake in a store may not see the landing zone: its items carry their bytes,
    with at most :func:`_in_flight` batches unfinished (the scheduler holds what waits), and a
    page text or a list, whose sidecar files only this machine sees, is normalised here."""
    pending, started, batch, size, waited = [], None, [], 0, [0]
    most = max(1, len(todo) // 8)
    # (workers elsewhere reach a lake in the store only; a lake in a folder they must share)
    remote = getattr(runner, "remote", False) and lake.remote
    parameters = {"staging_root": lake.staging_root(workers_elsewhere=remote), "run_id": changes.report.run_id}

    def submit(k: int) -> None:
        nonlocal started, batch, size
        if started is None:  # (few items to parse: worker processes would cost more than they save)
            started = stack.enter_context(runner(items=len(todo) - k + len(batch)))
        if remote:  # (the oldest batches are done first: waiting on them in order is enough)
            sent = [f for _, f in pending if not isinstance(f, _Done)]
            while len(sent) - waited[0] >= _in_flight(started):
                sent[waited[0]].wait()
                waited[0] += 1
        future = started.submit(normalise_and_stage, parameters={
            **parameters, "batch": [(_carried(f) if remote else f, src.source_of(f.item)) for f, _ in batch]})
        pending.append(([(f.item, seconds) for f, seconds in batch], future))
        batch, size = [], 0

    for k, item in enumerate(todo):
        start = time.perf_counter()
        try:
            got = fetched(src, item)
        except Exception as exc:  # one bad item fails alone; the run goes on
            _item_failed(log, changes, numbers[item.uri], len(numbers), item, src.source_of(item), exc)
            continue
        if changes.same_bytes(item, got.sha256):
            continue
        if remote and item.kind != "tei":
            one = normalise_and_stage.fn(batch=[(got, src.source_of(item))], **parameters)
            pending.append(([(item, time.perf_counter() - start)], _Done(one)))
            continue
        batch.append((got, time.perf_counter() - start))
        size += got.size
        if size >= BATCH_BYTES or len(batch) >= most:
            submit(k + 1)
    if batch:
        submit(len(todo))
    return pending


class _Done:
    """The outcome of a batch normalised in the flow's process, as a future holds it."""

    def __init__(self, outcomes: list):
        self.outcomes = outcomes

    def result(self) -> list:
        return self.outcomes


def _carried(got: FetchedItem) -> FetchedItem:
    """``got`` with its bytes (read from the landing zone), for a worker on another machine."""
    return replace(got, data=got.path.read_bytes())


def _in_flight(runner) -> int:
    """How many carried batches may wait unfinished: two for each thread of the Dask cluster."""
    client = getattr(runner, "_client", None)
    try:
        return max(2, 2 * sum(client.nthreads().values()))
    except Exception:  # (no client to ask)
        return 4


def _collect(log, changes: Changes, src: Source, pending: list[tuple], peers: set[str | None],
             numbers: dict[str, int]) -> None:
    """Take the normalised items in order: stored, or failed with their reason (all of a
    batch whose task failed)."""
    for items, future in pending:
        try:
            outcomes = future.result()
        except Exception as exc:  # the batch's worker died: each of its items failed so
            outcomes = [exc] * len(items)
        for (item, fetch_seconds), outcome in zip(items, outcomes):
            n = numbers[item.uri]
            try:
                if isinstance(outcome, BaseException):
                    raise outcome
                done, reasons, seconds = outcome
                conflict = src.claims_volumes and changes.conflict(done.entry, peers)
                if conflict:
                    raise ValueError(conflict)
            except Exception as exc:
                _item_failed(log, changes, n, len(numbers), item, src.source_of(item), exc)
                continue
            changes.stored(item, done, round(fetch_seconds + seconds, 2), reasons)
            log.info("[%d/%d] %s: %d documents, %d rejects", n, len(numbers), printable(item.name),
                     done.entry.documents, done.entry.rejects)


def _dedupe_and_commit(lake: Lake, report: RunReport, changes: Changes, base: LakeState,
                       apart: bool, held) -> int:
    """Duplicates of the changed documents (none changed: the old links stay), then the commit
    (``apart``: each in a process of its own), if the run still holds the lake's lock."""
    dedupe = None
    if changes.changed_uris:
        with _phase(report, "dedupe"):
            dedupe = deduplicate(lake, changes.changed_uris, changes.staged, report.run_id, apart)
    report.finished_at = utcnow()
    # (a restarted catalog server forgets the lock: taken again only if no other run wrote since)
    if held.check(lambda: lake.data_snapshot() == base.data_snapshot):
        get_run_logger().warning("the catalog's server forgot this run's lock (a restart): taken again, "
                                 "no other ingest having written since")
    with _phase(report, "commit"):
        return commit(lake, report.row(), changes.staged, changes.entries, changes.failures,
                      base.failures, dedupe, apart, base.data_snapshot if lake.shared else None)


def _refresh(log, lake: Lake, report: RunReport, changes: Changes, base: LakeState, apart: bool) -> None:
    """After the commit: the warehouse (``apart``: in a process of its own) and the lake's
    housekeeping; a failure is a warning (the commit decided the run)."""
    try:
        if changes.committed:
            lake.clear_staging()
        with _phase(report, "warehouse"):
            if changes.committed or not db.is_current(lake.data_root, base.data_snapshot):  # (else it stays)
                refresh_warehouse(lake.data_root, apart)
        report.refresh_seconds = report.phases["warehouse"]
        if changes.committed and (changes.staged or changes.entries):
            with _phase(report, "maintain"):
                lake.maintain()
    except Exception as exc:
        warning = (f"committed; then {type(exc).__name__}: {exc} (the warehouse keeps its previous "
                   "state: `frus refresh` or the next run brings it up to date)")
        log.warning("run %s %s", report.run_id, warning)
        report.message = "; ".join(filter(None, [report.message, warning]))


def _record(log, lake: Lake, report: RunReport, committed: bool, snapshot: int | None) -> int | None:
    """The run's row: completed (its end after the warehouse refresh) or, when nothing was
    committed, added alone; then the runs export. Returns the lake's snapshot."""
    report.finished_at = utcnow()  # (the warehouse refresh included)
    try:
        if committed:
            lake.amend_run(report.run_id, finished_at=report.finished_at, message=report.message,
                           refresh_seconds=report.refresh_seconds)
        else:
            snapshot = lake.record_run(report.row())
        lake.export_runs()
    except Exception as again:  # (a full disk: the warning stays in the log and the summary)
        if not committed:
            raise
        log.warning("run %s: its row could not be completed: %s", report.run_id, again)
    return snapshot


def _local(source: str, options: dict) -> dict:
    """The options only a local folder takes (``follow_links``), for a source that is one."""
    return options if parse(source).kind == "local" else {}


def _item_failed(log, changes: Changes, n: int, total: int, item: SourceItem, source: str | None,
                 exc: Exception) -> None:
    reason = printable(str(exc))  # one line, whatever the name or the message holds
    changes.failed(item, source, reason)
    log.error("[%d/%d] %s failed: %s", n, total, printable(item.name), reason)
    log.debug("%s: traceback", printable(item.name), exc_info=exc)
    if getattr(exc, "traceback", None):  # a worker's crash: the traceback it saw
        log.debug("%s: traceback in the normaliser:\n%s", printable(item.name), exc.traceback)
