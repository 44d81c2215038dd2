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


def item_top(part: Part) -> str:
    """The top-level label of an item: ``1.`` for ``1.(a)``, ``2.`` for ``2.``."""
    path, label = part.path or "", part.label or ""
    if label and path.endswith(label) and path != label:
        return path[: -len(label)]
    return path


def document_text(parts: Iterable[Part]) -> str:
    """A document's readable body: every part but the title heading, one per line."""
    lines: list[str] = []
    top: str | None = None
    for i, part in enumerate(parts):
        if i == 0 and part.kind == "heading":
            continue
        if part.kind == "item":
            # An item 1.(a) prints as "1. (a) …" when it opens item 1, as "(a) …" after.
            new_top = item_top(part)
            text = part.text
            if new_top and new_top != top and not text.startswith(new_top):
                text = f"{new_top} {text}"
            top = new_top
            lines.append(text)
        else:
            top = None
            if part.text:
                lines.append(part.text)
    return "\n".join(lines)
