"""The schedule end to end: a real Prefect server, `frus serve`, one scheduled run completed.

Both processes bind 127.0.0.1 only, keep their state in tmp_path, and are stopped (their
whole process groups) whatever happens: try/finally inside the fixtures.
"""
from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.prefect_server import _env, _stop, _tail, prefect_server, rest  # noqa: F401 (the fixture)
from warehouse import db

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
VOLUME = "frus1873p2v3"  # 23 documents: the smallest quick volume


def _completed_runs(api: str) -> list[dict]:
    body = {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}, "deployment_id": {"is_null_": False}},
            "limit": 10}
    return rest(api, "POST", "/flow_runs/filter", json=body)


def test_frus_serve_runs_the_schedule(prefect_server: str, tmp_path: Path, volumes_dir: Path):
    api = prefect_server
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(volumes_dir / f"{VOLUME}.xml", src)
    data = tmp_path / "data"
    log = tmp_path / "serve.log"
    # (its runner looks for scheduled runs every second, not every 10 s: the test waits less)
    env = _env(tmp_path / "serve-home", PREFECT_API_URL=api, PREFECT_RUNNER_POLL_FREQUENCY="1")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "frus"), "serve", "--interval", "5", "--source", str(src), "--data", str(data)],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=REPO, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 150
        runs: list[dict] = []
        while not runs:
            assert proc.poll() is None, f"frus serve exited ({proc.returncode}):\n{_tail(log)}"
            assert time.monotonic() < deadline, f"no scheduled run completed in 150 s:\n{_tail(log)}"
            runs = [r for r in _completed_runs(api) if r["deployment_id"]]
            time.sleep(1)
    finally:
        _stop(proc)

    run = runs[0]
    assert run["parameters"]["source"] == str(src.resolve())
    assert run["parameters"]["data_dir"] == str(data)
    assert run["auto_scheduled"], run  # made by the schedule, not by hand
    dep = rest(api, "GET", f"/deployments/{run['deployment_id']}")
    assert dep["name"] == "nightly-served"
    assert dep["global_concurrency_limit"]["limit"] == 1, dep
    assert dep["concurrency_options"]["collision_strategy"] in ("ENQUEUE", "CANCEL_NEW")
    assert dep["schedules"][0]["schedule"]["interval"] == 5

    with db.connect(db.warehouse_path(data), read_only=True) as con:
        docs = con.execute("SELECT count(*), min(volume_id), max(volume_id) FROM document_versions").fetchone()
        runs_rows = con.execute("SELECT status, items_new FROM runs ORDER BY started_at").fetchall()
    assert docs == (23, VOLUME, VOLUME)
    assert runs_rows[0] == ("completed", 1)


def test_nightly_deployment_definition():
    """`frus serve` serves prefect.yaml's `nightly` (one definition): cron, zone, limit 1, and
    parameters that work offline (git, with the shared corpus as mirror)."""
    import yaml
    from prefect.client.schemas.objects import ConcurrencyLimitStrategy

    from flows.deploy import nightly_deployment
    from flows.ingest import ingest

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    (nightly,) = [d for d in spec["deployments"] if d["name"] == "nightly"]
    assert nightly["entrypoint"] == "flows/ingest.py:ingest"
    assert nightly["parameters"]["source"] == "git" and nightly["parameters"]["mirror"] == "../shared/corpus"
    assert nightly["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}
    assert nightly["work_pool"]["name"] == "frus-pool"

    dep = nightly_deployment()
    assert dep.name == "nightly-served"  # not `nightly`: serving never overwrites the work pool's
    assert dep.parameters == {**nightly["parameters"], "source": "git",
                              "mirror": str((REPO / "../shared/corpus").resolve()),
                              "data_dir": str((REPO / "data").resolve())}
    (schedule,) = dep.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 3 * * *", "America/New_York")
    assert (schedule.schedule.cron, schedule.schedule.timezone) == (
        nightly["schedules"][0]["cron"], nightly["schedules"][0]["timezone"])
    assert dep.concurrency_limit == 1
    assert dep.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.ENQUEUE
    assert dep.description == nightly["description"] and dep.tags == nightly["tags"]
    assert set(dep.parameters) <= set(inspect.signature(ingest.fn).parameters)
    # options override the file; a relative path on the command line is the current folder's
    other = nightly_deployment(source="git+file:///srv/my repo", data_dir="d", cron="0 4 * * *")
    assert other.parameters["source"] == "git+file:///srv/my%20repo"
    assert other.parameters["data_dir"] == str(Path("d").resolve())
    assert other.schedules[0].schedule.cron == "0 4 * * *"


def test_frus_serve_passes_catalog_and_lake_data_to_the_deployment(monkeypatch, tmp_path: Path):
    """`frus serve --catalog … --lake-data …` reaches the flow's parameters (not ignored)."""
    import flows.deploy
    from flows import cli
    from flows.deploy import nightly_deployment

    seen: dict = {}
    monkeypatch.setattr(flows.deploy, "serve_nightly", lambda **kwargs: seen.update(kwargs))
    monkeypatch.chdir(tmp_path)
    # An API is set (as PREFECT_API_URL would set it; settings are read once, hence not setenv);
    # it is never called: serving is faked.
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert cli.main(["serve", "--catalog", "sqlite:/srv/frus/catalog.sqlite", "--lake-data", "files"]) == 0
    assert (seen["catalog"], seen["lake_data"]) == ("sqlite:/srv/frus/catalog.sqlite", "files")
    dep = nightly_deployment(**{k: v for k, v in seen.items() if k not in ("cron", "timezone", "interval")})
    assert dep.parameters["catalog"] == "sqlite:/srv/frus/catalog.sqlite"
    assert dep.parameters["lake_data"] == str(tmp_path / "files")
