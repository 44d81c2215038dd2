"""The ingest flow: fetch → normalise → dedupe → store → publish, one source item (volume) a task.

Reads top to bottom like the pipeline. The work lives in ``tasks/`` as plain functions;
this module only orchestrates, retries and reports.
"""
from __future__ import annotations

import errno
import logging
import os
import time
import traceback
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from pathlib import Path

import flows.prefect_env  # noqa: F401,E402  (before Prefect)

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner  # noqa: E402

from tasks.lake import staging  # noqa: E402
from tasks.lake.apart import deduplicate_apart  # noqa: E402
from tasks.lake.catalog import Lake, LakeBusy, Staged  # noqa: E402
from tasks.lake.provenance import claim_conflict, is_reviewed_source, volume_holders  # noqa: E402
from tasks.records import PARSER_VERSION, Failure, ItemEntry, Lineage, RunReport, utcnow  # noqa: E402
from tasks.sources import (  # noqa: E402
    FetchedItem, FetchError, Source, SourceItem, open_source, printable, selected)
from tasks.sources.uri import REPLAY, display, parse, same_source  # noqa: E402
from warehouse import db  # noqa: E402
from flows.prefect_env import quiet_engine_logs  # noqa: E402
from flows.report import VolumeRow, final_state, prefect_run, publish, quality_section  # noqa: E402

quiet_engine_logs()  # (here too: worker processes import this module to run its tasks)


def new_run_id() -> str:
    return f"{utcnow():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def _named(verb: str, parameter: str):
    """A task run name after its item (``fetch volumes/frus1938v03.xml``), not ``fetch-ac4``:
    its name in the source, so two files with one stem in two folders are told apart."""
    def name(parameters: dict) -> str:
        value = parameters[parameter]
        item = value.item if isinstance(value, FetchedItem) else value
        return f"{verb} {printable(item.name)}"
    return name


