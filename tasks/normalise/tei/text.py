"""The one inline-text walk over TEI mixed content (text and tails, never regex over XML).

What a walk does with notes, page breaks and block-like elements is the caller's: the
document walk anchors notes and follows pages; titles, places and dates leave notes out.
"""
from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from tasks.normalise.common import FRUS, TEI, squash

NOTE, PB, LB, HEAD = TEI + "note", TEI + "pb", TEI + "lb", TEI + "head"
ATTACHMENT = FRUS + "attachment"
# Elements that start a block of their own when met inside a container.
BLOCKS = {
    TEI + t
    for t in (
        "p head dateline opener closer signed salute postscript list table div figure lg "
        "trailer byline argument epigraph docAuthor ab"
    ).split()
} | {ATTACHMENT}
# Elements whose content is block-like even inside a leaf: a space separates them.
SPACED = BLOCKS | {TEI + t for t in ("item", "label", "row", "cell", "l", "quote")}

Visit = Callable[[etree._Element], None]


def inline(el: etree._Element, out: list[str], note: Visit | None = None, page: Visit | None = None,
           spaced: frozenset[str] | set[str] = SPACED) -> None:
    """Append the text of ``el``'s content (not its tail) to ``out``.

    Args:
        el: the element.
        out: the pieces of text so far (joined and squashed by the caller).
        note: called with each ``note`` met (its text stays out of ``out``); notes are
            left out when None.
        page: called with each ``pb`` met.
        spaced: tags whose content a space separates from its neighbours.
    """
    if el.text:
        out.append(el.text)
    for child in el:
        inline_child(child, out, note, page, spaced)
        if child.tail:
            out.append(child.tail)


def inline_child(child: etree._Element, out: list[str], note: Visit | None = None,
                 page: Visit | None = None, spaced: frozenset[str] | set[str] = SPACED) -> None:
    """Append the text of one child (not its tail), as :func:`inline` does."""
    tag = child.tag
    if not isinstance(tag, str):
        return
    if tag == NOTE:
        if note is not None:
            note(child)
    elif tag == PB:
        if page is not None:
            page(child)
    elif tag == LB:
        if child.get("break") != "no":
            out.append(" ")
    elif tag in spaced:
        out.append(" ")
        inline(child, out, note, page, spaced)
        out.append(" ")
    else:
        inline(child, out, note, page, spaced)


def plain_text(el: etree._Element | None) -> str:
    """Text of ``el`` without its notes, ``lb`` as a space, white space normalised once over
    the whole (squashing each child would trim the spaces at element edges:
    ``<hi>Legation</hi><hi> of the …</hi>``)."""
    if el is None:
        return ""
    out: list[str] = []
    inline(el, out, spaced=frozenset())
    return squash("".join(out))


def note_text(el: etree._Element, nested: list[etree._Element] | None = None) -> str:
    """The text of a note without the notes nested in it (collected into ``nested``)."""
    out: list[str] = []
    inline(el, out, note=nested.append if nested is not None else None)
    return squash("".join(out))
