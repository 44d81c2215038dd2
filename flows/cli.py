"""The ``frus`` command: ingest, serve, server, search, show, export, plot, sql, shell, status,
refresh (search and show in flows/analyst.py, export and plot in flows/exports.py).

Every argument is checked before Prefect starts (a temporary API, or a flow run on a
server): a bad one is one line and exit 2 (argparse) or 1.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import signal
import sys
import time
from datetime import date, datetime
from pathlib import Path

import flows.prefect_env  # noqa: F401,E402  (before Prefect)

DEFAULT_DATA = os.environ.get("FRUS_DATA", "data")
SOURCE_HELP = (
    "where the volumes are: a folder PATH (or file://…), searched recursively; "
    "git (the upstream https://github.com/HistoryAtState/frus.git), git+https://… or "
    "git+file://… (a git repository: its volumes/ folder); http(s)://… (one .xml URL, or a "
    "base URL completed by --volumes); urls:FILE (a text file of URLs, one a line)."
)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `frus search … | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a clear one-line error, not a traceback, for users
        if os.environ.get("FRUS_DEBUG"):
            raise
        print(f"frus: error: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="frus", description="FRUS ingestion pipeline and warehouse.")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, func, help: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help, description=help)
        c.add_argument("--data", default=DEFAULT_DATA, help="data root (default: ./data or $FRUS_DATA)")
        c.set_defaults(func=func)
        return c

    c = command("ingest", cmd_ingest, "Fetch, normalise and store a source, then refresh the warehouse.")
    how = c.add_mutually_exclusive_group(required=True)
    how.add_argument("--source", metavar="SOURCE", help=SOURCE_HELP)
    how.add_argument("--replay", action="store_true",
                     help="re-normalise what the lake holds from the landing zone (DATA/raw), "
                          "without fetching: after a parser upgrade")
    _run_options(c)

    c = command("serve", cmd_serve, "Run the ingest on a schedule (prefect.yaml's 'nightly' deployment, "
                "served here as 'nightly-served') until stopped.")
    c.set_defaults(data=os.environ.get("FRUS_DATA"))  # (None: prefect.yaml's, in the checkout)
    c.add_argument("--source", metavar="SOURCE",
                   help=SOURCE_HELP + " Default: prefect.yaml's (git, with ../shared/corpus as --mirror).")
    _run_options(c)
    c.add_argument("--cron", help="cron schedule (default: prefect.yaml's, '0 3 * * *', 03:00 daily)")
    c.add_argument("--timezone", help="IANA time zone of the cron schedule (default: prefect.yaml's, "
                   "America/New_York)")
    c.add_argument("--interval", type=float, default=None, metavar="SECONDS",
                   help="run every SECONDS instead of on the cron schedule (tests, demos)")

    from flows import analyst, exports  # search, show; export, plot

    analyst.register(sub, command)
    exports.register(sub, command)

    c = command("sql", cmd_sql, "Run a SQL query against the warehouse (read-only).")
    c.description = ("Run one read-only SQL statement against the warehouse: a SELECT (or FROM, WITH, "
                     "VALUES, TABLE, DESCRIBE, SHOW, SUMMARIZE, PIVOT) or EXPLAIN [ANALYZE] of one; "
                     "anything else is refused. It reads the warehouse's tables, views and macros and "
                     "no other file (external access off, configuration locked).")
    c.add_argument("query", help="one statement (no COPY, ATTACH, SET, PRAGMA, CREATE…)")
    c.add_argument("--as-of", metavar="RUN_ID",
                   help="answer on the state the run RUN_ID left (DuckLake time travel; the "
                        "first query of a run builds its warehouse under DATA/as-of/)")
    c.add_argument("--format", choices=["table", "json", "csv"], default="table")

    c = command("shell", cmd_shell, "Open the warehouse in the duckdb shell, read-only, in safe mode.")
    c.description = ("Open the warehouse in the duckdb shell, read-only and in safe mode: it reads no "
                     "file but the warehouse and the runs file its views read (no COPY, read_csv, "
                     "ATTACH, INSTALL; no .shell, .system, .output, .read, .open), its configuration "
                     "locked. To export, frus export QUERY --out FILE; `duckdb -readonly "
                     "DATA/warehouse.duckdb` by hand is the full DuckDB.")
    c = command("status", cmd_status, "What the lake and warehouse hold, and the last runs (exit 1 when "
                "the last run failed).")
    c.add_argument("--format", choices=["text", "json"], default="text")
    c.add_argument("--runs", type=_positive, default=5, help="how many runs to show (default: 5)")

    c = sub.add_parser("server", help="Start a Prefect server for the project (127.0.0.1, analytics off).",
                       description="Start a Prefect server (the UI and the API) for this project: on "
                       "127.0.0.1, analytics off, its state in PREFECT_HOME. It prints the "
                       "PREFECT_API_URL other shells (frus ingest, frus serve, .venv/bin/prefect "
                       "deploy and worker) need.")
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--port", type=_positive, default=4200)
    c.set_defaults(func=cmd_server)
    c = command("refresh", cmd_refresh, "Bring the warehouse to the lake's state (update it, or rebuild it whole).")
    c.add_argument("--force", action="store_true", help="rebuild it whole, even when up to date")
    return p


def _run_options(c: argparse.ArgumentParser) -> None:
    """Options of an ingest run, shared by ``ingest`` and ``serve``."""
    c.add_argument("--volumes", nargs="*", help="volume ids or globs to select (frus1936v*)")
    c.add_argument("--mirror", metavar="PATH",
                   help="a local folder of the volumes, ingested instead when SOURCE cannot be "
                        "listed (no network, upstream down)")
    c.add_argument("--workers", type=_positive, default=None, metavar="N",
                   help="volumes normalised at once, each in a worker process (default: one per "
                        "core; 1: in this process)")
    c.add_argument("--dask-address", metavar="ADDRESS",
                   help="normalise on the Dask scheduler at ADDRESS (tcp://host:8786) instead; "
                        "its workers must see the data root and the Prefect API")
    c.add_argument("--catalog", metavar="URL",
                   help="the lake's catalog, on its first ingest: postgresql://user@host:port/db "
                        "(for teams) or sqlite:PATH (default: DATA/lake/catalog.sqlite); later "
                        "commands read it from the data root")
    c.add_argument("--follow-links", action="store_true",
                   help="in a local folder, follow symlinks to files anywhere (default: only to "
                        "regular files inside the folder; FIFOs, devices and sockets are never read)")
    c.add_argument("--lake-data", metavar="PATH",
                   help="where the lake's Parquet files go, on its first ingest (default: "
                        "DATA/lake/data/; a shared folder for a PostgreSQL catalog)")


# -- commands ------------------------------------------------------------------------


def cmd_ingest(args) -> int:
    from tasks.sources.uri import REPLAY, parse

    # Checked here, before Prefect starts anything.
    if args.replay:
        _check_data_root(args.data)
    source = REPLAY if args.replay else parse(args.source, must_exist=True).identity
    mirror = args.mirror and parse(args.mirror, must_exist=True).identity
    from flows.ingest import run_ingest, task_runner
    from tasks.records import run_outcome

    task_runner(args.workers, args.dask_address)  # (a bad runner choice, before the API starts)
    _stop_at_once_on_interrupt()
    _start_temporary_api()
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


def cmd_sql(args) -> int:
    if args.as_of:
        _check_data_root(args.data)
    cols, rows = _query(args.data, args.query, as_of=args.as_of)
    _print(cols, rows, args.format)
    return 0


def cmd_shell(args) -> int:
    from warehouse import db, readonly

    path = db.existing_warehouse(args.data)
    shell = shutil.which("duckdb", path=str(Path(sys.executable).parent)) or shutil.which("duckdb")
    if not shell:
        raise FileNotFoundError("the duckdb shell is not installed: pip install duckdb-cli==1.5.5")
    # -readonly: other readers (frus search, ingests' updates) are never locked out. Then no
    # file but the warehouse and what its views read, and safe mode: no .shell, .system,
    # .output, .read, .open or .import, the configuration locked (the guards of frus sql).
    commands = ["SET autoinstall_known_extensions = false",
                *readonly.lockdown(db.readable_files(args.data)), ".safe_mode"]
    os.execv(shell, [shell, "-readonly", *(a for c in commands for a in ("-cmd", c)), str(path)])
    return 0  # not reached


def cmd_status(args) -> int:
    from flows import status

    _check_data_root(args.data)
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

    _check_data_root(args.data)
    lake = Lake(Path(args.data))
    with lake.lock(on_wait=lambda: print("frus: an ingest is running: waiting for it", file=sys.stderr)):
        changed = db.refresh(lake.data_root, force=args.force)
    print(("warehouse rebuilt" if args.force else "warehouse updated") if changed
          else "warehouse already up to date", file=sys.stderr)
    return 0


# -- helpers -------------------------------------------------------------------------


def _stop_at_once_on_interrupt() -> None:
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
        os._exit(130)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def _check_data_root(data: str) -> None:
    """Commands that read a lake refuse a data root that has none (a typo would start one)."""
    from tasks.lake.catalog import Lake

    if not Lake(data).exists():
        raise FileNotFoundError(f"no lake under {Path(data).resolve()}: run `frus ingest --source PATH "
                                f"--data {data}` first")


def _start_temporary_api() -> None:
    """With no PREFECT_API_URL, start Prefect's temporary API now, and say how long it took
    (it is most of an unchanged run's time: a server makes it go)."""
    from prefect.settings import get_current_settings

    if get_current_settings().api.url:
        return
    from prefect.server.api.server import SubprocessASGIServer

    start = time.perf_counter()
    server = SubprocessASGIServer()
    server.start(timeout=int(float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"])))
    # Worker processes read the environment: they report to this API instead of each
    # starting one of their own.
    os.environ["PREFECT_API_URL"] = server.api_url
    print(f"frus: Prefect's temporary API took {time.perf_counter() - start:.1f} s to start (with a "
          "server, `frus server` and PREFECT_API_URL, a run skips this)", file=sys.stderr)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("frus-pipeline")
    except PackageNotFoundError:
        return "unknown"


def _query(data: str, sql: str, params: list | None = None, as_of: str | None = None):
    from warehouse import db

    return db.query(data, sql, params, as_of_run=as_of)


def _jsonable(v):
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, float) and not math.isfinite(v):
        return None  # JSON has no NaN or infinity
    return v


def _unique(cols: list[str]) -> list[str]:
    """Column names made unique for JSON keys: ``a, a`` → ``a, a_2``."""
    out: list[str] = []
    for c in cols:
        name, n = c, 1
        while name in out:
            n += 1
            name = f"{c}_{n}"
        out.append(name)
    return out


def _print(cols: list[str], rows: list[tuple], fmt: str) -> None:
    if fmt == "json":
        json.dump([{c: _jsonable(v) for c, v in zip(_unique(cols), r)} for r in rows], sys.stdout, indent=1,
                  ensure_ascii=False, default=str)
        print()
    elif fmt == "csv":
        w = csv.writer(sys.stdout)
        w.writerow(cols)
        w.writerows([[_jsonable(v) for v in r] for r in rows])
    else:
        cells = [[("" if v is None else str(_jsonable(v))).replace("\n", " ") for v in r] for r in rows]
        widths = [min(60, max([len(c)] + [len(r[i]) for r in cells])) for i, c in enumerate(cols)]
        print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
        print("  ".join("-" * w for w in widths))
        for r in cells:
            print("  ".join((v[: w - 1] + "…" if len(v) > w else v).ljust(w) for v, w in zip(r, widths)))
        print(f"({len(rows)} rows)")


if __name__ == "__main__":
    sys.exit(main())
