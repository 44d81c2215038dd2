"""Runs an operator can trust at a glance, on a real Prefect server on 127.0.0.1.

`frus ingest` runs as a user runs it (a child process, PREFECT_API_URL set, the default log
level); the API, the artifact, `frus status` and the lake are then read back.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.prefect_server import BIN, _env, _stop, _tail, prefect_server, rest, runs_of  # noqa: F401 (the fixture)
from warehouse import db

REPO = Path(__file__).resolve().parents[2]
SMALL = ["frus1873p2v3.xml", "frus1894Nicaragua.xml"]  # 23 and 138 documents
# Offline whatever the host's network: HTTP(S) through a proxy that refuses (127.0.0.1:1), the
# API on 127.0.0.1 reached directly, and git's github.com rewritten to a repository that does
# not exist, so the upstream's clone fails at once.
OFFLINE = {
    "HTTPS_PROXY": "http://127.0.0.1:1", "HTTP_PROXY": "http://127.0.0.1:1",
    "https_proxy": "http://127.0.0.1:1", "http_proxy": "http://127.0.0.1:1",
    "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
    "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "url.file:///nonexistent/frus-offline/.insteadOf",
    "GIT_CONFIG_VALUE_0": "https://github.com/", "GIT_TERMINAL_PROMPT": "0",
}


def _frus(args: list[str], api: str, home: Path, cwd: Path | None = None, timeout: float = 600):
    env = _env(home, PREFECT_API_URL=api)
    return subprocess.run([str(BIN / "frus"), *args], env=env, capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=timeout)


def _flow_runs(api: str, data: Path) -> list[dict]:
    """The flow runs into ``data``, newest first (the module's tests share one server)."""
    return runs_of(rest(api, "POST", "/flow_runs/filter", json={"sort": "START_TIME_DESC", "limit": 200}), data)


def _artifact(api: str, flow_run_id: str) -> str:
    body = {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}, "key": {"any_": ["ingest-run"]}}}
    (artifact,) = rest(api, "POST", "/artifacts/filter", json=body)
    return artifact["data"]


def _task_run_names(api: str, flow_run_id: str) -> list[str]:
    body = {"task_runs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200}
    return sorted(t["name"] for t in rest(api, "POST", "/task_runs/filter", json=body))


def test_a_failed_item_fails_the_run_in_prefect(prefect_server: str, tmp_path: Path, volumes_dir: Path):
    api, home = prefect_server, tmp_path / "home"
    src, data = tmp_path / "src", tmp_path / "data"
    src.mkdir()
    shutil.copy(volumes_dir / SMALL[0], src)
    (src / "broken.xml").write_text("<TEI xmlns='http://www.tei-c.org/ns/1.0'><text>")
    done = _frus(["ingest", "--source", str(src), "--data", str(data), "--workers", "1"], api, home)
    assert done.returncode == 1, done.stderr
    (run,) = _flow_runs(api, data)
    assert (run["state_type"], run["state_name"]) == ("FAILED", "Partial"), run["state"]
    assert "broken.xml" in run["state"]["message"]
    artifact = _artifact(api, run["id"])
    assert "broken.xml" in artifact and "not well-formed" in artifact
    assert f"| {SMALL[0]} | new | 23 | 0 |" in artifact  # the per-volume table
    # one line for the failed item, its reason in it; no traceback at the default level
    failed = [ln for ln in done.stderr.splitlines() if "broken.xml failed" in ln]
    assert len(failed) == 1 and "not well-formed" in failed[0], done.stderr
    assert "Traceback" not in done.stderr, done.stderr

    # frus status: the run, its Prefect id and URL, its trigger, and exit 1 (it failed)
    status = _frus(["status", "--data", str(data), "--format", "json"], api, home)
    assert status.returncode == 1, status.stderr
    last = json.loads(status.stdout)["runs"][0]
    assert (last["status"], last["trigger"], last["flow_run_id"]) == ("partial", "manual", run["id"])
    assert last["url"].endswith(f"/runs/flow-run/{run['id']}") and last["url"].startswith(api.removesuffix("/api"))
    assert last["source"] == str(src.resolve()) and last["duration_seconds"] > 0
    assert last["refresh_seconds"] is not None and last["finished_at"] >= last["started_at"]
    text = _frus(["status", "--data", str(data)], api, home)
    assert text.returncode == 1 and run["id"] in text.stdout and "partial" in text.stdout
    assert "not well-formed" in text.stdout  # rejects by reason

    # a selection that matches nothing: a warning, status empty, exit 3, a Completed `Empty` state
    empty = _frus(["ingest", "--source", str(src), "--data", str(data), "--volumes", "frus1999nope"], api, home)
    assert empty.returncode == 3, empty.stderr
    assert "volume frus1999nope not found" in empty.stderr
    assert (_flow_runs(api, data)[0]["state_type"], _flow_runs(api, data)[0]["state_name"]) == ("COMPLETED", "Empty")
    assert db.query(data, "SELECT status FROM runs ORDER BY started_at DESC LIMIT 1")[1] == [("empty",)]


def test_a_good_run_is_completed_named_by_volume_and_quiet(prefect_server: str, tmp_path: Path,
                                                            volumes_dir: Path):
    api, home = prefect_server, tmp_path / "home"
    src, data = tmp_path / "src", tmp_path / "data"
    src.mkdir()
    for n in range(11):  # 22 items
        for name in SMALL:
            shutil.copy(volumes_dir / name, src / name.replace(".xml", f"-{n:02d}.xml"))
    done = _frus(["ingest", "--source", str(src), "--data", str(data), "--workers", "2"], api, home)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) <= 30, done.stderr  # one per volume, the summary, Prefect's few
    assert sum("documents," in ln for ln in lines) == 22
    assert not any("Finished in state Completed" in ln and "Task run" in ln for ln in lines)
    (run,) = _flow_runs(api, data)
    assert (run["state_type"], run["state_name"]) == ("COMPLETED", "Completed")
    names = _task_run_names(api, run["id"])
    batches = [n for n in names if n.startswith("normalise ")]  # normalised in batches
    assert sum(int(n.rsplit("(", 1)[1].split()[0]) if n.endswith(" items)") else 1 for n in batches) == 22
    assert 2 <= len(batches) < 22 and batches[0].startswith("normalise frus1873p2v3-00.xml"), names
    assert any(n.endswith("frus1894Nicaragua-10.xml (2 items)") for n in batches), names
    assert not any(n.startswith("fetch ") for n in names)  # a local file's fetch: no task run

    # unchanged: nothing new; the run's row has its Prefect id; frus status exits 0
    again = _frus(["ingest", "--source", str(src), "--data", str(data)], api, home)
    assert again.returncode == 0, again.stderr
    (summary,) = [json.loads(ln) for ln in again.stderr.splitlines() if ln.startswith("{")]
    assert (summary["status"], summary["items_unchanged"], summary["trigger"]) == ("completed", 22, "manual")
    assert summary["flow_run_id"] == _flow_runs(api, data)[0]["id"]
    assert _frus(["status", "--data", str(data)], api, home).returncode == 0


