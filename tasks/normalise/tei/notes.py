"""Notes met in a document's text: footnotes, source notes, enclosures' source notes."""
from __future__ import annotations

from lxml import etree

from tasks.normalise.common import XML_ID
from tasks.normalise.tei.text import note_text
from tasks.normalise.tei.walk import DocumentWalk


def note(walk: DocumentWalk, el: etree._Element) -> None:
    """File the note ``el`` (and the notes nested in it) where it belongs.

    A source note is the document's (modern volumes also print it as footnote 1: both are
    kept); inside an attachment it labels the attachment's part. Any other note is a footnote.
    """
    nested: list[etree._Element] = []
    text = note_text(el, nested)
    is_source = el.get("type") == "source"
    in_attachment = is_source and walk.attachment is not None
    if in_attachment:
        # An enclosure's source note labels its attachment part; a second one (or one
        # inside a document nested in the enclosure) is added to that label.
        if el is not walk.att_label and walk.att_part is not None and text:
            old = walk.att_part.label
            walk.att_part.label = f"{old} {text}" if old else text
    elif is_source:
        walk.source_notes.append(text)
        if el.get(XML_ID):
            walk.footnote(el, text)
    else:
        walk.footnote(el, text)
    before = len(walk.footnotes)
    for sub in nested:  # a footnote inside a note (even a source note) is a footnote
        note(walk, sub)
    if in_attachment and walk.att_part is not None:
        # their markers stand in the attachment's label: anchor them to that part
        inner = walk.footnotes[before:]
        for fn in inner:
            fn.part_seq = walk.att_part.seq
        walk.pending = [fn for fn in walk.pending if all(fn is not f for f in inner)]
