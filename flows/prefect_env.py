"""Prefect settings for offline use; imported before Prefect by every entry point."""
from __future__ import annotations

import os
from pathlib import Path


def configure() -> None:
    """No analytics or telemetry, a patient embedded API, and a PREFECT_HOME that exists."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # The embedded API's first start on a new machine creates and migrates its database,
    # which can take longer than Prefect's 20 s default on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    home = os.environ.get("PREFECT_HOME")
    if home:
        Path(home).expanduser().mkdir(parents=True, exist_ok=True)


configure()
