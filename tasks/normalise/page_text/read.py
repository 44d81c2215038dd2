"""Reading a page-text file and its ``.url`` sidecar (regular files only, sizes bounded).

A file is read only if it is a regular file of at most :data:`MAX_PAGE_BYTES` (4 MiB: real
pages are a few KB to ~200 KB; a 4 MiB text, one line or many, is normalised in ~3 s under
200 MB peak), checked before reading and while reading. The ``.url`` sidecar obeys the same
rules, must resolve inside the page's own folder, and holds at most :data:`MAX_SIDECAR_BYTES`.
A message names the page (and the sidecar), on one line, and never quotes more than 80
printable characters of what a file holds.
"""
from __future__ import annotations

import os
from pathlib import Path

from tasks.errors import PageTextError
from tasks.landing import MAX_PAGE_BYTES, LandingError, open_regular, os_reason
from tasks.normalise.page_text.parse import parse_page_text
from tasks.normalise.page_text.title import parse_url
from tasks.records import Document
from tasks.sources import printable, quoted

MAX_SIDECAR_BYTES = 4096  # a .url sidecar: one URL


def parse_page_file(path: Path, *, name: str | None = None, original: Path | None = None) -> Document:
    """Read a page-text file (and its ``.url`` sidecar, if any) and parse it.

    The sidecar is ``<stem>.url`` or ``<name>.url`` beside the file (beside ``original`` when
    the bytes were landed elsewhere); its first non-empty line is the page URL. It must be a
    regular file of at most :data:`MAX_SIDECAR_BYTES` that resolves inside the page's folder.

    Args:
        path: the file read (for an ingested item, its copy in the landing zone).
        name: the item's name for messages and the ``doc_id`` (default: ``path``); a message
            never names the landed copy when ``name`` is given.
        original: the file in its source, where the sidecar is looked for.

    Raises:
        PageTextError: the file is not a regular file, too large, empty or not UTF-8; the
            sidecar is unusable; or the URL is not a history.state.gov document URL. The
            one-line message names the file (and the sidecar) and the reason.
    """
    path = Path(path)
    label = printable(name or str(path))
    try:
        with open_regular(path, max_size=MAX_PAGE_BYTES) as stream:
            data = stream.read(MAX_PAGE_BYTES + 1)
    except (LandingError, OSError) as exc:
        raise PageTextError(label, os_reason(exc) if isinstance(exc, OSError) else str(exc)) from None
    if len(data) > MAX_PAGE_BYTES:  # grew since its stat
        raise PageTextError(label, f"over the size limit of {MAX_PAGE_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PageTextError(label, f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    url = _sidecar_url(Path(original) if original else path, label)
    return parse_page_text(text, name=label, url=url)


def _sidecar_url(beside: Path, label: str) -> str | None:
    """The URL in the page's ``.url`` sidecar, or None when there is none (see above)."""
    for side in (beside.with_suffix(".url"), beside.with_name(beside.name + ".url")):
        if not os.path.lexists(side):
            continue
        where = f"URL sidecar {printable(side.name)}"
        folder = os.path.realpath(beside.parent)
        real = os.path.realpath(side)
        if not real.startswith(folder.rstrip(os.sep) + os.sep):
            raise PageTextError(label, "a symlink to outside the page's folder", where)
        try:  # the resolved path, not followed again, and still inside once open
            with open_regular(real, max_size=MAX_SIDECAR_BYTES, follow_symlinks=False, within=folder) as f:
                data = f.read(MAX_SIDECAR_BYTES + 1)
        except (LandingError, OSError) as exc:
            raise PageTextError(label, os_reason(exc) if isinstance(exc, OSError) else str(exc), where) from None
        if len(data) > MAX_SIDECAR_BYTES:
            raise PageTextError(label, f"over the size limit of {MAX_SIDECAR_BYTES} bytes", where)
        try:
            lines = [ln.strip() for ln in data.decode("utf-8-sig").splitlines() if ln.strip()]
        except UnicodeDecodeError as exc:
            raise PageTextError(label, f"not UTF-8 ({exc.reason} at byte {exc.start})", where) from None
        if not lines:
            raise PageTextError(label, "empty", where)
        url = lines[0].removeprefix("URL:").strip()
        if parse_url(url) is None:
            raise PageTextError(label, f"not a history.state.gov document URL: {quoted(url)}", where)
        return url
    return None


