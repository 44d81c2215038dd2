"""The ingest flow's steps one at a time: a normaliser's crash, what fails after the commit,
task-run names, where the phases run."""
from __future__ import annotations

import dataclasses
import logging
import pickle
import shutil
import tempfile
from pathlib import Path

import pytest

import tasks.normalise
from flows import ingest as flow
from flows.ingest import _item_failed, _named, normalise_and_stage, run_ingest
from flows.steps import _batch_name, normalise_and_stage_item
from tasks.lake import apart, staging
from tasks.lake.catalog import Lake, LakeState
from tasks.lake.changes import Changes
from tasks.errors import NormaliseError, VolumeError
from tasks.records import RunReport, utcnow
from tasks.sources import FetchedItem, SourceItem
from warehouse import db

URI = "file:///src/frus1.xml"


def _fetched(tmp_path: Path, name: str = "frus1.xml", uri: str = URI) -> FetchedItem:
    path = tmp_path / "blob"
    path.write_bytes(b"<TEI/>")
    return FetchedItem(SourceItem(name, uri, "v1"), path, "0" * 64, 6)


def test_a_normaliser_crash_names_the_item_type_and_message_and_keeps_its_traceback(
        monkeypatch, tmp_path: Path):
    def crash(fetched, reviewed=False):
        raise RuntimeError("bad\nstate " + "x" * 500)

    monkeypatch.setattr(tasks.normalise, "normalise_item", crash)
    with pytest.raises(NormaliseError) as caught:
        normalise_and_stage_item(tmp_path, _fetched(tmp_path), "run-1", None)
    error = caught.value
    assert str(error).startswith(f"{URI}: RuntimeError: bad\\nstate xxx")
    assert "\n" not in str(error) and len(str(error)) <= 200
    assert "Traceback" in error.traceback and "RuntimeError: bad" in error.traceback
    again = pickle.loads(pickle.dumps(error))  # as it crosses back from a worker process
    assert (str(again), again.traceback) == (str(error), error.traceback)


def test_a_normaliser_refusal_keeps_its_message(monkeypatch, tmp_path: Path):
    def refuse(fetched, reviewed=False):
        raise VolumeError(URI, "not well-formed XML: boom")

    monkeypatch.setattr(tasks.normalise, "normalise_item", refuse)
    with pytest.raises(NormaliseError) as caught:
        normalise_and_stage_item(tmp_path, _fetched(tmp_path), "run-1", None)
    assert str(caught.value) == f"{URI}: not well-formed XML: boom"
    assert caught.value.traceback is None


def test_a_failed_item_logs_the_workers_traceback_at_debug(caplog):
    log = logging.getLogger("test.ingest.item")
    report = RunReport("run-1", "/src", utcnow())
    error = NormaliseError(f"{URI}: RuntimeError: bad", traceback="Traceback (most recent call last):\n  …")
    with caplog.at_level("DEBUG", logger="test.ingest.item"):
        _item_failed(log, Changes(LakeState(), report), 1, 1, SourceItem("frus1.xml", URI, "v1"), "/src", error)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    debugs = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(errors) == 1 and "RuntimeError: bad" in errors[0].getMessage()
    assert any("Traceback (most recent call last)" in m for m in debugs), debugs
    assert report.failures == [f"frus1.xml: {URI}: RuntimeError: bad"]


def test_task_runs_are_named_by_the_items_name_not_its_stem(tmp_path: Path):
    a, b = SourceItem("a/frus1.xml", "u:a", "1"), SourceItem("b/frus1.xml", "u:b", "1")
    fetch_name = _named("fetch", "item")
    assert fetch_name({"item": a}) == "fetch a/frus1.xml" != fetch_name({"item": b})
    fetched = FetchedItem(SourceItem("c/new\nline.xml", "u:c", "1"), tmp_path, "0" * 64, 0)
    assert _batch_name({"batch": [(fetched, None)]}) == "normalise c/new\\nline.xml"
    other = FetchedItem(b, tmp_path, "0" * 64, 0)
    assert _batch_name({"batch": [(fetched, None), (fetched, None), (other, None)]}) == (
        "normalise c/new\\nline.xml … b/frus1.xml (3 items)")


