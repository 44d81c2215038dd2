"""What the ``frus`` commands share: the data root's default, argument types, the lake check,
and printing query results (table, JSON, CSV)."""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from datetime import date, datetime
from pathlib import Path

DEFAULT_DATA = os.environ.get("FRUS_DATA", "data")


def positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def check_data_root(data: str) -> None:
    """Commands that read a lake refuse a data root that has none (a typo would start one)."""
    from tasks.lake.catalog import Lake

    if not Lake(data).exists():
        raise FileNotFoundError(f"no lake under {Path(data).resolve()}: run `frus ingest --source PATH "
                                f"--data {data}` first")


def version_text() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("frus-pipeline")
    except PackageNotFoundError:
        return "unknown"


def query(data: str, sql: str, params: list | None = None, as_of: str | None = None):
    from warehouse import db

    return db.query(data, sql, params, as_of_run=as_of)


def jsonable(v):
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, float) and not math.isfinite(v):
        return None  # JSON has no NaN or infinity
    return v


def unique_names(cols: list[str]) -> list[str]:
    """Column names made unique for JSON keys: ``a, a`` → ``a, a_2``."""
    out: list[str] = []
    for c in cols:
        name, n = c, 1
        while name in out:
            n += 1
            name = f"{c}_{n}"
        out.append(name)
    return out


def print_rows(cols: list[str], rows: list[tuple], fmt: str) -> None:
    if fmt == "json":
        json.dump([{c: jsonable(v) for c, v in zip(unique_names(cols), r)} for r in rows], sys.stdout, indent=1,
                  ensure_ascii=False, default=str)
        print()
    elif fmt == "csv":
        w = csv.writer(sys.stdout)
        w.writerow(cols)
        w.writerows([[jsonable(v) for v in r] for r in rows])
    else:
        cells = [[("" if v is None else str(jsonable(v))).replace("\n", " ") for v in r] for r in rows]
        widths = [min(60, max([len(c)] + [len(r[i]) for r in cells])) for i, c in enumerate(cols)]
        print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
        print("  ".join("-" * w for w in widths))
        for r in cells:
            print("  ".join((v[: w - 1] + "…" if len(v) > w else v).ljust(w) for v, w in zip(r, widths)))
        print(f"({len(rows)} rows)")