def test_a_deployment_from_prefect_yaml_runs_offline(prefect_server: str, tmp_path: Path, corpus: Path):
    """prefect.yaml's `nightly`, deployed as written and run by a process worker offline: the
    upstream cannot be listed, the mirror (../shared/corpus) is ingested, the run completes.
    Then the same folder as a deployment parameter (a symlink) and on the command line (a
    relative path) is the same source: nothing new."""
    api, home = prefect_server, tmp_path / "home"
    data = tmp_path / "data"
    prefect = [str(BIN / "prefect")]
    env = _env(home, PREFECT_API_URL=api, **OFFLINE)
    for args in (["work-pool", "create", "frus-pool", "--type", "process"],
                 ["--no-prompt", "deploy", "-n", "nightly"]):
        made = subprocess.run(prefect + args, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert made.returncode == 0, made.stdout + made.stderr

    deployment = rest(api, "GET", "/deployments/name/ingest/nightly")

    def run_deployment(**params) -> dict:
        """A run of the deployment by hand, with these parameters over prefect.yaml's."""
        made = rest(api, "POST", f"/deployments/{deployment['id']}/create_flow_run", json={
            "parameters": {"data_dir": str(data), "volumes": ["frus1873p2v3"], **params}})
        log = tmp_path / "worker.log"
        with open(log, "ab") as out:
            worker = subprocess.Popen(prefect + ["worker", "start", "--pool", "frus-pool", "--run-once"],
                                      env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 300
            while True:
                run = rest(api, "GET", f"/flow_runs/{made['id']}")
                if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                    return run
                assert time.monotonic() < deadline, f"the deployment's run did not end:\n{_tail(log)}"
                time.sleep(1)
        finally:
            _stop(worker)

    first = run_deployment()
    assert first["state_type"] == "COMPLETED", first["state"]
    mirror = (REPO / ".." / "shared" / "corpus").resolve()
    rows = db.query(data, "SELECT source, status, trigger, items_new, message FROM runs")[1]
    lists = len(list((mirror / "reference").glob("*.csv")))  # (authority lists join every selection)
    assert len(rows) == 1 and rows[0][:4] == (str(mirror), "completed", "deployment", 1 + lists)
    assert "fell back to the mirror" in rows[0][4]  # the upstream could not be listed:
    assert "frus-offline" in rows[0][4], rows[0][4]  # (its clone went to the rewritten URL, not the network)

    link = tmp_path / "corpus-link"
    link.symlink_to(mirror)
    second = run_deployment(source=str(link), mirror=None)
    assert second["state_type"] == "COMPLETED", second["state"]
    versions = db.query(data, "SELECT count(*) FROM document_versions")[1]
    rel = os.path.relpath(mirror, tmp_path)
    cli = _frus(["ingest", "--source", rel, "--data", str(data), "--volumes", "frus1873p2v3"], api, home,
                cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr
    runs = db.query(data, "SELECT source, items_new, items_unchanged FROM runs ORDER BY started_at")[1]
    assert runs[1:] == [(str(mirror), 0, 1 + lists), (str(mirror), 0, 1 + lists)]
    assert db.query(data, "SELECT count(*) FROM document_versions")[1] == versions == [(23,)]
