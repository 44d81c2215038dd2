"""The ingest flow: fetch → normalise → dedupe → store → publish, one source item (volume) a task.

Reads top to bottom like the pipeline. The work lives in ``tasks/`` as plain functions;
this module only orchestrates, retries and reports.
"""
from __future__ import annotations

import logging
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import flows.prefect_env  # noqa: F401,E402  (before Prefect)

from prefect import flow, get_client, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_markdown_artifact  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.task_runners import ThreadPoolTaskRunner  # noqa: E402

from tasks.dedupe_lake import cluster_items  # noqa: E402
from tasks.normalise import normalise_item  # noqa: E402
from tasks.records import PARSER_VERSION, Lineage  # noqa: E402
from tasks.sources import (  # noqa: E402
    FetchedItem, FetchError, Source, SourceItem, open_source, selected)
from tasks.sources.replay import REPLAY, ReplaySource  # noqa: E402
from tasks.store import Failure, ItemEntry, Lake, LakeBusy, Manifest  # noqa: E402
from warehouse import db  # noqa: E402


@dataclass
class RunReport:
    """What a run did; becomes the ``runs`` row and the Prefect artifact."""

    run_id: str
    source: str
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"
    items_seen: int = 0
    items_new: int = 0
    items_changed: int = 0
    items_unchanged: int = 0
    items_removed: int = 0
    items_failed: int = 0
    documents_added: int = 0
    documents_updated: int = 0
    documents_withdrawn: int = 0
    rejects: int = 0
    parser_version: str = PARSER_VERSION
    message: str = ""  # why a run was skipped, fell back to its mirror, or failed
    failures: list[str] = field(default_factory=list)

    def row(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "failures"}


def new_run_id() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


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


# Sources retry transient errors themselves (HTTP backoff); the task retries once more
# for what outlives them (a network down for a minute).
@task(name="fetch", retries=1, retry_delay_seconds=30, cache_policy=NO_CACHE)
def fetch(source: Source, item: SourceItem) -> FetchedItem:
    return source.fetch(item)


@task(name="normalise-and-store", cache_policy=NO_CACHE)
def normalise_and_store(lake: Lake, fetched: FetchedItem, run_id: str, source: str | None) -> ItemEntry:
    """Parse one item and write its lake files (not yet committed)."""
    lineage = Lineage(fetched.item.uri, fetched.sha256, run_id)
    parsed = normalise_item(fetched)
    files = lake.write_volume(parsed, lineage)
    return ItemEntry(
        uri=fetched.item.uri, volume_id=parsed.volume.volume_id, sha256=fetched.sha256,
        version=fetched.item.version, parser_version=PARSER_VERSION, run_id=run_id,
        ingested_at=datetime.now(timezone.utc).isoformat(), documents=len(parsed.documents),
        files=files, source=source, name=fetched.item.name, rejects=len(parsed.rejects),
    )


@task(name="deduplicate", cache_policy=NO_CACHE)
def deduplicate(lake: Lake, base: Manifest, entries: dict[str, ItemEntry], run_id: str):
    """Duplicate clusters over every current document of the state about to be committed."""
    return cluster_items(lake, {**base.items, **entries}, run_id)


@task(name="commit", cache_policy=NO_CACHE)
def commit(lake: Lake, base: Manifest, entries: dict[str, ItemEntry], run_id: str,
           failures: dict[str, Failure], duplicates) -> Manifest:
    return lake.commit(base, entries, run_id, failures, duplicates)


@task(name="refresh-warehouse", cache_policy=NO_CACHE)
def refresh_warehouse(data_root: Path) -> bool:
    return db.refresh(data_root)


