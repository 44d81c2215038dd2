"""The operators' ``frus`` commands: ingest, serve, server, status, refresh.

Each ``add_*`` registers its command on the parser ``flows.cli`` builds; every argument is
checked before Prefect starts (a temporary API, or a flow run on a server).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from flows.cli_shared import check_data_root, positive

SOURCE_HELP = (
    "where the volumes are: a folder PATH (or file://…), searched recursively; "
    "git (the upstream https://github.com/HistoryAtState/frus.git), git+https://… or "
    "git+file://… (a git repository: its volumes/ folder); http(s)://… (one .xml URL, or a "
    "base URL completed by --volumes); urls:FILE (a text file of URLs, one a line)."
)


def add_ingest(command) -> None:
    c = command("ingest", cmd_ingest, "Fetch, normalise and store a source, then refresh the warehouse.")
    how = c.add_mutually_exclusive_group(required=True)
    how.add_argument("--source", metavar="SOURCE", help=SOURCE_HELP)
    how.add_argument("--replay", action="store_true",
                     help="re-normalise what the lake holds from the landing zone (DATA/raw), "
                          "without fetching: after a parser upgrade")
    run_options(c)


def add_serve(command) -> None:
    c = command("serve", cmd_serve, "Run the ingest on a schedule (prefect.yaml's 'nightly' deployment, "
                "served here as 'nightly-served') until stopped.")
    c.set_defaults(data=os.environ.get("FRUS_DATA"))  # (None: prefect.yaml's, in the checkout)
    c.add_argument("--source", metavar="SOURCE",
                   help=SOURCE_HELP + " Default: prefect.yaml's (git, with ../shared/corpus as --mirror).")
    run_options(c)
    c.add_argument("--cron", help="cron schedule (default: prefect.yaml's, '0 3 * * *', 03:00 daily)")
    c.add_argument("--timezone", help="IANA time zone of the cron schedule (default: prefect.yaml's, "
                   "America/New_York)")
    c.add_argument("--interval", type=float, default=None, metavar="SECONDS",
                   help="run every SECONDS instead of on the cron schedule (tests, demos)")


def add_status(command) -> None:
    c = command("status", cmd_status, "What the lake and warehouse hold, and the last runs (exit 1 when "
                "the last run failed).")
    c.add_argument("--format", choices=["text", "json"], default="text")
    c.add_argument("--runs", type=positive, default=5, help="how many runs to show (default: 5)")


def add_server(sub) -> None:
    c = sub.add_parser("server", help="Start a Prefect server for the project (127.0.0.1, analytics off).",
                       description="Start a Prefect server (the UI and the API) for this project: on "
                       "127.0.0.1, analytics off, its state in PREFECT_HOME. It prints the "
                       "PREFECT_API_URL other shells (frus ingest, frus serve, .venv/bin/prefect "
                       "deploy and worker) need.")
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--port", type=positive, default=4200)
    c.set_defaults(func=cmd_server)


def add_refresh(command) -> None:
    c = command("refresh", cmd_refresh, "Bring the warehouse to the lake's state (update it, or rebuild it whole).")
    c.add_argument("--force", action="store_true", help="rebuild it whole, even when up to date")
    c.add_argument("--catalog", metavar="URL", help="a lake another machine writes (a team's "
                   "postgresql://… catalog): a new data root records it, then builds its warehouse "
                   "from it; later commands read it from the data root")
    c.add_argument("--lake-data", metavar="URL", help="that lake's data files (s3://bucket/prefix or a "
                   "shared folder), with --catalog")


_RUN_OPTIONS = (  # flags, then add_argument's keywords
    (("--volumes",), dict(nargs="*", help="volume ids or globs to select (frus1936v*)")),
    (("--mirror",), dict(metavar="PATH", help="a local folder of the volumes, ingested instead when "
                         "SOURCE cannot be listed (no network, upstream down)")),
    (("--workers",), dict(type=positive, default=None, metavar="N", help="volumes normalised at once, in worker "
                          "processes (default: one per core from 32 volumes to parse; 1, or fewer: here)")),
    (("--dask-address",), dict(metavar="ADDRESS", help="normalise on the Dask scheduler at ADDRESS "
                               "(tcp://host:8786) instead; its workers must reach the Prefect API, and "
                               "the lake's store (s3://) or else see the data root")),
    (("--catalog",), dict(metavar="URL", help="the lake's catalog, on its first ingest: "
                          "postgresql://user@host:port/db (for teams) or sqlite:PATH (default: "
                          "DATA/lake/catalog.sqlite); later commands read it from the data root")),
    (("--follow-links",), dict(action="store_true", help="in a local folder, follow symlinks to files "
                               "anywhere (default: only to regular files inside the folder; FIFOs, "
                               "devices and sockets are never read)")),
    (("--lake-data",), dict(metavar="PATH_OR_URL",
                            help="where the lake's Parquet files go, on its first ingest (default: "
                            "$FRUS_LAKE_DATA, else DATA/lake/data/): a shared folder or s3://bucket/prefix "
                            "(settings from AWS_* variables) for a PostgreSQL catalog")),
)


def run_options(c: argparse.ArgumentParser) -> None:
    """Options of an ingest run, shared by ``ingest`` and ``serve``."""
    for flags, options in _RUN_OPTIONS:
        c.add_argument(*flags, **options)


def cmd_ingest(args) -> int:
    from tasks.sources.uri import REPLAY, parse

    # Checked here, before Prefect starts anything.
    if args.replay:
        check_data_root(args.data)
    source = REPLAY if args.replay else parse(args.source, must_exist=True).identity
    mirror = args.mirror and parse(args.mirror, must_exist=True).identity
    from flows.ingest import run_ingest, task_runner
    from tasks.records import run_outcome

    task_runner(args.workers, args.dask_address)  # (a bad runner choice, before the API starts)
    stop_at_once_on_interrupt()
    start_temporary_api()
    summary = run_ingest(source=source, data_dir=args.data, volumes=args.volumes or None, mirror=mirror,
                         workers=args.workers, dask_address=args.dask_address, catalog=args.catalog,
                         lake_data=args.lake_data, follow_links=args.follow_links)
    print(json.dumps(summary, default=str), file=sys.stderr)  # one line: the log stays readable
    return run_outcome(summary["status"]).exit_code  # (tasks.records.RUN_OUTCOMES)


def cmd_serve(args) -> int:
    from tasks.sources.uri import parse

    for value in (args.source, args.mirror):
        if value:
            parse(value, must_exist=True)
    if args.interval is not None and args.interval <= 0:
        raise ValueError("--interval must be a positive number of seconds")
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:  # Prefect's temporary API runs no scheduler
        raise RuntimeError("frus serve needs a Prefect server to run its schedule: start one "
                           "(`frus server`) and set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api)")
    from flows.deploy import serve_nightly

    serve_nightly(source=args.source, data_dir=args.data, volumes=args.volumes or None,
                  mirror=args.mirror, workers=args.workers, dask_address=args.dask_address,
                  catalog=args.catalog, lake_data=args.lake_data,
                  follow_links=args.follow_links or None, cron=args.cron, timezone=args.timezone,
                  interval=args.interval)
    return 0


def cmd_server(args) -> int:
    """``prefect server start`` with the project's settings, in place of this process."""
    api = f"http://{args.host}:{args.port}/api"
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
           "PREFECT_UI_API_URL": api, "PREFECT_API_URL": api}
    prefect = Path(sys.executable).with_name("prefect")
    print(f"frus: Prefect server on {api} (UI: http://{args.host}:{args.port}); in other shells:\n"
          f"  export PREFECT_API_URL={api}", file=sys.stderr)
    sys.stderr.flush()
    os.execve(prefect, [str(prefect), "server", "start", "--host", args.host, "--port", str(args.port)], env)
    return 0  # not reached