def test_one_bad_item_of_a_batch_fails_alone(tmp_path: Path, volumes_dir: Path):
    good = volumes_dir / "frus1873p2v3.xml"
    items = [_fetched(tmp_path), FetchedItem(SourceItem("frus1873p2v3.xml", good.as_uri(), "v1"), good,
                                             "1" * 64, good.stat().st_size)]
    bad, (staged, reasons, seconds) = normalise_and_stage.fn(tmp_path, [(f, None) for f in items], "run-1")
    assert isinstance(bad, NormaliseError) and URI in str(bad)
    assert staged.entry.volume_id == "frus1873p2v3" and staged.entry.documents > 0
    assert Path(staging.file(staged.folder, "documents")).is_file() and seconds > 0


def test_a_batch_makes_a_scratch_folder_only_for_items_that_carry_their_bytes(
        monkeypatch, tmp_path: Path, volumes_dir: Path):
    good = volumes_dir / "frus1873p2v3.xml"
    here = FetchedItem(SourceItem(good.name, good.as_uri(), "v1"), good, "1" * 64, good.stat().st_size)
    carried = dataclasses.replace(here, path=tmp_path / "absent", data=good.read_bytes())
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    made: list[str] = []
    real = tempfile.TemporaryDirectory
    monkeypatch.setattr(tempfile, "TemporaryDirectory", lambda **kw: made.append(kw["prefix"]) or real(**kw))
    (local,) = normalise_and_stage.fn(str(tmp_path / "s1"), [(here, None)], "run-1")
    assert made == [] and local[0].entry.documents > 0  # (a worker killed here leaves nothing in /tmp)
    both = normalise_and_stage.fn(str(tmp_path / "s2"), [(here, None), (carried, None)], "run-1")
    assert made == ["frus-normalise-"] and [o[0].entry.documents for o in both] == [local[0].entry.documents] * 2
    assert list(temp.iterdir()) == []  # (the carried copy went with its folder)
    # No room for the copy: the carried item fails alone, named, and the other is staged.
    monkeypatch.setattr(tempfile, "TemporaryDirectory", lambda **kw: (_ for _ in ()).throw(OSError(28, "No space left")))
    local3, failed = normalise_and_stage.fn(str(tmp_path / "s3"), [(here, None), (carried, None)], "run-1")
    assert local3[0].entry.documents == local[0].entry.documents
    assert isinstance(failed, NormaliseError) and good.as_uri() in str(failed) and "No space left" in str(failed)


@pytest.mark.usefixtures("prefect_api")  # runs a flow
@pytest.mark.parametrize("broken", ["clear", "publish"])
def test_what_fails_after_the_commit_is_a_warning_not_a_second_run(
        monkeypatch, tmp_path: Path, volumes_dir: Path, broken: str):
    src, data = tmp_path / "src", tmp_path / "data"
    src.mkdir()
    shutil.copy(volumes_dir / "frus1873p2v3.xml", src)

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if broken == "clear":
        monkeypatch.setattr(staging, "clear", fail)
    else:
        monkeypatch.setattr(flow, "publish", fail)
    summary = run_ingest(source=str(src), data_dir=str(data), workers=1)
    assert summary["status"] == "completed" and summary["items_new"] == 1
    with Lake(data).connect(read_only=True) as con:  # (the lake's: the warehouse may not be built)
        rows = con.execute("SELECT status, message FROM lake.runs").fetchall()
    assert [status for status, _ in rows] == ["completed"], rows
    if broken == "clear":
        assert "committed; then OSError" in rows[0][1]


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_a_small_lake_runs_its_phases_here_and_a_big_one_apart(monkeypatch, tmp_path: Path, volumes_dir: Path):
    """The flow asks `runs_apart` with the lake's size: a 23-document lake's dedupe, commit and
    warehouse update run in its process; from the threshold (here 0), each in a child. Both
    leave the same warehouse."""
    started: list[str] = []

    def counted(module: str, *args: str) -> str:
        started.append(f"{module} {args[0] if module == 'tasks.lake.apart' else ''}".strip())
        return real(module, *args)

    real = apart.run_apart
    monkeypatch.setattr(apart, "run_apart", counted)
    monkeypatch.setattr(db, "run_apart", counted)
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(volumes_dir / "frus1873p2v3.xml", src)
    counts = {}
    for threshold in (None, "0"):
        if threshold is None:
            monkeypatch.delenv(apart.APART_FROM, raising=False)
        else:
            monkeypatch.setenv(apart.APART_FROM, threshold)
        data = tmp_path / f"data-{threshold}"
        summary = run_ingest(source=str(src), data_dir=str(data), workers=1)
        assert summary["status"] == "completed" and summary["items_new"] == 1
        counts[threshold] = db.query(data, "SELECT count(*), count(DISTINCT doc_key) FROM document_versions")[1]
        if threshold is None:
            assert started == [], started  # (23 documents: below the default)
    assert started == ["tasks.lake.apart dedupe", "tasks.lake.apart commit", "warehouse.db"]
    assert counts[None] == counts["0"] == [(23, 23)]


