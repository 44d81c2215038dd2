"""The nightly deployment of the ``ingest`` flow: one definition, in ``prefect.yaml``.

``prefect deploy -n nightly`` reads it for a work pool and its workers; ``frus serve``
reads the same entry (parameters, schedule, concurrency, description, tags) and serves it
in one process under its own name, ``nightly-served``, so the two never overwrite each
other. Its relative paths (``data_dir``, the ``mirror``) are relative to the checkout, the
folder of ``prefect.yaml``, where the worker's runs start.

Overlap: a deployment concurrency limit of one run, and the lake lock in the flow itself
(a run that still finds the lake busy skips, it never runs over another).
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import flows.prefect_env  # noqa: F401,E402  (before Prefect)

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy  # noqa: E402
from prefect.schedules import Cron, Interval  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PREFECT_YAML = REPO / "prefect.yaml"
DEPLOYMENT_NAME = "nightly"
SERVED_NAME = "nightly-served"


def definition(path: Path = PREFECT_YAML, name: str = DEPLOYMENT_NAME) -> dict:
    """The deployment ``name`` as ``prefect.yaml`` declares it."""
    import yaml

    spec = yaml.safe_load(path.read_text())
    for dep in spec.get("deployments") or []:
        if dep.get("name") == name:
            return dep
    raise ValueError(f"{path}: no deployment named {name!r}")


def nightly_deployment(*, interval: float | None = None, cron: str | None = None,
                       timezone: str | None = None, name: str = SERVED_NAME, **overrides):
    """The ``ingest`` flow as ``prefect.yaml``'s ``nightly``, for :func:`serve_nightly`.

    Args:
        interval: seconds between runs; when given, replaces the cron schedule (tests, demos).
        cron, timezone: replace the schedule's (a cron expression, an IANA zone name).
        name: the deployment's name (``nightly-served``: not the work pool's ``nightly``).
        **overrides: flow parameters that replace the file's (None: keep the file's).
            ``source`` and ``mirror`` are recorded as their one identity
            (``tasks.sources.uri``), ``data_dir`` and ``lake_data`` absolute: the runner may
            start runs elsewhere. ``catalog`` and ``lake_data`` apply on the lake's first run.
    """
    from flows.ingest import ingest
    from tasks.sources.uri import parse

    spec = definition()
    params = {**spec["parameters"], **{k: v for k, v in overrides.items() if v is not None}}
    for key in ("source", "mirror"):
        if params.get(key):
            params[key] = _at_checkout(params[key], key in overrides and overrides[key] is not None)
            params[key] = parse(params[key]).identity
    if overrides.get("lake_data") and "://" not in overrides["lake_data"]:  # (a folder: the current folder's)
        params["lake_data"] = str(Path(overrides["lake_data"]).resolve())
    data = Path(params["data_dir"])
    params["data_dir"] = str(data.resolve() if "data_dir" in overrides and overrides["data_dir"]
                             else (REPO / data).resolve())
    (sched,) = spec["schedules"]
    zone = timezone or sched.get("timezone", "UTC")
    schedule = (Interval(timedelta(seconds=interval), timezone=zone) if interval
                else Cron(cron or sched["cron"], timezone=zone))
    limit = spec["concurrency_limit"]
    return ingest.to_deployment(
        name=name,
        schedules=[schedule],
        parameters=params,
        # One run at a time; a run due while one is running waits for it (no pile-up past
        # one: the server keeps it queued, and the lake lock is the last guard).
        concurrency_limit=ConcurrencyLimitConfig(
            limit=limit["limit"], collision_strategy=ConcurrencyLimitStrategy(limit["collision_strategy"])),
        description=spec.get("description"),
        tags=spec.get("tags"),
    )


def _at_checkout(source: str, given: bool) -> str:
    """A relative local path of the file is relative to the checkout; one given on the
    command line, to the current folder."""
    from tasks.sources.uri import parse

    if given or parse(source).kind != "local" or Path(source).is_absolute() or source.startswith("file:"):
        return source
    return str(REPO / source)


def serve_nightly(**kwargs) -> None:
    """Register the deployment with the Prefect API and run its scheduled runs here until stopped."""
    from prefect import serve

    serve(nightly_deployment(**kwargs))
