"""``frus status``: what the lake and the warehouse hold, and how the last runs went.

Reads the lake's state, ``DATA/lake/runs.parquet`` (every run's row, written by each run)
and the warehouse's ``rejects``; starts no Prefect API (a flow run's URL is shown when
``PREFECT_API_URL`` names a server).
"""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import duckdb

from tasks.records import RUN_OUTCOMES, run_outcome
from tasks.sources.uri import display, hide_password

RUN_COLUMNS = ("run_id", "started_at", "finished_at", "status", "trigger", "source", "items_seen",
               "items_new", "items_changed", "items_unchanged", "items_removed", "items_failed",
               "documents_added", "rejects", "refresh_seconds", "flow_run_id", "message")


def gather(data: str | Path, runs: int = 5) -> dict:
    """Everything ``frus status`` shows, as plain values (its ``--format json``)."""
    from tasks.lake.catalog import RUNS_FILE, Lake, redacted
    from warehouse import db

    lake = Lake(Path(data))
    state = lake.state()
    if lake.shared and lake.exists():  # (runs of every machine that shares the catalog)
        lake.export_runs()
    current = [e for e in state.items.values() if not e.withdrawn_run]
    warehouse = db.warehouse_path(data)
    fresh = db.is_current(data, state.data_snapshot)
    out = {
        "data_root": str(lake.data_root),
        "lake": {"snapshot": state.snapshot, "items": len(current),
                 "documents": sum(e.documents for e in current), "failing_items": len(state.failures),
                 "catalog": redacted(lake.catalog), "data_path": lake.data_path,
                 "bytes": None if lake.remote else _size(Path(lake.data_path))},
        "warehouse": {"path": str(warehouse), "up_to_date": fresh,
                      "built_at": _mtime(warehouse), "bytes": _size(warehouse.resolve()) if warehouse.exists() else 0},
        "runs": _runs(lake.data_root / RUNS_FILE, runs),
        "last_counted_status": _last_counted(lake.data_root / RUNS_FILE),
        "rejects_by_reason": _rejects(data) if warehouse.exists() else [],
    }
    ui = _ui_url()
    for run in out["runs"]:  # (a row older than the password rule: its password hidden too)
        run["source_display"] = display(run["source"]) if run.get("source") else None
        run["source"], run["message"] = (run[k] and hide_password(run[k]) for k in ("source", "message"))
        run["url"] = f"{ui}/runs/flow-run/{run['flow_run_id']}" if ui and run.get("flow_run_id") else None
    return out


def exit_code(status: dict) -> int:
    """1 when the last run that counts failed (or partly failed), else 0: a skipped or empty
    run says nothing of the lake and is looked past (``tasks.records.RUN_OUTCOMES``)."""
    last = status.get("last_counted_status")
    if last is None:  # (the runs shown, for a status gathered without it)
        last = next((r["status"] for r in status["runs"] if run_outcome(r["status"]).counts), None)
    return 1 if last is not None and run_outcome(last).failure else 0


def render(status: dict) -> str:
    """The text ``frus status`` prints."""
    lake, wh = status["lake"], status["warehouse"]
    lines = [
        f"data root:  {status['data_root']}",
        f"lake:       snapshot {lake['snapshot']}, {lake['items']} items, {lake['documents']} documents, "
        f"{lake['failing_items']} failing items, "
        f"{_human(lake['bytes']) if lake['bytes'] is not None else 'data in ' + lake['data_path']} "
        f"(catalog {lake['catalog']})",
        f"warehouse:  {wh['path']} ({_human(wh['bytes'])}, built {wh['built_at'] or 'never'}; "
        f"{'up to date' if wh['up_to_date'] else 'stale or missing: run frus refresh'})",
        "last runs:",
    ]
    for r in status["runs"]:
        took = f"{r['duration_seconds']:.1f} s" if r["duration_seconds"] is not None else "-"
        lines.append(f"  {r['run_id']}  {r['status']:<9} {r.get('trigger') or '-':<10} started {r['started_at']}, "
                     f"took {took}: {r['items_seen']} seen, {r['items_new']} new, {r['items_changed']} changed, "
                     f"{r['items_failed']} failed, {r['documents_added']} documents added, {r['rejects']} rejects")
        lines.append(f"      source {r['source_display']}")
        if r.get("flow_run_id"):
            lines.append(f"      flow run {r['flow_run_id']}" + (f"  {r['url']}" if r.get("url") else ""))
        if r.get("message"):
            lines.append(f"      {r['message']}")
    if not status["runs"]:
        lines.append("  (none)")
    if status["rejects_by_reason"]:
        lines.append("rejects by reason (current documents and items):")
        lines += [f"  {n:>6}  {reason}" for reason, n in status["rejects_by_reason"]]
    return "\n".join(lines)


def _runs(path: Path, limit: int) -> list[dict]:
    if not path.exists():
        return []
    con = duckdb.connect()
    try:
        have = [r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()]
        cols = [c for c in RUN_COLUMNS if c in have]  # (a lake older than a column has none)
        rows = con.execute(f"SELECT {', '.join(cols)} FROM read_parquet(?) ORDER BY started_at DESC LIMIT ?",
                           [str(path), limit]).fetchall()
    finally:
        con.close()
    runs = []
    for row in rows:
        run = dict.fromkeys(RUN_COLUMNS) | dict(zip(cols, row))
        start, end = run["started_at"], run["finished_at"]
        run["duration_seconds"] = round((end - start).total_seconds(), 3) if start and end else None
        runs.append({k: v.isoformat() if isinstance(v, datetime) else v for k, v in run.items()})
    return runs


def _last_counted(path: Path) -> str | None:
    """The status of the last run that counts (not skipped nor empty), however far back."""
    if not path.exists():
        return None
    ignored = [status for status, outcome in RUN_OUTCOMES.items() if not outcome.counts]
    con = duckdb.connect()
    try:
        row = con.execute("SELECT status FROM read_parquet(?) WHERE status NOT IN (SELECT unnest(?)) "
                          "ORDER BY started_at DESC LIMIT 1", [str(path), ignored]).fetchone()
    finally:
        con.close()
    return row[0] if row else None


def _rejects(data: str | Path, limit: int = 10) -> list[tuple[str, int]]:
    from warehouse import db

    _, rows = db.query(data, "SELECT reason, count(*) AS n FROM rejects GROUP BY reason "
                       "ORDER BY n DESC, reason LIMIT ?", [limit])
    return [(reason, n) for reason, n in rows]


def _ui_url() -> str | None:
    """The Prefect UI's address when a server is configured (PREFECT_UI_URL, else from the API's)."""
    api = os.environ.get("PREFECT_API_URL")
    if api:  # (named in the environment: spare Prefect's import, most of this command's time)
        return (os.environ.get("PREFECT_UI_URL") or api.rstrip("/").removesuffix("/api")).rstrip("/")
    home = Path(os.environ.get("PREFECT_HOME", "~/.prefect")).expanduser()
    if not (os.environ.get("PREFECT_PROFILES_PATH") or (home / "profiles.toml").exists()):
        return None  # no server named anywhere
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if not settings.api.url:
        return None
    return (settings.ui_url or settings.api.url.removesuffix("/api")).rstrip("/")


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass  # (removed while we looked: a maintenance run)
    return total


def _mtime(path: Path) -> str | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime).astimezone().isoformat(timespec="seconds")
    except OSError:
        return None


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