def test_the_default_runner_starts_worker_processes_only_for_a_big_run(monkeypatch):
    from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

    from flows.steps import DEFAULT_POOL_FROM, POOL_FROM, task_runner

    monkeypatch.setattr("flows.steps.default_workers", lambda: 4)
    pool = task_runner(items=DEFAULT_POOL_FROM)
    assert isinstance(pool, ProcessPoolTaskRunner) and pool._max_workers == 4
    assert isinstance(task_runner(items=DEFAULT_POOL_FROM - 1), ThreadPoolTaskRunner)
    assert isinstance(task_runner(), ProcessPoolTaskRunner)  # (size unknown: as many as cores)
    # --workers N is the pool's size whatever the run's; one item is parsed here
    assert isinstance(task_runner(2, items=2), ProcessPoolTaskRunner)
    assert isinstance(task_runner(2, items=1), ThreadPoolTaskRunner)
    assert isinstance(task_runner(1, items=100), ThreadPoolTaskRunner)
    monkeypatch.setenv(POOL_FROM, "0")
    assert isinstance(task_runner(items=2), ProcessPoolTaskRunner)
    monkeypatch.setenv(POOL_FROM, "many")
    with pytest.raises(ValueError, match="FRUS_POOL_FROM_ITEMS='many': not a number"):
        task_runner()
    with pytest.raises(ValueError, match="at least 1, not 0"):
        task_runner(0)


def test_a_scan_or_fetch_is_retried_only_when_trying_again_may_help():
    """A local file or git repository that cannot be read, a refusal, a full disk: no retry
    (an unreachable local repository failed its run after 10 s of retries); a remote one: yes."""
    import errno

    from prefect.states import Failed

    from flows.steps import worth_retrying
    from tasks.sources import FetchError

    def retried(exc: BaseException) -> bool:
        return worth_retrying(None, None, Failed(data=exc))

    assert not retried(FetchError("git+file:///srv/no-such-repo", "git clone failed: not found"))
    assert not retried(FetchError("file:///src/frus1.xml", "No such file"))
    assert not retried(FetchError("https://example.org/v/frus1.xml", "over the size limit", permanent=True))
    full = FetchError("https://example.org/v/frus1.xml", "write failed")
    full.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert not retried(full)
    assert retried(FetchError("git+https://github.com/HistoryAtState/frus", "git clone failed: timed out"))
    assert retried(FetchError("https://example.org/v/frus1.xml", "connection refused"))


def test_a_staging_failure_in_a_batch_is_a_picklable_error_naming_the_item(monkeypatch, tmp_path: Path,
                                                                         volumes_dir: Path):
    import flows.steps

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(flows.steps.staging, "stage_volume", full)
    good = volumes_dir / "frus1873p2v3.xml"
    item = FetchedItem(SourceItem("frus1873p2v3.xml", good.as_uri(), "v1"), good, "1" * 64, good.stat().st_size)
    (error,) = normalise_and_stage.fn(tmp_path, [(item, None)], "run-1")
    again = pickle.loads(pickle.dumps(error))  # as it crosses back from a worker process
    assert isinstance(again, NormaliseError) and "No space left on device" in str(again)
    assert str(again).startswith(good.as_uri()) and "OSError" in again.traceback
