"""The landing zone ``DATA/raw``: fetched bytes, immutable, named by their sha256.

Layout: ``DATA/raw/<sha256[:2]>/<sha256>``. A blob is written once: bytes are streamed into a
temporary file (``DATA/raw/.tmp-*``) while being hashed, fsynced, then renamed to their
content address. The temporary file lives in ``raw/`` itself rather than the final directory
because the name is only known at the end; same filesystem, so the rename is still atomic.
Any failure (size limit, short body, an exception from the producer) removes the temporary
file: a partial download never becomes visible.

Every path written here is checked to lie inside the data root (:func:`inside`).
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

RAW = "raw"
TMP_PREFIX = ".tmp-"
CHUNK_SIZE = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")


class LandingError(Exception):
    """Bytes could not be landed; nothing was left behind."""


class SizeLimitExceeded(LandingError):
    """The content is larger than the allowed maximum."""


class IncompleteContent(LandingError):
    """Fewer (or more) bytes arrived than announced."""


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


def land_file(data_root: Path | str, source: Path | str, *, max_size: int | None = None) -> Landed:
    """Copy a local file into the landing zone (hashing it on the way)."""
    with open(source, "rb") as stream:
        return land_chunks(data_root, read_chunks(stream), max_size=max_size)


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
