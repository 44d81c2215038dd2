"""A local folder (searched recursively) or a single file of TEI ``.xml`` / page-text ``.txt``.

``uri`` is a path or a ``file://`` URI. Items are named by their path relative to the
folder (POSIX separators; a single file is named by its file name), with any character that
is not printable escaped (:func:`tasks.sources.printable`: a newline in a file name never
splits a log line); ``item.uri`` is the file's absolute ``file://`` URI (percent-encoded, so
it names the file exactly). Hidden files and folders (``.git``, ``.tmp-*``) are skipped.

``version`` is ``"{size}:{mtime_ns}"``: free to read, and it changes on any rewrite (a
rewrite with identical bytes changes it too; the sha256 computed by ``fetch`` settles that).

What is read (issue 8: a source folder may hold anything):

- Regular files only. A FIFO, device or socket with an item's name is listed (its failure is
  then on record) and refused by ``fetch`` on its ``stat``, before it is opened; the open is
  non-blocking and re-checked on the descriptor (:func:`tasks.landing.open_regular`). A folder
  named ``d.xml`` is a folder: searched, not an item.
- Symlinks are followed only to a target inside the source folder (resolved, then checked);
  a symlink to a file outside is listed and refused by ``fetch``, a symlink to a folder
  outside is skipped with a warning (listing it would already read outside). Each real folder
  is searched once (no loops). ``follow_links=True`` widens this to targets anywhere, still
  regular files only. A single-file source is the file the user named: followed wherever it
  points, regular files only.
- Size: ``max_size`` (default :data:`tasks.landing.MAX_BYTES`, 512 MiB) for every item, and
  :data:`tasks.landing.MAX_PAGE_BYTES` (4 MiB) at most for a page text; checked on
  ``st_size`` before the copy and while streaming it.
- Every refusal is a :class:`FetchError` with a one-line reason naming the item's URI
  (``permanent=True`` for these rules: retrying cannot help); other items are unaffected. A
  subfolder that cannot be listed is logged and skipped; the source folder itself, a
  FetchError.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from tasks.landing import MAX_BYTES, MAX_PAGE_BYTES, LandingError, land_file, os_reason
from tasks.sources import (
    FetchedItem,
    FetchError,
    Source,
    SourceItem,
    kind_of,
    printable,
    selected,
    warn_unmatched,
)

log = logging.getLogger(__name__)

OUTSIDE = "a symlink to outside the source folder (follow_links=True follows it)"
OUTSIDE_FOLDER = "a symlinked folder outside the source folder: skipped (follow_links=True follows it)"


def path_from_uri(uri: str) -> Path:
    """A ``file://`` URI or a plain path → an absolute, normalised path (``a/../b`` → ``b``:
    one folder spelled two ways is one source; symlinks are kept as spelled)."""
    if uri.startswith("file://"):
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"not a local file URI: {uri}")
        return Path(os.path.normpath(unquote(parsed.path, errors="surrogateescape")))
    return Path(os.path.normpath(Path(uri).expanduser().absolute()))


class LocalSource(Source):
    """TEI volumes and page texts in a local folder (or one file)."""

    def __init__(
        self,
        uri: str,
        data_root: Path,
        volumes: list[str] | None = None,
        *,
        max_size: int | None = None,
        follow_links: bool = False,
    ) -> None:
        """Args:
            uri: folder or file, as a path or ``file://`` URI.
            data_root: the data root (``DATA``).
            volumes: ids or globs on the file stem; None = all.
            max_size: refuse files larger than this many bytes (default 512 MiB; page
                texts: at most :data:`~tasks.landing.MAX_PAGE_BYTES` whatever this is).
            follow_links: follow symlinks (to files and folders) that lead outside the
                folder; by default only those resolving inside it are followed.
        """
        self.root = path_from_uri(uri)
        self.uri = self.root.as_uri()
        self.data_root = Path(data_root)
        self.volumes = volumes
        self.max_size = MAX_BYTES if max_size is None else max_size
        self.follow_links = follow_links
        # where a resolved path must lie: the folder, or the single file named
        self._scope = Path(os.path.realpath(self.root))

    def scan(self) -> list[SourceItem]:
        """List the selected ``.xml`` / ``.txt`` files with their size+mtime version."""
        if self.root.is_dir():
            base, files = self.root, self._walk()
        elif os.path.lexists(self.root):  # a file (or a FIFO…, which fetch refuses)
            base, files = self.root.parent, [self.root]
        else:
            raise FetchError(self.uri, "no such file or folder")
        items = []
        for path in files:
            name = path.relative_to(base).as_posix()
            kind = kind_of(name)
            if kind is None or not selected(name, self.volumes):
                continue
            items.append(SourceItem(printable(name), path.as_uri(), self._version(path), kind))
        warn_unmatched(self.volumes, items, self.uri)
        return items

    def fetch(self, item: SourceItem) -> FetchedItem:
        """Land the file's bytes in ``DATA/raw`` if it is a regular file the rules allow."""
        path = path_from_uri(item.uri)
        limit = min(self.max_size, MAX_PAGE_BYTES) if item.kind == "hsg-text" else self.max_size
        real = Path(os.path.realpath(path))
        if not self._allowed(real):
            raise FetchError(item.uri, OUTSIDE, permanent=True)
        try:
            landed = land_file(self.data_root, real, max_size=limit, follow_symlinks=False,
                               within=None if self.follow_links else self._folder())
        except LandingError as exc:  # not a regular file, over the limit: the same next time
            raise FetchError(item.uri, str(exc), permanent=True) from None
        except OSError as exc:  # the reason only: the path in str(exc) is the resolved one
            raise FetchError(item.uri, os_reason(exc)) from None
        return FetchedItem(item, landed.path, landed.sha256, landed.size)

    def _allowed(self, real: Path) -> bool:
        """Whether a resolved path may be read: inside the source (or ``follow_links``)."""
        return self.follow_links or real == self._scope or self._scope in real.parents

    def _folder(self) -> Path:
        return self._scope if self.root.is_dir() else self._scope.parent

    def _version(self, path: Path) -> str:
        try:
            if not self._allowed(Path(os.path.realpath(path))):
                st = os.lstat(path)  # the link itself: nothing outside is looked at
                return f"outside:{st.st_size}:{st.st_mtime_ns}"
            st = path.stat()
            return f"{st.st_size}:{st.st_mtime_ns}"
        except OSError as exc:  # a dangling symlink, or gone since listing: fails alone
            return f"unreadable:{exc.errno}"  # never equal to a stored version

    def _walk(self) -> list[Path]:
        # Folders are searched depth first, hidden ones (.git: thousands of objects) never;
        # a symlinked folder is followed if it resolves inside the source (or follow_links),
        # each real folder once (no loops).
        found: list[Path] = []
        seen = {str(self._scope)}
        pending = [self.root]
        while pending:
            folder = pending.pop()
            try:
                with os.scandir(folder) as listing:
                    entries = sorted(listing, key=lambda e: e.name)
            except OSError as exc:
                if folder == self.root:  # the source itself: it cannot be listed
                    raise FetchError(self.uri, os_reason(exc, "listed")) from None
                log.warning("%s: folder skipped: %s", printable(folder.relative_to(self.root).as_posix()),
                            os_reason(exc, "listed"))
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                path = Path(entry.path)
                if not _is_dir(entry):
                    found.append(path)  # a file, or anything else: fetch decides
                    continue
                real = os.path.realpath(path)
                if entry.is_symlink() and not self._allowed(Path(real)):
                    log.warning("%s: %s", printable(path.relative_to(self.root).as_posix()), OUTSIDE_FOLDER)
                    continue
                if real not in seen:
                    seen.add(real)
                    pending.append(path)
        return sorted(found, key=lambda p: p.relative_to(self.root).as_posix())


def _is_dir(entry: os.DirEntry) -> bool:
    """A folder, or a symlink to one (``stat`` only: nothing is opened)."""
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:
        return False
