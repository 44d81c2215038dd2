"""One TEI document ``div`` → a :class:`Document`: its blocks, notes, title, correspondents,
source notes, dates and pages."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from tasks.normalise import common
from tasks.normalise.common import TEI, XML_ID, squash, unspace_parens
from tasks.normalise.source_note import merge_source_notes
from tasks.normalise.tei.blocks import block, run
from tasks.normalise.tei.dates import document_dates
from tasks.normalise.tei.text import HEAD, LB, NOTE, PB, plain_text
from tasks.normalise.tei.walk import DocumentWalk
from tasks.records import Document

# What may stand before a despatch paragraph: the head, source notes, the dateline.
_PREAMBLE = {HEAD, NOTE, PB, LB, TEI + "dateline", TEI + "opener"}


@dataclass(slots=True)
class Entry:
    """A document found in a volume, with what the volume around it tells."""

    div: etree._Element
    chapter_path: list[str]
    page: str | None  # page in force where the document starts
    trailing: list[tuple[etree._Element, str | None]] = field(default_factory=list)  # (attachment, page)


def heading_text(el: etree._Element) -> str:
    """Plain text of a head (notes left out, spaced names closed up)."""
    return unspace_parens(plain_text(el))


def parse_document(entry: Entry, volume_id: str, index: int) -> Document:
    """The document of ``entry``, the ``index``-th of its volume (its key if it has no id)."""
    div = entry.div
    doc_id = div.get(XML_ID) or f"pos{index:04d}"
    walk = _walk(entry, f"{volume_id}/{doc_id}", doc_id)
    head = div.find(HEAD)
    title = heading_text(head) if head is not None else None
    notes = [squash(n) for n in walk.source_notes]
    note = merge_source_notes(notes) if notes else {}  # "File No. …" then "[Telegram]"
    if not note.get("despatch_number"):
        found = common.despatch_paragraph(_first_paragraphs(div))
        note.update({k: v for k, v in found.items() if v and not note.get(k)})
    doc = Document(
        doc_key=walk.doc_key, volume_id=volume_id, doc_id=doc_id,
        url=common.canonical_url(volume_id, doc_id) if div.get(XML_ID) else None,
        doc_number=div.get("n"), subtype=div.get("subtype") or _infer_subtype(title),
        chapter_path=entry.chapter_path, source_notes=notes, title=title,
        is_extract=bool(note.pop("is_extract", False)), is_translation=bool(note.pop("is_translation", False)),
        is_paraphrase=bool(note.pop("is_paraphrase", False)), **note, **_correspondents(head, title),
        **document_dates(div),
        page_start=(walk.parts[0].page if walk.parts else None) or entry.page, page_end=walk.page,
        footnotes=walk.footnotes,
    )
    common.set_body(doc, walk.parts)
    return doc


def _walk(entry: Entry, doc_key: str, doc_id: str) -> DocumentWalk:
    """Walk the document and the enclosures printed after it."""
    walk = DocumentWalk(doc_key, doc_id, entry.page)
    run(walk, entry.div, "paragraph")
    for att, page in entry.trailing:
        walk.page = page or walk.page  # a <pb/> between the document and its enclosure
        block(walk, att, "paragraph")
    walk.finish()
    if entry.page is None:  # no page break before the document: it starts on the page before its first
        common.fill_first_page([*walk.parts, *walk.footnotes], common.page_before(walk.first_page))
    return walk


def _first_paragraphs(div: etree._Element):
    """The body's first blocks after the preamble: a ``p``'s text, None for another block."""
    for child in div:
        if child.tag in _PREAMBLE or not isinstance(child.tag, str):
            continue
        yield heading_text(child) if child.tag == TEI + "p" else None


def _infer_subtype(title: str | None) -> str:
    if title and re.search(r"editorial note", title, re.I):
        return "editorial-note"
    return "historical-document"


def _correspondents(head: etree._Element | None, title: str | None) -> dict:
    """Sender and recipient by the shared rule over the title (:func:`common.correspondents`);
    the head's ``persName``/``gloss`` markup only where the title names no one."""
    found = common.correspondents(title)
    if head is None or any(found.values()):
        return found

    def typed(tag: str, kind: str, name) -> str | None:
        marked = [name(heading_text(e)) for e in head.iter(TEI + tag)
                  if e.get("type") == kind and not any(a.tag == NOTE for a in e.iterancestors())]
        return ", ".join(m for m in marked if m) or None

    sender, recipient = typed("persName", "from", common.person), typed("persName", "to", common.person)
    sender_role, recipient_role = typed("gloss", "from", common.office), typed("gloss", "to", common.office)
    return {"sender": sender or sender_role, "sender_role": sender_role,
            "recipient": recipient or recipient_role, "recipient_role": recipient_role}
