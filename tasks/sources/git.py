"""A git repository of TEI volumes: ``git+https://…``, ``git+file://…``, or ``git``.

``git`` alone means :data:`DEFAULT_URL` (HistoryAtState/frus). Items are the ``.xml`` (and
``.txt``) files directly in ``subdir`` (default ``volumes/``) of the remote's default branch.

How (the git CLI, no shell, no working tree at all):

- The first scan makes a bare, partial clone (``--filter=blob:none``) in
  ``DATA/sources/git/<slug>``: commits and trees only, so listing is cheap and only the
  volumes actually fetched are ever downloaded. The clone goes to a temporary name first
  and is renamed, so a killed clone is never mistaken for a good one.
- Every scan runs ``git fetch origin +HEAD:refs/frus/head`` (the remote's default branch
  head, whatever its name), records the commit as ``source.revision``, and lists
  ``git ls-tree -r <commit> -- volumes/``: ``version`` is the blob id, which changes exactly
  when the bytes change.
- ``fetch`` streams ``git cat-file blob <id>`` into the landing zone; git fetches a missing
  blob lazily from the promisor remote and verifies it. Fetching by blob id means an item
  lands exactly the bytes its scan saw, even if the branch moved since.

Deleted volumes are simply absent from the scan: the lake tells them withdrawn
(``tasks.lake.changes``).
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from contextlib import closing, contextmanager
from pathlib import Path, PurePosixPath
from typing import Iterator

from tasks.landing import LandingError, inside, land_chunks, read_chunks
from tasks.sources import (
    FetchedItem,
    FetchError,
    Source,
    SourceItem,
    kind_of,
    selected,
    warn_unmatched,
)

DEFAULT_URL = "https://github.com/HistoryAtState/frus.git"
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_HEAD_REF = "refs/frus/head"
# Never prompt for credentials (a run must fail, not hang) and parse output in C locale.
# Never prompt; give up a transfer that stalls (under 1 KB/s for a minute) rather than hang.
_ENV = {"GIT_HTTP_LOW_SPEED_LIMIT": "1000", "GIT_HTTP_LOW_SPEED_TIME": "60",
        **os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


class GitSource(Source):
    """TEI volumes in a git repository, tracked by blob id."""

    def __init__(
        self,
        uri: str,
        data_root: Path,
        volumes: list[str] | None = None,
        *,
        subdir: str = "volumes",
        ref: str = "HEAD",
        timeout: float | None = 3600.0,
        max_size: int | None = None,
        depth: int | None = None,
    ) -> None:
        """Args:
            uri: ``git+<url>``, or ``git`` for :data:`DEFAULT_URL`.
            data_root: the data root; the clone lives in ``DATA/sources/git/``.
            volumes: ids or globs on the file stem; None = all.
            subdir: the folder of the repository holding the volumes.
            ref: ``HEAD`` (the remote's default branch) or a branch name.
            timeout: seconds allowed for one git command (clone, fetch, cat-file).
            max_size: refuse blobs larger than this many bytes.
            depth: keep only this many commits of history (``--depth``); None = all.
        """
        self.url = DEFAULT_URL if uri in ("git", "git+") else uri.removeprefix("git+")
        if not self.url or self.url.startswith("-") or ref.startswith("-"):
            raise ValueError(f"bad git source {uri!r} (ref {ref!r})")
        self.uri = "git+" + self.url
        self.data_root = Path(data_root)
        self.volumes = volumes
        self.subdir = subdir.strip("/")
        self.refspec = f"+{ref if ref == 'HEAD' else 'refs/heads/' + ref}:{_HEAD_REF}"
        self.timeout = timeout
        self.max_size = max_size
        self.depth_args = [f"--depth={int(depth)}"] if depth else []
        self.repo = inside(self.data_root, "sources", "git", _slug(self.url))
        self.revision: str | None = None

    def refresh(self) -> str:
        """Clone if needed, fetch the tracked branch, and return (and record) its commit."""
        with self._lock():
            if not (self.repo / "HEAD").is_file():
                self._clone()
            self._git("fetch", "--quiet", "--no-tags", *self.depth_args, "origin", self.refspec)
        self.revision = self._git("rev-parse", "--verify", _HEAD_REF + "^{commit}").strip()
        return self.revision

    def scan(self) -> list[SourceItem]:
        """Fetch, then list the selected files of the head commit with their blob ids."""
        revision = self.refresh()
        out = self._git("ls-tree", "-r", "-z", revision, "--", self.subdir + "/")
        items = []
        for entry in filter(None, out.split("\0")):
            meta, path = entry.split("\t", 1)
            _mode, otype, oid = meta.split()
            kind = kind_of(path)
            if otype != "blob" or kind is None or str(PurePosixPath(path).parent) != self.subdir:
                continue
            if selected(path, self.volumes):
                items.append(SourceItem(path, f"{self.uri}#{path}", oid, kind))
        warn_unmatched(self.volumes, items, f"{self.uri}@{revision}")
        return items

    def fetch(self, item: SourceItem) -> FetchedItem:
        """Stream the item's blob (``item.version``) into the landing zone."""
        if not _OBJECT_ID.fullmatch(item.version):
            raise FetchError(item.uri, f"not a git object id: {item.version!r}")
        try:
            with closing(self._blob(item.version)) as chunks:  # closing: kill git on failure
                landed = land_chunks(self.data_root, chunks, max_size=self.max_size)
        except (OSError, LandingError, subprocess.SubprocessError) as exc:
            raise FetchError(item.uri, str(exc)) from exc
        return FetchedItem(item, landed.path, landed.sha256, landed.size)

    def _blob(self, oid: str) -> Iterator[bytes]:
        # stderr to a file, not a pipe: a chatty lazy fetch cannot fill a pipe and deadlock.
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                ["git", "-C", str(self.repo), "cat-file", "blob", oid],
                stdout=subprocess.PIPE, stderr=err, env=_ENV,
            )
            try:
                assert proc.stdout is not None
                yield from read_chunks(proc.stdout)
                rc = proc.wait(timeout=self.timeout)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                proc.stdout.close()  # type: ignore[union-attr]
            if rc != 0:  # raised inside the stream: the landing discards the partial file
                err.seek(0)
                raise subprocess.SubprocessError(f"git cat-file {oid} failed: {_tail(err.read())}")

    def _clone(self) -> None:
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.repo.parent))
        try:
            self._git("clone", "--quiet", "--bare", "--filter=blob:none", *self.depth_args,
                      "--", self.url, str(tmp), in_repo=False)
            os.replace(tmp, self.repo)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        # One clone/fetch at a time per repository, across threads and processes.
        self.repo.parent.mkdir(parents=True, exist_ok=True)
        with open(self.repo.with_name(self.repo.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _git(self, *args: str, in_repo: bool = True) -> str:
        cmd = ["git", "-C", str(self.repo), *args] if in_repo else ["git", *args]
        try:
            done = subprocess.run(cmd, capture_output=True, env=_ENV, timeout=self.timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise FetchError(self.uri, f"git {args[0]}: {exc}") from exc
        if done.returncode != 0:
            raise FetchError(self.uri, f"git {args[0]} failed: {_tail(done.stderr)}")
        return done.stdout.decode("utf-8", "surrogateescape")


def _slug(url: str) -> str:
    """A readable, unique folder name for a repository URL."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", re.sub(r"^[a-z+]+://", "", url)).strip("-.")
    return f"{readable[-60:].lstrip('-.')}-{hashlib.sha1(url.encode()).hexdigest()[:10]}"


def _tail(stderr: bytes) -> str:
    return stderr.decode("utf-8", "replace").strip()[-500:] or "no message"
