"""Prefect settings for offline use; imported before Prefect by every entry point."""
from __future__ import annotations

import os
from pathlib import Path


def configure() -> None:
    """No analytics, no telemetry, and a PREFECT_HOME that exists (sqlite needs its folder)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    home = os.environ.get("PREFECT_HOME")
    if home:
        Path(home).expanduser().mkdir(parents=True, exist_ok=True)


configure()