def task_runner(workers: int = 1, dask_address: str | None = None):
    """Where the per-volume normalise-and-store tasks run.

    One worker: in this process, one volume at a time (overlapping the next fetch). More:
    a local Dask cluster of ``workers`` processes on 127.0.0.1 (prefect-dask). With
    ``dask_address``: the Dask scheduler there, whose workers must see the same data root
    (a shared file system) and reach the same Prefect API.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if not dask_address and workers == 1:
        return ThreadPoolTaskRunner(max_workers=1)
    from prefect_dask import DaskTaskRunner

    if dask_address:
        return DaskTaskRunner(address=dask_address)
    with get_client(sync_client=True) as client:  # workers report to this run's API,
        api_url = str(client.api_url)  # even when it is Prefect's temporary one
    logging.getLogger("distributed").setLevel(logging.WARNING)  # the cluster's chatter
    return DaskTaskRunner(cluster_kwargs={
        "n_workers": workers, "threads_per_worker": 1, "processes": True,
        "host": "127.0.0.1", "dashboard_address": None, "silence_logs": logging.WARNING,
        "env": {"PREFECT_API_URL": api_url, "DASK_LOGGING__DISTRIBUTED": "warning"},
    })


@flow(name="ingest", log_prints=True)
def ingest(source: str, data_dir: str = "data", volumes: list[str] | None = None,
           wait: bool = True, mirror: str | None = None, workers: int = 1,
           dask_address: str | None = None) -> dict:
    """Ingest a source of TEI volumes and page texts into the lake and warehouse.

    Args:
        source: where the volumes are: a folder, ``git``/``git+…``, ``http(s)://…``,
            ``urls:FILE`` (see ``tasks.sources.open_source``), or ``replay``: re-normalise
            what the lake holds from the landing zone, without fetching.
        data_dir: the data root (lake, landing zone, warehouse).
        volumes: volume ids or globs to select (``frus1936v*``); None = all.
        wait: when another ingest holds the data root, wait for it (True) or skip (False).
        mirror: a local copy of the volumes (a folder) to ingest instead when ``source``
            cannot be listed (no network, upstream down); the run's ``message`` says so.
        workers: volumes normalised at once; above 1, on a local Dask cluster.
        dask_address: a Dask scheduler to normalise on instead (see :func:`task_runner`).
    """
    log = get_run_logger()
    runner = task_runner(workers, dask_address)
    data_root = Path(data_dir).resolve()
    lake = Lake(data_root)
    try:
        with lake.lock(wait=wait, on_wait=lambda: log.warning(
                "another ingest is running on %s: waiting for it to finish", data_root)):
            report = RunReport(new_run_id(), source, datetime.now(timezone.utc))
            try:
                return _ingest(log, lake, report, volumes, mirror, runner)
            except Exception as exc:
                # On record before Prefect marks the flow run failed (and retries it, if set).
                report.status, report.message = "failed", f"{type(exc).__name__}: {exc}"
                report.finished_at = datetime.now(timezone.utc)
                lake.record_run(report.row())
                log.error("run %s failed: %s", report.run_id, report.message)
                raise
    except LakeBusy as exc:
        log.warning("skipped: %s (runs never overlap)", exc)
        now = datetime.now(timezone.utc)
        lake.record_run(RunReport(new_run_id(), source, now, now, "skipped", message=str(exc)).row())
        return {"status": "skipped", "reason": str(exc)}


def _ingest(log, lake: Lake, report: RunReport, volumes: list[str] | None,
            mirror: str | None, runner) -> dict:
    base = lake.manifest()
    source = report.source
    entries: dict[str, ItemEntry] = {}
    failures = dict(base.failures)  # items that could not be read, until they are or go away

    replay = source == REPLAY
    with ExitStack() as stack:
        primary = stack.enter_context(
            ReplaySource(lake.data_root, volumes) if replay else open_source(source, lake.data_root, volumes))
        if mirror:
            fallback = stack.enter_context(open_source(mirror, lake.data_root, volumes))
            src, items, error = scan_or_mirror(primary, fallback)
            if src is fallback:
                log.warning("ingesting the local mirror %s instead: %s", mirror, error)
                report.message = f"fell back to the mirror: {error}"
                source = report.source = mirror
        else:
            src, items = primary, scan(primary)
        report.items_seen = len(items)
        if not items:
            log.warning("%s offers no items%s: nothing to ingest", source,
                        f" matching {' '.join(volumes)}" if volumes else "")
        # Fetch here, one item after another; normalise on the runner, collected in order.
        pending: list[tuple[int, SourceItem, ItemEntry | None, str | None, object]] = []
        started = None  # the runner starts (a Dask cluster spins up) only if there is work
        for n, item in enumerate(items, start=1):
            old = base.items.get(item.uri)
            if old and old.withdrawn_run:
                old = None  # back after a withdrawal: ingest as new
            item_source = src.source_of(item) if replay else source
            if old and old.version == item.version and old.parser_version == PARSER_VERSION:
                report.items_unchanged += 1  # unchanged before fetching: no read, no parse
                failures.pop(item.uri, None)
                continue
            try:
                fetched = fetch(src, item)
            except Exception as exc:  # one bad item fails alone; the run goes on
                _item_failed(log, report, failures, n, len(items), item, item_source, exc)
                continue
            if old and old.sha256 == fetched.sha256 and old.parser_version == PARSER_VERSION:
                report.items_unchanged += 1
                entries[item.uri] = ItemEntry(**{**old.__dict__, "version": item.version})
                failures.pop(item.uri, None)
                continue
            started = started or stack.enter_context(runner)
            future = started.submit(normalise_and_store, parameters={
                "lake": lake, "fetched": fetched, "run_id": report.run_id, "source": item_source})
            pending.append((n, item, old, item_source, future))

        for n, item, old, item_source, future in pending:
            try:
                entry = future.result()
            except Exception as exc:
                _item_failed(log, report, failures, n, len(items), item, item_source, exc)
                continue
            entries[item.uri] = entry
            failures.pop(item.uri, None)
            report.rejects += entry.rejects
            if old:
                report.items_changed += 1
                report.documents_updated += entry.documents
            else:
                report.items_new += 1
                report.documents_added += entry.documents
            log.info("[%d/%d] %s: %d documents, %d rejects", n, len(items), item.name,
                     entry.documents, entry.rejects)

        # Items this source offered before and no longer does are withdrawn, not deleted:
        # their rows stay, flagged with the run that saw them go.
        seen = {i.uri for i in items}
        for uri, old in base.items.items():
            if (not replay and old.source == source and not old.withdrawn_run and uri not in seen
                    and old.name and selected(old.name, volumes)):
                entries[uri] = ItemEntry(**{**old.__dict__, "withdrawn_run": report.run_id})
                report.items_removed += 1
                report.documents_withdrawn += old.documents
                log.info("%s withdrawn: no longer in %s", old.name, source)
        for uri, failure in base.failures.items():  # a failed item gone from its source
            if (not replay and failure.source == source and uri not in seen
                    and selected(failure.name, volumes)):
                failures.pop(uri, None)

    report.rejects += report.items_failed
    readable = report.items_new + report.items_changed + report.items_unchanged
    report.status = ("completed" if not report.items_failed
                     else "partial" if readable else "failed")
    manifest = base
    if entries or failures != base.failures:  # (the same failure again changes nothing)
        # only new or withdrawn documents need new clusters: a version-only update (a file
        # touched, same bytes) or a failed item keeps the old ones
        docs_changed = any(e.run_id == report.run_id or e.withdrawn_run == report.run_id
                           for e in entries.values())
        duplicates = deduplicate(lake, base, entries, report.run_id) if docs_changed else None
        manifest = commit(lake, base, entries, report.run_id, failures, duplicates)
    report.finished_at = datetime.now(timezone.utc)
    lake.record_run(report.row())
    refresh_warehouse(lake.data_root)
    summary = {**report.row(), "failures": report.failures, "manifest_version": manifest.version}
    _publish(summary)
    log.info("run %s %s: %d new, %d changed, %d unchanged, %d removed, %d failed", report.run_id,
             report.status, report.items_new, report.items_changed, report.items_unchanged,
             report.items_removed, report.items_failed)
    return summary


def _item_failed(log, report: RunReport, failures: dict[str, Failure], n: int, total: int,
                 item: SourceItem, source: str | None, exc: Exception) -> None:
    report.items_failed += 1
    report.failures.append(f"{item.name}: {exc}")
    failure = Failure(item.uri, item.name, source, item.version, str(exc), report.run_id)
    if not failure.same(failures.get(item.uri)):  # the same failure keeps its first run
        failures[item.uri] = failure
    log.error("[%d/%d] %s failed: %s", n, total, item.name, exc)


def _publish(summary: dict) -> None:
    rows = "\n".join(f"| {k} | {v} |" for k, v in summary.items() if k != "failures")
    failures = "\n".join(f"- {f}" for f in summary["failures"]) or "none"
    create_markdown_artifact(
        key="ingest-run",
        markdown=f"# Ingest run {summary['run_id']}\n\n| field | value |\n|---|---|\n{rows}\n\n"
        f"## Failures\n{failures}\n",
        description=f"FRUS ingest run {summary['run_id']}",
    )
