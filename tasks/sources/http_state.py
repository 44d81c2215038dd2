"""Per-URL HTTP validators (ETag, Last-Modified) and the blob landed for them.

Kept in ``DATA/state/http.json`` — ``{url: {etag, last_modified, sha256, size}}`` — so the
next run can send a conditional GET and, on 304, return the blob already in ``DATA/raw``.
It is only a cache: lost or unreadable, the cost is one full download per URL.
"""
from __future__ import annotations

import fcntl
import json
import logging
import threading
from pathlib import Path

from tasks.landing import atomic_write_bytes, inside

log = logging.getLogger(__name__)
STATE_FILE = "state/http.json"
_LOCK = threading.Lock()  # flock is per open file, so threads of one process need this too


class ValidatorStore:
    """Read and update ``DATA/state/http.json`` safely across threads and processes."""

    def __init__(self, data_root: Path) -> None:
        self.data_root = Path(data_root)
        self.path = inside(self.data_root, STATE_FILE)

    def get(self, url: str) -> dict | None:
        """The entry recorded for ``url``, if any."""
        return self._load().get(url)

    def put(self, url: str, entry: dict) -> None:
        """Record ``entry`` for ``url`` (read-modify-write under a lock, atomic replace)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _LOCK, open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            state = self._load()
            state[url] = entry
            data = json.dumps(state, indent=1, sort_keys=True).encode()
            atomic_write_bytes(self.data_root, STATE_FILE, data)

    def _load(self) -> dict:
        try:
            state = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", self.path, exc)
            return {}
        return state if isinstance(state, dict) else {}
