"""List items' labels and paths: ``1.``, then ``(a)`` written in the item's text → ``1.(a)``.

A pure rule (:func:`item_label`) and the small record of a list item waiting for its first
part (:class:`PendingItem`); the walk over ``list`` elements is in :mod:`.blocks`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# A sub-label written at the start of an item's text: "(a)", "(iv)", "(2)".
SUBLABEL = re.compile(r"^\(\s*([a-z]{1,2}|[ivxl]{1,5}|\d{1,2})\s*\)")


def item_label(given: str | None, top: str, prefix: str, text: str) -> tuple[str | None, str | None, str]:
    """The label and path of a list item, and the numbered label in force after it.

    Args:
        given: the item's own ``<label>`` (empty or None: it continues the item above).
        top: the last given label of this list (``1.``), for lettered items under it.
        prefix: the path of the item the list stands in (``3.`` for a sub-list of item 3).
        text: the item's first text, which may open with ``(a)``.

    Returns:
        ``(label, path, top)``: ``("(a)", "1.(a)", "1.")`` for ``1.`` then ``(a) The …``.
    """
    sub = SUBLABEL.match(text)
    if given:
        if sub:
            return sub.group(0), prefix + given + sub.group(0), given
        return given, prefix + given, given
    if sub:
        return sub.group(0), prefix + top + sub.group(0), top
    return None, None, top


@dataclass(slots=True)
class ListState:
    """One ``list`` being walked."""

    prefix: str  # the path of the item this list stands in
    top: str = ""  # the numbered label in force


@dataclass(slots=True)
class PendingItem:
    """A list item whose label and path wait for its first part's text."""

    given: str | None
    list: ListState
    path: str | None = None

    def resolve(self, text: str) -> tuple[str | None, str | None]:
        """Label and path for the item's first part (``text``), remembered as ``path``."""
        label, self.path, self.list.top = item_label(self.given, self.list.top, self.list.prefix, text)
        return label, self.path
