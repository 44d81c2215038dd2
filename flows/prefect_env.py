"""Prefect settings for offline use; imported before Prefect by every entry point."""
from __future__ import annotations

import logging
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


class _QuietEngine(logging.Filter):
    """At the default level, Prefect's engine says one line per thing that matters.

    Task runs' own lines (``Finished in state Completed()``, a failure and its traceback) go
    to debug: the flow logs one line per volume, and one per failed item with its reason.
    A flow run's error keeps its line, its traceback only at debug. With
    ``PREFECT_LOGGING_LEVEL=DEBUG`` everything passes as Prefect wrote it.
    """

    def __init__(self, task_runs: bool) -> None:
        super().__init__()
        self.task_runs = task_runs

    def filter(self, record: logging.LogRecord) -> bool:
        if logging.getLogger("prefect").isEnabledFor(logging.DEBUG):
            return True
        if self.task_runs and record.levelno != logging.WARNING:
            return False  # (a retry's warning stays: one line, below)
        if record.exc_info and record.exc_info[1] is not None:
            exc, message = record.exc_info[1], record.getMessage()
            if str(exc) not in message:
                message = f"{message} {type(exc).__name__}: {exc}"
            record.msg, record.args = " ".join(message.split()), None
            record.exc_info = record.exc_text = None
        return True


def quiet_engine_logs() -> None:
    """Install :class:`_QuietEngine` on Prefect's run loggers (once per process)."""
    for name, task_runs in (("prefect.task_runs", True), ("prefect.flow_runs", False)):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _QuietEngine) for f in logger.filters):
            logger.addFilter(_QuietEngine(task_runs))
