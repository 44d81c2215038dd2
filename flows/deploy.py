"""The nightly deployment of the ``ingest`` flow, served by ``frus serve``.

The same deployment, for a Prefect server with a work pool and workers, is declared in
``prefect.yaml`` (``prefect deploy -n nightly``). Keep the two in step.

Overlap: a deployment concurrency limit of one run, and the lake lock in the flow itself
(a run that still finds the lake busy skips, it never runs over another).
"""
from __future__ import annotations

from datetime import timedelta

import flows.prefect_env  # noqa: F401,E402  (before Prefect)

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy  # noqa: E402
from prefect.schedules import Cron, Interval  # noqa: E402

DEPLOYMENT_NAME = "nightly"
DEFAULT_SOURCE = "git"  # git+https://github.com/HistoryAtState/frus.git
DEFAULT_CRON = "0 3 * * *"  # 03:00 every day
DEFAULT_TIMEZONE = "America/New_York"


def nightly_deployment(
    source: str = DEFAULT_SOURCE,
    data_dir: str = "data",
    volumes: list[str] | None = None,
    mirror: str | None = None,
    workers: int | None = None,
    dask_address: str | None = None,
    follow_links: bool = False,
    *,
    cron: str = DEFAULT_CRON,
    timezone: str = DEFAULT_TIMEZONE,
    interval: float | None = None,
    name: str = DEPLOYMENT_NAME,
):
    """The ``ingest`` flow as a deployment on a schedule.

    Args:
        source: the source URI (see ``frus ingest --help``).
        data_dir: the data root; made absolute, since the runner may start runs elsewhere.
        volumes: volume ids or globs; None = all.
        mirror: a local folder ingested instead when ``source`` cannot be listed.
        workers, dask_address: where volumes are normalised (``flows.ingest.task_runner``).
        follow_links: follow symlinks out of a local source folder (``frus ingest --help``).
        cron: a cron expression, evaluated in ``timezone`` (DST-aware).
        timezone: an IANA time zone name.
        interval: seconds between runs; when given, overrides ``cron`` (tests, demos).
        name: the deployment name.
    """
    from pathlib import Path

    from flows.ingest import ingest
    from tasks.sources import absolute_source

    schedule = (Interval(timedelta(seconds=interval), timezone=timezone) if interval
                else Cron(cron, timezone=timezone))
    source = absolute_source(source)
    return ingest.to_deployment(
        name=name,
        schedules=[schedule],
        parameters={"source": source, "data_dir": str(Path(data_dir).resolve()),
                    "volumes": volumes or None, "mirror": absolute_source(mirror) if mirror else None,
                    "workers": workers, "dask_address": dask_address, "follow_links": follow_links},
        # One run at a time; a run due while one is running waits for it (no pile-up past
        # one: the server keeps it queued, and the lake lock is the last guard).
        concurrency_limit=ConcurrencyLimitConfig(limit=1,
                                                 collision_strategy=ConcurrencyLimitStrategy.ENQUEUE),
        description="Nightly FRUS ingest: fetch the source, store changed volumes, refresh the warehouse.",
        tags=["frus", "ingest"],
    )


def serve_nightly(**kwargs) -> None:
    """Register the deployment with the Prefect API and run its scheduled runs here until stopped."""
    from prefect import serve

    serve(nightly_deployment(**kwargs))
