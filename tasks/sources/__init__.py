"""Sources of TEI volumes and page texts: one module per kind, chosen by the source URI.

The contract every source honours (the ingest flow relies on nothing else):

- ``open_source(uri, data_root, volumes=None) -> Source``
- ``Source.scan() -> list[SourceItem]``: every item the source offers now (after
  the ``volumes`` selection), with a cheap ``version`` (git blob id, ETag/Last-Modified,
  size+mtime) that changes when the content changes.
- ``Source.fetch(item) -> FetchedItem``: the item's bytes landed in ``DATA/raw`` (named by
  sha256, written once) and their hash. Failure: :class:`FetchError` naming the item;
  it never affects other items.

What changed since the last run is the lake's rule (``tasks.lake.changes``).

Also here, shared by every kind: the ``volumes`` selection (:func:`selected`), and the two
helpers every message about a file uses: :func:`printable` renders a file name on one
line (control characters escaped), :func:`quoted` quotes file content (printable characters
only, at most 80 of them): a reason is stored in the lake and shown to analysts, so it never
carries a line break nor more than a glimpse of what a file holds.
"""
from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

log = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class SourceItem:
    """One item a source offers: a TEI volume file or a page text."""

    name: str  # path of the item inside the source, e.g. "volumes/frus1861.xml"
    uri: str  # stable URI for lineage: file:///…, https://…, git+…#path
    version: str  # cheap change token
    kind: str = "tei"  # tei | hsg-text | reference


@dataclass(slots=True, frozen=True)
class FetchedItem:
    """An item whose bytes are in the landing zone (and, sent to a worker on another
    machine, with them: :func:`carried`)."""

    item: SourceItem
    path: Path  # DATA/raw/<sha256[:2]>/<sha256>
    sha256: str
    size: int
    data: bytes | None = None  # the bytes themselves, for a worker that cannot read the landing zone


class FetchError(Exception):
    """An item could not be listed or fetched; names the item and the reason.

    ``permanent``: trying again cannot help (not a regular file, outside the folder, over the
    size limit): a caller that retries transient errors should not retry this one.
    """

    def __init__(self, item: str, reason: str, *, permanent: bool = False) -> None:
        super().__init__(f"{item}: {reason}")
        self.item = item
        self.reason = reason
        self.permanent = permanent

    def __reduce__(self):  # picklable (Dask workers, Prefect results): rebuilt from its fields
        return _fetch_error, (type(self), self.item, self.reason, self.permanent)


def _fetch_error(cls: type[FetchError], item: str, reason: str, permanent: bool) -> FetchError:
    return cls(item, reason, permanent=permanent)