def cmd_status(args) -> int:
    from flows import status

    check_data_root(args.data)
    report = status.gather(args.data, runs=args.runs)
    if args.format == "json":
        json.dump(report, sys.stdout, indent=1, ensure_ascii=False, default=str)
        print()
    else:
        print(status.render(report))
    return status.exit_code(report)


def cmd_refresh(args) -> int:
    from warehouse import db

    from tasks.lake.catalog import Lake

    lake = Lake(Path(args.data), args.catalog, args.lake_data)
    if args.catalog or args.lake_data:
        lake.adopt()  # (a reader's data root: the lake is another's, read only)
    check_data_root(args.data)
    # (the data root's lock only: a refresh reads the lake at a snapshot, and writers elsewhere go on)
    with lake.lock(catalog=False, on_wait=lambda where: print("frus: an ingest is running: waiting for it",
                                                        file=sys.stderr)):
        changed = db.refresh(lake.data_root, force=args.force)
    print(("warehouse rebuilt" if args.force else "warehouse updated") if changed
          else "warehouse already up to date", file=sys.stderr)
    return 0


_temporary_api = None  # (start_temporary_api's server: stop_at_once_on_interrupt stops it)


def stop_at_once_on_interrupt() -> None:
    """Ctrl-C (or SIGTERM) ends an ingest at once when it runs on Prefect's temporary API.

    The terminal's Ctrl-C also stops that API (it is in the same process group), and Prefect
    would then spend minutes retrying to report the crash to it. Stopping at once is safe:
    the lake keeps its last committed state and the next run completes the work. With a
    Prefect server (PREFECT_API_URL), Prefect's own handling reports the run as crashed.
    """
    from prefect.settings import get_current_settings

    if get_current_settings().api.url:
        return

    def stop(signum, frame):
        # os.write, not print: the flow's log_prints would route a print through logging
        os.write(2, b"\nfrus: interrupted: the lake keeps its last committed state; the next ingest "
                 b"completes the work\n")
        # os._exit skips Prefect's atexit stop of its temporary API: a SIGINT to this process
        # alone (kill -INT, a supervisor) left that server running. (The worker processes die
        # with this process: flows.steps.WorkerPool.)
        if _temporary_api and _temporary_api.server_process:
            _temporary_api.server_process.terminate()
        os._exit(130)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def start_temporary_api() -> None:
    """With no PREFECT_API_URL, start Prefect's temporary API now, and say how long it took
    (it is most of an unchanged run's time: a server makes it go)."""
    from prefect.settings import get_current_settings

    if get_current_settings().api.url:
        return
    from prefect.server.api.server import SubprocessASGIServer

    global _temporary_api
    start = time.perf_counter()
    server = _temporary_api = SubprocessASGIServer()
    server.start(timeout=int(float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"])))
    # Worker processes read the environment: they report to this API instead of each
    # starting one of their own.
    os.environ["PREFECT_API_URL"] = server.api_url
    print(f"frus: Prefect's temporary API took {time.perf_counter() - start:.1f} s to start (with a "
          "server, `frus server` and PREFECT_API_URL, a run skips this)", file=sys.stderr)
