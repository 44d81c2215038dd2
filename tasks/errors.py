"""FrusError and its kinds: each names the file (an item's URI or a page's name), the place in
it when there is one, and the reason; ``str()`` is the one line a reject row or a log shows."""
from __future__ import annotations


class FrusError(Exception):
    """Something the pipeline could not read or use, in one line: ``file: [place: ]reason``.

    Args:
        file: the item's URI or the page's name. Given alone, it is a whole message
            ``"file: reason"`` (as a worker's error crosses back to the flow) and is split there.
        reason: what is wrong.
        place: where in the file (``"frus1861 document 3 (line 120)"``), when known.

    Plain data, so it pickles across process boundaries (lxml's errors do not).
    """

    def __init__(self, file: str, reason: str | None = None, place: str | None = None) -> None:
        if reason is None:
            file, _, reason = file.partition(": ")
        self.file, self.reason, self.place = file, reason, place
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.place}: " if self.place else ""
        return f"{self.file}: {where}{self.reason}" if self.reason else self.file

    def __reduce__(self):
        return type(self), (self.file, self.reason, self.place)


class VolumeError(FrusError):
    """A TEI volume file that cannot be read at all (not well-formed, not TEI, too large)."""


class PageTextError(FrusError, ValueError):
    """A page text (or its ``.url`` sidecar) refused: unreadable, or not a FRUS page."""


class AuthorityListError(FrusError, ValueError):
    """An authority list (CSV) refused whole: not UTF-8, not a known list, a missing column,
    a row of the wrong width, or an empty or repeated id."""


class DocumentError(FrusError):
    """One document of a volume could not be normalised: it becomes a reject row."""


class NormaliseError(FrusError):
    """An item could not be normalised (bad ids, no documents, or its normaliser refused it).

    ``traceback``: the text of the traceback of a crash in a normaliser (not a refusal), as the
    worker saw it; it crosses process boundaries with the error and goes to the debug log.
    """

    def __init__(self, file: str, reason: str | None = None, place: str | None = None,
                 traceback: str | None = None) -> None:
        super().__init__(file, reason, place)
        self.traceback = traceback

    def __reduce__(self):
        return type(self), (self.file, self.reason, self.place, self.traceback)


class UnsupportedItem(NormaliseError):
    """An item of a kind no normaliser reads."""
