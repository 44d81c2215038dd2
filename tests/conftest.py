"""Shared fixtures: the corpus path, and an offline, project-local Prefect."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.postgres_server import postgres_server  # noqa: F401 (the fixture: a PostgreSQL on 127.0.0.1)

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("FRUS_CORPUS", REPO.parent / "shared" / "corpus")).resolve()
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Prefect must never phone home, and keeps its state inside the project in tests.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_HOME", str(REPO / ".prefect" / "test"))


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared FRUS corpus (``$FRUS_CORPUS``, default ``../shared/corpus``)."""
    if not (CORPUS / "frus" / "volumes").is_dir():
        pytest.fail(f"corpus not found at {CORPUS}: set FRUS_CORPUS")
    return CORPUS


@pytest.fixture(scope="session")
def volumes_dir(corpus: Path) -> Path:
    return corpus / "frus" / "volumes"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session", autouse=True)
def prefect_api():
    """One temporary Prefect API for the session, stopped before pytest closes its streams."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
