"""The landing zone ``DATA/raw``: fetched bytes, immutable, named by their sha256.

Layout: ``DATA/raw/<sha256[:2]>/<sha256>``. A blob is written once: bytes are streamed into a
temporary file (``DATA/raw/.tmp-*``) while being hashed, fsynced, then renamed to their
content address. The temporary file lives in ``raw/`` itself rather than the final directory
because the name is only known at the end; same filesystem, so the rename is still atomic.
Any failure (size limit, short body, an exception from the producer) removes the temporary
file: a partial download never becomes visible.

Every path written here is checked to lie inside the data root (:func:`inside`).

Reading a local file (:func:`open_regular`, used by :func:`land_file` and the page-text
reader) accepts regular files only: a FIFO, device, socket or folder is refused on its
``stat``, before it is opened (opening a FIFO blocks, ``/dev/zero`` never ends, some devices
act on open); the open itself is non-blocking and the descriptor is checked again
(``fstat``), so a file swapped for a FIFO in between is refused too. A size limit is checked
on ``st_size`` before a byte is read, then again while streaming (a file may grow, and
``/proc`` files announce 0 bytes).
"""
from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

RAW = "raw"
TMP_PREFIX = ".tmp-"
CHUNK_SIZE = 1 << 20
# Size limits of what a source may land (here, a leaf module: a source imports no normaliser).
MAX_BYTES = 512 * 1024 * 1024  # any item: refuse absurd inputs before reading or parsing them
MAX_PAGE_BYTES = 4 * 1024 * 1024  # a page text; the corpus's pages are 4 KB-200 KB
_SHA256 = re.compile(r"[0-9a-f]{64}")


class LandingError(Exception):
    """Bytes could not be landed; nothing was left behind."""


class SizeLimitExceeded(LandingError):
    """The content is larger than the allowed maximum."""


class IncompleteContent(LandingError):
    """Fewer (or more) bytes arrived than announced."""


class NotRegularFile(LandingError):
    """A local path is not a regular file (a FIFO, device, socket, folder, or a file that
    changed into one, or moved out of its folder, while being opened)."""


@dataclass(slots=True, frozen=True)
class Landed:
    """A blob in the landing zone."""

    path: Path
    sha256: str
    size: int


def inside(root: Path | str, *parts: str | os.PathLike[str]) -> Path:
    """Return ``root/parts…`` resolved, refusing anything that escapes ``root``.

    Raises:
        ValueError: the path (after ``..`` and symlinks) is not inside ``root``.
    """
    base = Path(root).resolve()
    path = base.joinpath(*parts).resolve()
    if path != base and base not in path.parents:
        raise ValueError(f"path {path} escapes the data root {base}")
    return path


def raw_path(data_root: Path | str, sha256: str) -> Path:
    """The content address of ``sha256`` under ``DATA/raw`` (validated)."""
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return inside(data_root, RAW, sha256[:2], sha256)


