"""How a run's status reads everywhere: one table (tasks.records.RUN_OUTCOMES) for the Prefect
state, `frus ingest`'s exit status and `frus status`'s."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from prefect.states import State

from flows import status
from flows.report import final_state
from tasks.records import RUN_OUTCOMES, run_outcome


def _summary(status_: str) -> dict:
    return {"status": status_, "source": "/src", "items_seen": 2, "items_failed": 1,
            "failures": ["a.xml: broken"], "message": "busy"}


@pytest.mark.parametrize("name", sorted(RUN_OUTCOMES))
def test_the_final_state_follows_the_table(name: str):
    outcome, state = RUN_OUTCOMES[name], final_state(_summary(name))
    if isinstance(state, State):
        assert (state.type.value, state.name) == (outcome.state, outcome.name)
    else:  # completed: the summary itself, which Prefect wraps in Completed
        assert (outcome.state, outcome.name) == ("COMPLETED", "Completed")


def test_the_exit_codes_and_failures_of_the_table():
    assert {s: o.exit_code for s, o in RUN_OUTCOMES.items()} == {
        "completed": 0, "skipped": 0, "empty": 3, "partial": 1, "failed": 1}
    assert {s for s, o in RUN_OUTCOMES.items() if o.failure} == {"partial", "failed"}
    assert {s for s, o in RUN_OUTCOMES.items() if o.state == "FAILED"} == {"partial", "failed"}
    assert run_outcome("running") == run_outcome(None) == RUN_OUTCOMES["failed"]


def _runs_file(path: Path, statuses: list[str]) -> Path:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    con = duckdb.connect()
    con.execute("CREATE TABLE runs (run_id VARCHAR, started_at TIMESTAMPTZ, status VARCHAR)")
    con.executemany("INSERT INTO runs VALUES (?, ?, ?)",
                    [(f"r{n}", start + timedelta(hours=n), s) for n, s in enumerate(statuses)])
    con.execute(f"COPY runs TO '{path}' (FORMAT parquet)")
    con.close()
    return path


@pytest.mark.parametrize("statuses, code", [
    (["failed", "skipped"], 1), (["partial", "empty", "skipped"], 1), (["failed", "completed", "skipped"], 0),
    (["completed", "failed"], 1), (["skipped", "empty"], 0), ([], 0)])
def test_frus_status_exit_looks_past_skipped_and_empty_runs(tmp_path: Path, statuses: list[str], code: int):
    last = status._last_counted(_runs_file(tmp_path / "runs.parquet", statuses)) if statuses else None
    runs = [{"status": s} for s in reversed(statuses)]  # newest first, as frus status shows them
    assert status.exit_code({"runs": runs, "last_counted_status": last}) == code
    assert status.exit_code({"runs": runs}) == code  # (judged on the runs shown)


def test_frus_status_exit_sees_a_failure_older_than_the_runs_shown(tmp_path: Path):
    path = _runs_file(tmp_path / "runs.parquet", ["failed"] + ["skipped"] * 6)
    shown = status._runs(path, 5)
    assert {r["status"] for r in shown} == {"skipped"}
    assert status.exit_code({"runs": shown, "last_counted_status": status._last_counted(path)}) == 1
