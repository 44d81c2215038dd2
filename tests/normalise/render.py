"""A TEI document rendered as its history.state.gov page would read, for round trips."""
from __future__ import annotations

from tasks.normalise.common import item_prefix
from tasks.records import Document


def as_page_text(doc: Document) -> str:
    """Source notes, the parts one a line (items with their labels), then the footnotes
    listed 1..n (not anchored): the page-text format of ``docs/frus-formats.md`` §2."""
    shown: set[str] = set()
    lines = [*doc.source_notes, ""]
    for p in doc.parts:
        if p.text:
            lines.append(f"{item_prefix(p, shown)} {p.text}".strip() if p.kind == "item" and p.path else p.text)
    notes = [f.text for f in doc.footnotes if not f.text.startswith("Source:")]
    return "\n".join(lines + [f"  {i}. {t}" for i, t in enumerate(notes, 1)])