class Source:
    """Base of every source: ``scan`` and ``fetch``; usable as a context manager."""

    uri: str = ""
    revision: str | None = None  # the commit a git source scanned; None elsewhere
    identity: str | None = None  # its one identity (``tasks.sources.uri``): set by open_source
    claims_volumes: bool = True  # its TEI items claim their volume ids (``tasks.lake.provenance``)

    def source_of(self, item: SourceItem) -> str | None:
        """The source an item's rows record: this source's identity."""
        return self.identity

    def scan(self) -> list[SourceItem]:  # pragma: no cover - interface
        raise NotImplementedError

    def fetch(self, item: SourceItem) -> FetchedItem:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        """Release connections; a no-op for most sources."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def volume_id(name: str) -> str:
    """The volume id of an item: its file stem (``volumes/frus1861.xml`` → ``frus1861``)."""
    return PurePosixPath(name.rstrip("/")).stem


def kind_of(name: str) -> str | None:
    """``tei`` for ``.xml``, ``hsg-text`` for ``.txt``, ``reference`` for ``.csv`` (an authority
    list), else None (not an item)."""
    return {".xml": "tei", ".txt": "hsg-text", ".csv": "reference"}.get(PurePosixPath(name).suffix.lower())


def selected(name: str, volumes: Sequence[str] | None) -> bool:
    """Whether ``name`` is in the ``volumes`` selection (ids or globs on the stem; None = all).
    Authority lists (``.csv``) are in every selection: the links of any volume need them."""
    if volumes is None or kind_of(name) == "reference":
        return True
    vid = volume_id(name)
    return any(fnmatch.fnmatchcase(vid, _pattern(v)) for v in volumes)


def warn_unmatched(volumes: Sequence[str] | None, items: Iterable[SourceItem], where: str) -> None:
    """Log the explicit volume ids (not globs) that matched nothing: never drop silently."""
    if not volumes:
        return
    found = {volume_id(i.name) for i in items}
    for v in volumes:
        pattern = _pattern(v)
        if not _is_glob(pattern) and pattern not in found:
            log.warning("volume %s not found in %s", v, where)


def _pattern(volume: str) -> str:
    return volume[:-4] if volume.lower().endswith(".xml") else volume


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(name: str) -> str:
    """``name`` on one line, for item names, reasons and log lines.

    Every character that is not printable (control characters such as a newline, format
    characters, line separators, the lone surrogates that stand for bytes of a non-UTF-8 file
    name) is escaped as in Python's ``repr`` (``\\n``, ``\\x1b``, ``\\udcff``). A printable
    name is returned as is, so applying it twice changes nothing.
    """
    if name.isprintable():
        return name
    return "".join(c if c.isprintable() else _ESCAPES.get(c) or _escape(c) for c in name)


def _escape(c: str) -> str:
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def quoted(content: str | bytes, limit: int = 80) -> str:
    """File content quoted for a message: printable characters only (any other is ``?``), cut
    to ``limit`` characters with an ellipsis. Bytes are read as UTF-8 (undecodable ones are
    ``?`` too)."""
    if isinstance(content, bytes):
        content = content[: limit * 4 + 4].decode("utf-8", "replace")
    text = "".join(c if c.isprintable() and c != "\ufffd" else "?" for c in content[: limit + 1])
    return repr(text if len(text) <= limit else text[:limit] + "…")


def open_source(
    uri: str, data_root: Path | str, volumes: list[str] | None = None, **options: Any
) -> Source:
    """Open the source named by ``uri``.

    Args:
        uri: a source as :func:`tasks.sources.uri.parse` reads it (pass its identity, so
            items are named the same however the source was spelled): ``git+https://…`` /
            ``git+file://…`` (or ``git`` for the HistoryAtState repository); ``https://…`` /
            ``http://…`` (one ``.xml`` URL, or a base URL that ``volumes`` completes); ``urls:PATH`` (a text file of URLs, one a line);
            ``replay`` (the lake's items from the landing zone); otherwise a local folder or
            file (a path or ``file://`` URI).
        data_root: the data root; fetched bytes land in ``DATA/raw``.
        volumes: volume ids or globs on the file stem (``frus1936v*``); None = all.
        **options: passed to the source's constructor (timeouts, retries, size limit…).

    Raises:
        tasks.sources.uri.SourceError: ``uri`` names no source kind.
    """
    from tasks.sources.uri import parse

    parsed = parse(uri)
    source = _open(parsed.kind, uri, Path(data_root), volumes, options)
    source.identity = parsed.identity
    return source


def _open(kind: str, uri: str, data_root: Path, volumes: list[str] | None, options: dict) -> Source:
    if kind == "replay":
        from tasks.sources.replay import ReplaySource

        return ReplaySource(data_root, volumes)
    if kind == "git":
        from tasks.sources.git import GitSource

        return GitSource(uri, data_root, volumes, **options)
    if kind == "http":
        from tasks.sources.http import HttpSource

        return HttpSource(uri, data_root, volumes, **options)
    if kind == "urls":
        from tasks.sources.http import HttpSource

        return HttpSource.from_list(uri.removeprefix("urls:"), data_root, volumes, **options)
    from tasks.sources.local import LocalSource

    return LocalSource(uri, data_root, volumes, **options)