@task(name="scan", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
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


PERMANENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def worth_retrying(task, task_run, state) -> bool:
    """Whether a failed fetch may pass in 30 s: a network down, yes; a full or read-only
    disk, or a local file that cannot be read, no."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception as error:  # (a result that cannot be read: judge by that error)
        exc = error
    if not isinstance(exc, BaseException):
        return True
    if isinstance(exc, FetchError) and (exc.permanent or exc.item.startswith("file:")):
        return False
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in PERMANENT_ERRNOS:
            return False
        exc = exc.__cause__ or exc.__context__
    return True


# Sources retry transient errors themselves (HTTP backoff); the task retries once more
# for what outlives them (a network down for a minute).
@task(name="fetch", task_run_name=_named("fetch", "item"), retries=1, retry_delay_seconds=30,
      retry_condition_fn=worth_retrying, cache_policy=NO_CACHE)
def fetch(source: Source, item: SourceItem) -> FetchedItem:
    return source.fetch(item)


@task(name="normalise-and-stage", task_run_name=_named("normalise", "fetched"), cache_policy=NO_CACHE)
def normalise_and_stage(data_root: Path, fetched: FetchedItem, run_id: str,
                        source: str | None) -> tuple[Staged, dict[str, int], float]:
    """Parse one item and stage its rows for the commit (in a worker process); returns the
    staged item, its rejects by reason and the seconds it took."""
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
    folder = staging.stage_volume(data_root, parsed.volume, parsed.documents, parsed.rejects, lineage,
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


@task(name="deduplicate", cache_policy=NO_CACHE)
def deduplicate(lake: Lake, changed: set[str], staged: list[Staged], run_id: str):
    """Duplicate links and clusters of the state about to be committed (changed documents
    matched against the stored signatures), in a process of its own (``tasks.lake.apart``)."""
    return deduplicate_apart(lake, changed, staged, run_id)


@task(name="commit", cache_policy=NO_CACHE)
def commit(lake: Lake, run: dict, staged: list[Staged], updated: list[ItemEntry],
           failures: dict[str, Failure], base_failures: dict[str, Failure], dedupe) -> int:
    links, duplicates = dedupe if dedupe else (None, None)
    return lake.commit(run, staged, updated, failures, base_failures, links, duplicates)


@task(name="refresh-warehouse", cache_policy=NO_CACHE)
def refresh_warehouse(data_root: Path) -> bool:
    return db.refresh_apart(data_root)  # (its memory goes back to the system when it is done)


def default_workers() -> int:
    return os.cpu_count() or 1


def task_runner(workers: int | None = None, dask_address: str | None = None):
    """Where the per-volume normalise-and-stage tasks run.

    ``workers`` processes of this machine (default: one per core; 1 = in this process, one
    volume at a time while the next is fetched), through Prefect's process pool; or, with
    ``dask_address``, the Dask scheduler there (prefect-dask), whose workers must see the same
    data root (a shared file system) and reach the same Prefect API.
    """
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if dask_address:
        from prefect_dask import DaskTaskRunner

        logging.getLogger("distributed").setLevel(logging.WARNING)  # the client's chatter
        return DaskTaskRunner(address=dask_address)
    if workers == 1:
        return ThreadPoolTaskRunner(max_workers=1)
    return ProcessPoolTaskRunner(max_workers=workers)


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
        workers: volumes normalised at once, in processes (default: one per core).
        dask_address: a Dask scheduler to normalise on instead (see :func:`task_runner`).
        catalog: the lake's catalog on its first ingest: ``sqlite:PATH`` (default
            ``DATA/lake/catalog.sqlite``) or ``postgresql://…``; later runs read it from the
            data root.
        lake_data: where the lake's data files go on its first ingest (default ``DATA/lake/data/``).
        follow_links: in a local folder, follow symlinks to files anywhere (default: only to
            regular files inside the folder; FIFOs, devices and sockets are never read).
    """
    quiet_engine_logs()
    log = get_run_logger()
    runner = task_runner(workers, dask_address)
    source, mirror = parse(source).identity, mirror and parse(mirror).identity
    data_root = Path(data_dir).resolve()
    lake = Lake(data_root, catalog, lake_data)
    try:
        with lake.lock(wait=wait, on_wait=lambda: log.warning(
                "another ingest is running on %s: waiting for it to finish", data_root)):
            report = RunReport(new_run_id(), source, utcnow(), **prefect_run())
            try:
                return final_state(_ingest(log, lake, report, volumes, mirror, runner,
                                           {"follow_links": True} if follow_links else {}))
            except Exception as exc:
                # On record before Prefect marks the flow run failed (and retries it, if set).
                report.status, report.message = "failed", f"{type(exc).__name__}: {exc}"
                report.finished_at = utcnow()
                lake.record_run(report.row())
                lake.export_runs()
                log.error("run %s failed: %s", report.run_id, report.message)
                raise
    except LakeBusy as exc:
        log.warning("skipped: %s (runs never overlap)", exc)
        now = utcnow()
        lake = Lake(data_root)  # (the running ingest may have just created it)
        report = RunReport(new_run_id(), source, now, now, "skipped", message=str(exc), **prefect_run())
        if lake.exists():  # a first run still creating the lake: its row is the first
            lake.record_run(report.row())
            lake.export_runs()
        return final_state({**report.row(), "reason": str(exc), "failures": [], "volumes": []})


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
    """Time a phase of the run into ``report.phases``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        report.phases[name] = round(report.phases.get(name, 0) + time.perf_counter() - start, 3)


def _ingest(log, lake: Lake, report: RunReport, volumes: list[str] | None,
            mirror: str | None, runner, options: dict) -> dict:
    if not lake.exists():
        lake.ensure()  # the first ingest creates the tables
    if swept := lake.sweep():
        log.info("removed %d temporary files a killed run left", swept)
    base = lake.state()
    source = requested = report.source
    staged: list[Staged] = []
    updated: list[ItemEntry] = []  # items whose row alone changes
    failures = dict(base.failures)  # items that could not be read, until they are or go away
    rows: list[VolumeRow] = []  # the artifact's table: one row per item read

    replay = source == REPLAY
    with ExitStack() as stack:
        with _phase(report, "scan"):
            primary = stack.enter_context(open_source(source, lake.data_root, volumes,
                                                      **_local(source, options)))
            if mirror:
                fallback = stack.enter_context(open_source(mirror, lake.data_root, volumes,
                                                           **_local(mirror, options)))
                src, items, error = scan_or_mirror(primary, fallback)
                if src is fallback:
                    log.warning("ingesting the local mirror %s instead: %s", display(mirror), error)
                    report.message = f"fell back to the mirror: {error}"
                    source = report.source = mirror
            else:
                src, items = primary, scan(primary)
        report.items_seen = len(items)
        if not items:
            log.warning("%s offers no items%s: nothing to ingest", display(source),
                        f" matching {' '.join(volumes)}" if volumes else "")
        # Fetch here, one item after another; normalise on the runner, collected in order.
        pending: list[tuple[int, SourceItem, ItemEntry | None, str | None, object, float]] = []
        started = None  # the runner starts (worker processes spin up) only if there is work
        with _phase(report, "fetch-normalise-stage"):
            for n, item in enumerate(items, start=1):
                old = base.items.get(item.uri)
                if old and old.withdrawn_run:
                    old = None  # back after a withdrawal: ingest as new
                item_source = src.source_of(item) if replay else source
                if _unchanged(old, item):
                    report.items_unchanged += 1  # unchanged before fetching: no read, no parse
                    failures.pop(item.uri, None)
                    continue
                fetch_start = time.perf_counter()
                try:
                    fetched = fetch(src, item)
                except Exception as exc:  # one bad item fails alone; the run goes on
                    _item_failed(log, report, failures, n, len(items), item, item_source, exc, rows)
                    continue
                fetch_seconds = time.perf_counter() - fetch_start
                if old and old.sha256 == fetched.sha256 and old.parser_version == PARSER_VERSION:
                    report.items_unchanged += 1
                    updated.append(ItemEntry(**{**old.__dict__, "version": item.version}))
                    failures.pop(item.uri, None)
                    continue
                if started is None:  # one item to parse: worker processes would cost more than they save
                    one = isinstance(runner, ProcessPoolTaskRunner) and sum(
                        1 for i in items[n - 1:] if not _unchanged(base.items.get(i.uri), i)) == 1
                    started = stack.enter_context(ThreadPoolTaskRunner(max_workers=1) if one else runner)
                future = started.submit(normalise_and_stage, parameters={
                    "data_root": lake.data_root, "fetched": fetched, "run_id": report.run_id,
                    "source": item_source})
                pending.append((n, item, old, item_source, future, fetch_seconds))

            holders = volume_holders(base.items)
            peers = {requested, mirror}  # a source and its mirror hold versions of one volume
            for n, item, old, item_source, future, fetch_seconds in pending:
                try:
                    done, reasons, seconds = future.result()
                    conflict = None if replay else claim_conflict(
                        done.entry, holders.get(done.entry.volume_id, ()), peers)
                    if conflict:
                        raise ValueError(conflict)
                except Exception as exc:
                    _item_failed(log, report, failures, n, len(items), item, item_source, exc, rows)
                    continue
                holders.setdefault(done.entry.volume_id, []).append(done.entry)
                staged.append(done)
                failures.pop(item.uri, None)
                report.rejects += done.entry.rejects
                if old:
                    report.items_changed += 1
                    report.documents_updated += done.entry.documents
                else:
                    report.items_new += 1
                    report.documents_added += done.entry.documents
                rows.append(VolumeRow(printable(item.name), "changed" if old else "new", done.entry.documents,
                                      done.entry.rejects, round(fetch_seconds + seconds, 2), reasons))
                log.info("[%d/%d] %s: %d documents, %d rejects", n, len(items), printable(item.name),
                         done.entry.documents, done.entry.rejects)

        # Items this source offered before and no longer does are withdrawn, not deleted:
        # their rows stay, flagged with the run that saw them go.
        seen = {i.uri for i in items}
        withdrawn: list[ItemEntry] = []
        for uri, old in base.items.items():
            if (not replay and same_source(old.source, source) and not old.withdrawn_run
                    and uri not in seen and old.name and selected(old.name, volumes)):
                withdrawn.append(ItemEntry(**{**old.__dict__, "withdrawn_run": report.run_id}))
                report.items_removed += 1
                report.documents_withdrawn += old.documents
                log.info("%s withdrawn: no longer in %s", printable(old.name), display(source))
        updated += withdrawn
        for uri, failure in base.failures.items():  # a failed item gone from its source
            if (not replay and same_source(failure.source, source) and uri not in seen
                    and selected(failure.name, volumes)):
                failures.pop(uri, None)

    report.rejects += report.items_failed
    readable = report.items_new + report.items_changed + report.items_unchanged
    report.status = ("empty" if not items else "completed" if not report.items_failed
                     else "partial" if readable else "failed")
    snapshot = base.snapshot
    committed = bool(staged or updated or failures != base.failures)  # (the same failure again: no)
    if committed:
        # only new, changed or withdrawn documents need new links: a version-only update (a
        # file touched, same bytes) or a failed item keeps the old ones
        changed = {s.entry.uri for s in staged} | {e.uri for e in withdrawn}
        dedupe = None
        if changed:
            with _phase(report, "dedupe"):
                dedupe = deduplicate(lake, changed, staged, report.run_id)
        report.finished_at = utcnow()
        with _phase(report, "commit"):
            snapshot = commit(lake, report.row(), staged, updated, failures, base.failures, dedupe)
    try:
        if committed:
            staging.clear(lake.data_root)
        with _phase(report, "warehouse"):
            if committed or not db.is_current(lake.data_root, base.data_snapshot):  # (else it stays)
                refresh_warehouse(lake.data_root)
        report.refresh_seconds = report.phases["warehouse"]
        if committed and (staged or updated):
            with _phase(report, "maintain"):
                lake.maintain()
        warning = None
    except Exception as exc:  # the commit decided the run: what fails after it is a warning
        warning = (f"committed; then {type(exc).__name__}: {exc} (the warehouse keeps its previous "
                   "state: `frus refresh` or the next run brings it up to date)")
        log.warning("run %s %s", report.run_id, warning)
        report.message = "; ".join(filter(None, [report.message, warning]))
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
    summary = {**report.row(), "failures": report.failures, "lake_snapshot": snapshot,
               "phases": report.phases, "volumes": [asdict(r) for r in rows]}
    try:
        publish(summary, quality_section(lake.data_root, log) if committed else "")
    except Exception as exc:  # the run is on record: a report that cannot be sent is a warning
        log.warning("run %s: its artifact could not be published: %s: %s", report.run_id,
                    type(exc).__name__, exc)
    log.info("run %s %s: %d new, %d changed, %d unchanged, %d removed, %d failed", report.run_id,
             report.status, report.items_new, report.items_changed, report.items_unchanged,
             report.items_removed, report.items_failed)
    return summary


def _local(source: str, options: dict) -> dict:
    """The options only a local folder takes (``follow_links``), for a source that is one."""
    return options if parse(source).kind == "local" else {}


def _unchanged(old: ItemEntry | None, item: SourceItem) -> bool:
    """Known to the lake with the same version token and parser: not read again."""
    return bool(old and not old.withdrawn_run and old.version == item.version
                and old.parser_version == PARSER_VERSION)


def _item_failed(log, report: RunReport, failures: dict[str, Failure], n: int, total: int,
                 item: SourceItem, source: str | None, exc: Exception, rows: list[VolumeRow]) -> None:
    report.items_failed += 1
    reason = printable(str(exc))  # one line, whatever the name or the message holds
    report.failures.append(f"{printable(item.name)}: {reason}")
    rows.append(VolumeRow(printable(item.name), "failed", 0, 1, None, {reason: 1}))
    failure = Failure(item.uri, item.name, source, item.version, reason, report.run_id)
    if not failure.same(failures.get(item.uri)):  # the same failure keeps its first run
        failures[item.uri] = failure
    log.error("[%d/%d] %s failed: %s", n, total, printable(item.name), reason)
    log.debug("%s: traceback", printable(item.name), exc_info=exc)
    if getattr(exc, "traceback", None):  # a worker's crash: the traceback it saw
        log.debug("%s: traceback in the normaliser:\n%s", printable(item.name), exc.traceback)
