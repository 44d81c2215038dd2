"""The ``frus`` command: ingest, serve, server, search, show, export, plot, sql, shell, status,
refresh (search and show in flows/analyst.py, export and plot in flows/exports.py).

Every argument is checked before Prefect starts (a temporary API, or a flow run on a
server): a bad one is one line and exit 2 (argparse) or 1. The operators' commands are in
``flows/cli_operators.py``, what the commands share in ``flows/cli_shared.py``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import flows.prefect_env  # noqa: F401,E402  (before Prefect)

from flows import cli_operators as ops  # noqa: E402
from flows.cli_shared import DEFAULT_DATA, check_data_root, print_rows, query, version_text  # noqa: E402


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
        from tasks.sources.uri import hide_password

        print(f"frus: error: {hide_password(str(exc))}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="frus", description="FRUS ingestion pipeline and warehouse.")
    p.add_argument("--version", action="version", version=f"%(prog)s {version_text()}")
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, func, help: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help, description=help)
        c.add_argument("--data", default=DEFAULT_DATA, help="data root (default: ./data or $FRUS_DATA)")
        c.set_defaults(func=func)
        return c

    ops.add_ingest(command)
    ops.add_serve(command)

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
    ops.add_status(command)
    ops.add_server(sub)
    ops.add_refresh(command)
    return p


# -- commands ------------------------------------------------------------------------


def cmd_sql(args) -> int:
    if args.as_of:
        check_data_root(args.data)
    cols, rows = query(args.data, args.query, as_of=args.as_of)
    print_rows(cols, rows, args.format)
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


if __name__ == "__main__":
    sys.exit(main())
