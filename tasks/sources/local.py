"""A local folder (searched recursively) or a single file of TEI ``.xml`` / page-text ``.txt``.

``uri`` is a path or a ``file://`` URI. Items are named by their path relative to the
folder (POSIX separators; a single file is named by its file name); ``item.uri`` is the
file's absolute ``file://`` URI. Hidden files and folders (``.git``, ``.tmp-*``) are skipped.

``version`` is ``"{size}:{mtime_ns}"``: free to read, and it changes on any rewrite (a
rewrite with identical bytes changes it too; the sha256 computed by ``fetch`` settles that).
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from tasks.landing import LandingError, land_file
from tasks.sources import (
    FetchedItem,
    FetchError,
    Source,
    SourceItem,
    kind_of,
    selected,
    warn_unmatched,
)


def path_from_uri(uri: str) -> Path:
    """A ``file://`` URI or a plain path → an absolute, normalised path (``a/../b`` → ``b``:
    one folder spelled two ways is one source; symlinks are kept as spelled)."""
    if uri.startswith("file://"):
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"not a local file URI: {uri}")
        return Path(os.path.normpath(unquote(parsed.path)))
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
    ) -> None:
        """Args:
            uri: folder or file, as a path or ``file://`` URI.
            data_root: the data root (``DATA``).
            volumes: ids or globs on the file stem; None = all.
            max_size: refuse files larger than this many bytes.
        """
        self.root = path_from_uri(uri)
        self.uri = self.root.as_uri()
        self.data_root = Path(data_root)
        self.volumes = volumes
        self.max_size = max_size

    def scan(self) -> list[SourceItem]:
        """List the selected ``.xml`` / ``.txt`` files with their size+mtime version."""
        if self.root.is_file():
            base, files = self.root.parent, [self.root]
        elif self.root.is_dir():
            base, files = self.root, self._walk()
        else:
            raise FetchError(self.uri, "no such file or folder")
        items = []
        for path in files:
            name = path.relative_to(base).as_posix()
            kind = kind_of(name)
            if kind is None or not selected(name, self.volumes):
                continue
            try:
                st = path.stat()
                version = f"{st.st_size}:{st.st_mtime_ns}"
            except OSError as exc:  # a dangling symlink, or gone since listing: fails alone
                version = f"unreadable:{exc.errno}"  # never equal to a stored version
            items.append(SourceItem(name, path.as_uri(), version, kind))
        warn_unmatched(self.volumes, items, self.uri)
        return items

    def fetch(self, item: SourceItem) -> FetchedItem:
        """Hash the file and land its bytes in ``DATA/raw``."""
        path = path_from_uri(item.uri)
        try:
            landed = land_file(self.data_root, path, max_size=self.max_size)
        except (OSError, LandingError) as exc:
            raise FetchError(item.uri, str(exc)) from exc
        return FetchedItem(item, landed.path, landed.sha256, landed.size)

    def _walk(self) -> list[Path]:
        # os.walk with pruning, so hidden folders (.git: thousands of objects) are never read;
        # symlinked folders are followed, each real folder once (no loops).
        found, seen = [], {os.path.realpath(self.root)}
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=True):
            keep = []
            for d in sorted(dirnames):
                real = os.path.realpath(os.path.join(dirpath, d))
                if not d.startswith(".") and real not in seen:
                    seen.add(real)
                    keep.append(d)
            dirnames[:] = keep
            found.extend(Path(dirpath, f) for f in filenames if not f.startswith("."))
        return sorted(found, key=lambda p: p.relative_to(self.root).as_posix())
