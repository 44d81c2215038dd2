"""Text rules shared by every normaliser: white space, words, a document's plain text."""
from __future__ import annotations

import re
from collections.abc import Iterable

from tasks.records import Part

_WS = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


def squash(text: str | None) -> str:
    """Collapse every run of white space to one space and trim."""
    return _WS.sub(" ", text or "").strip()


def words(text: str) -> list[str]:
    """The words of a text, lower-cased (for coverage checks and shingles)."""
    return _WORD.findall(text.lower())


def item_prefix(part: Part, shown: set[str]) -> str:
    """The labels to print before an item's text, given the item paths already ``shown``.

    An item's own label is printed unless its text already starts with it (``(a) …``, as in
    d83 and its page text); so are the labels of its parents not printed yet: ``1.`` before
    ``(a) The mission`` (path ``1.(a)``), ``3.`` before a sub-list that opens item 3.
    """
    label, path = part.label or "", part.path or ""
    own = label if label and path.endswith(label) else ""
    parent = path[: len(path) - len(own)]
    done = max((p for p in shown if parent.startswith(p)), key=len, default="")
    missing = [parent[len(done):], own if own and not part.text.startswith(own) else ""]
    shown.update(x for x in (parent, path) if x)
    return " ".join(m for m in missing if m)


def document_text(parts: Iterable[Part]) -> str:
    """A document's readable body: every part but the title heading, one per line.

    List items print their labels as printed in the volume: ``1. (a) …``, ``(b) …``,
    ``I) The Western Theater.``, ``A) Belgium.``
    """
    lines: list[str] = []
    shown: set[str] = set()  # item paths (and their parents) whose labels are printed
    for i, part in enumerate(parts):
        if i == 0 and part.kind == "heading":
            continue
        if part.kind == "item" and part.path:
            if part.path in shown:
                shown.clear()  # the same path again: a new list starts its numbering
            prefix = item_prefix(part, shown)
            text = f"{prefix} {part.text}" if prefix and part.text else prefix or part.text
            if text:
                lines.append(text)
        elif part.text:
            lines.append(part.text)
    return "\n".join(lines)