def read_chunks(stream: BinaryIO, size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield ``stream`` in chunks until EOF."""
    while chunk := stream.read(size):
        yield chunk


def land_chunks(
    data_root: Path | str,
    chunks: Iterable[bytes],
    *,
    max_size: int | None = None,
    expected_size: int | None = None,
) -> Landed:
    """Stream ``chunks`` into the landing zone while hashing them.

    Args:
        data_root: the data root (``DATA``).
        chunks: the content; an exception raised while iterating aborts the landing.
        max_size: refuse content larger than this many bytes.
        expected_size: the announced size (e.g. Content-Length); a mismatch aborts.

    Returns:
        The landed blob. If a blob with the same hash exists it is kept as is.

    Raises:
        SizeLimitExceeded, IncompleteContent: nothing was written.
    """
    raw = inside(data_root, RAW)
    raw.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=TMP_PREFIX, dir=raw)
    tmp = Path(tmp_name)
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise SizeLimitExceeded(f"content exceeds the size limit of {max_size} bytes")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if expected_size is not None and size != expected_size:
            raise IncompleteContent(f"received {size} bytes, expected {expected_size}")
        sha = digest.hexdigest()
        final = raw_path(data_root, sha)
        if final.exists():  # written once: same name means same bytes
            tmp.unlink()
        else:
            final.parent.mkdir(exist_ok=True)
            tmp.chmod(0o444)  # immutable by convention; a reader never sees it change
            os.replace(tmp, final)
            fsync_path(final.parent)
        return Landed(final, sha, size)
    except BaseException:
        with suppress(FileNotFoundError):
            tmp.unlink()
        raise


def land_file(
    data_root: Path | str,
    source: Path | str,
    *,
    max_size: int | None = None,
    follow_symlinks: bool = True,
    within: Path | str | None = None,
) -> Landed:
    """Copy a local regular file into the landing zone (hashing it on the way).

    Args, Raises: as :func:`open_regular` (plus :func:`land_chunks`'s); the size limit
    holds before the copy and during it.
    """
    with open_regular(source, max_size=max_size, follow_symlinks=follow_symlinks, within=within) as stream:
        return land_chunks(data_root, read_chunks(stream), max_size=max_size)


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symlink"))


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, for a message: ``a regular file``, ``a FIFO``, ``a folder``…"""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((kind for test, kind in _KINDS if test(mode)), "not a file")


def open_regular(
    path: Path | str,
    *,
    max_size: int | None = None,
    follow_symlinks: bool = True,
    within: Path | str | None = None,
) -> BinaryIO:
    """Open a local file for reading in binary, if it is a regular file (see the module doc).

    Args:
        path: the file.
        max_size: refuse a file whose ``st_size`` is larger (the caller streams with the same
            limit: :func:`land_chunks`, or reading ``max_size + 1`` bytes).
        follow_symlinks: False refuses ``path`` if it is itself a symlink (``O_NOFOLLOW``):
            for a path the caller has resolved and checked.
        within: refuse a file that is not inside this folder once opened (the descriptor's
            real path, where ``/proc/self/fd`` tells it): a folder of ``path`` swapped for a
            symlink after the caller's check does not lead outside.

    Raises:
        NotRegularFile: not a regular file, or moved or changed while being opened.
        SizeLimitExceeded: ``st_size`` is over ``max_size``.
        OSError: it cannot be opened (missing, no permission, ``ELOOP`` for a symlink).
    """
    before = os.stat(path, follow_symlinks=follow_symlinks)
    if not stat.S_ISREG(before.st_mode):
        raise NotRegularFile(f"not a regular file ({file_kind(before.st_mode)})")
    _check_size(before.st_size, max_size)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(f"not a regular file ({file_kind(st.st_mode)}, swapped in while opening)")
        if (st.st_dev, st.st_ino) != (before.st_dev, before.st_ino):
            raise NotRegularFile("replaced by another file while being opened")
        if within is not None:
            _check_within(fd, Path(within))
        _check_size(st.st_size, max_size)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _check_size(size: int, max_size: int | None) -> None:
    if max_size is not None and size > max_size:
        raise SizeLimitExceeded(f"over the size limit of {max_size} bytes ({size} bytes)")


def _check_within(fd: int, folder: Path) -> None:
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc (not Linux): the caller's check of the resolved path stands
        return
    base = os.path.realpath(folder)
    if real != base and not real.startswith(base.rstrip(os.sep) + os.sep):
        raise NotRegularFile("moved outside its folder while being opened")


def atomic_write_bytes(data_root: Path | str, relpath: str | os.PathLike[str], data: bytes) -> Path:
    """Replace ``DATA/relpath`` with ``data`` atomically (temp in same dir, fsync, rename)."""
    path = inside(data_root, relpath)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=TMP_PREFIX + path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, path)
        fsync_path(path.parent)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return path


def sweep_temp(data_root: Path | str, older_than: float = 3600.0) -> int:
    """Remove temporary files a killed run left in ``raw/``; returns how many.

    Only files older than ``older_than`` seconds go, so a concurrent landing is untouched.
    """
    raw = inside(data_root, RAW)
    removed, limit = 0, time.time() - older_than
    for tmp in raw.glob(TMP_PREFIX + "*") if raw.is_dir() else ():
        with suppress(FileNotFoundError):
            if tmp.stat().st_mtime < limit:
                tmp.unlink()
                removed += 1
    return removed


def fsync_path(path: Path) -> None:
    """fsync a file, or a folder (a rename is durable only once its directory entry is on disk)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def os_reason(exc: OSError, verb: str = "read") -> str:
    """An OSError's reason without the path it names (one line, no resolved target)."""
    if exc.errno == errno.ELOOP:
        return "replaced by a symlink while being opened"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):  # the data root's disk, not the file
        return f"cannot be landed in the data root: {exc.strerror}"
    return f"cannot be {verb}: {exc.strerror or type(exc).__name__}"
