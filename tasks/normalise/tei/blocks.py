"""Blocks of a document in reading order: one run loop (:func:`run`) over mixed content and a
dispatch table (:data:`_HANDLERS`) from a block's tag to what it becomes."""
from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from tasks.normalise.common import TEI, squash
from tasks.normalise.tei import notes
from tasks.normalise.tei.lists import ListState, PendingItem
from tasks.normalise.tei.text import ATTACHMENT, BLOCKS, HEAD, NOTE, PB, inline, inline_child, note_text
from tasks.normalise.tei.walk import DocumentWalk
from tasks.records import Part

LIST, ITEM, LABEL, ROW, QUOTE = TEI + "list", TEI + "item", TEI + "label", TEI + "row", TEI + "quote"
_INLINE_QUOTE_PARENTS = {TEI + "p", ITEM, TEI + "cell", HEAD}


def text_of(walk: DocumentWalk, el: etree._Element, out: list[str], child: bool = False) -> None:
    """Inline text of ``el`` (or, with ``child``, of ``el`` as a child) into ``out``: its notes
    are filed, its page breaks followed."""
    (inline_child if child else inline)(el, out, lambda n: notes.note(walk, n), walk.set_page)


def run(walk: DocumentWalk, el: etree._Element, run_kind: str, para_kind: str = "paragraph",
        sublist: Callable[[etree._Element], None] | None = None) -> None:
    """Walk mixed content: runs of inline content become ``run_kind`` parts, blocks are
    dispatched (their paragraphs ``para_kind``), a ``list`` to ``sublist`` when given."""
    pieces: list[str] = [el.text or ""]
    run_page = walk.page
    for child in el:
        if _is_block(child, el):
            walk.emit(run_kind, pieces, page=run_page)
            if sublist is not None and child.tag == LIST:
                sublist(child)
            else:
                block(walk, child, para_kind)
            pieces, run_page = [], walk.page
        else:
            if not "".join(pieces).strip():  # a run's page: where its first words stand
                run_page = (child.get("n") or walk.page) if child.tag == PB else walk.page
            text_of(walk, child, pieces, child=True)
        if child.tail:
            pieces.append(child.tail)
    walk.emit(run_kind, pieces, page=run_page)


def _is_block(child: etree._Element, parent: etree._Element) -> bool:
    if not isinstance(child.tag, str):
        return False
    if child.tag != QUOTE:
        return child.tag in BLOCKS
    # a quote is a block when it holds blocks or stands outside a paragraph-like parent
    has_blocks = any(isinstance(c.tag, str) and c.tag in BLOCKS for c in child)
    return has_blocks or parent.tag not in _INLINE_QUOTE_PARENTS


def block(walk: DocumentWalk, el: etree._Element, para_kind: str) -> None:
    """One block element, by :data:`_HANDLERS` (a ``div`` or anything else: a container)."""
    local = el.tag.split("}")[1] if el.tag != ATTACHMENT else "attachment"
    handler = _HANDLERS.get(local)
    if handler is None:  # div (a document nested in an attachment), argument, epigraph
        run(walk, el, para_kind, para_kind)
    else:
        handler(walk, el, para_kind)


def leaf(walk: DocumentWalk, kind: str, el: etree._Element) -> None:
    """A block whose whole content is one part."""
    page = walk.page
    out: list[str] = []
    text_of(walk, el, out)
    walk.emit(kind, out, page)


def _leaf(kind: str):
    return lambda walk, el, para_kind: leaf(walk, kind, el)


def attachment(walk: DocumentWalk, el: etree._Element, para_kind: str = "paragraph") -> None:
    """An enclosure: a part of its own (labelled by its source note), then its content."""
    outer = walk.attachment
    walk.attachments += 1
    walk.attachment = walk.attachments
    # The enclosure's own source note ("[Inclosure 1 in No. 378.]") labels it.
    src = el.find(f"{NOTE}[@type='source']")
    label = note_text(src) if src is not None else None
    outer_part, outer_label = walk.att_part, walk.att_label
    walk.att_part = Part(walk.doc_key, len(walk.parts), "attachment", "", label or None, None, walk.page,
                         walk.attachment)
    walk.att_label = src
    walk.parts.append(walk.att_part)
    run(walk, el, "paragraph")
    walk.attachment = outer
    walk.att_part, walk.att_label = outer_part, outer_label


def list_block(walk: DocumentWalk, el: etree._Element, prefix: str = "") -> None:
    """A ``list``: labels wait for their items; a sub-list continues its item's path."""
    state = ListState(prefix)
    given: str | None = None
    for child in el:
        tag = child.tag
        if tag == LABEL:
            out: list[str] = []
            text_of(walk, child, out)
            given = squash("".join(out))
        elif tag == ITEM:
            _item(walk, child, PendingItem(given, state))
            given = None
        elif tag == HEAD:
            leaf(walk, "heading", child)
        elif isinstance(tag, str):
            out = []
            text_of(walk, child, out, child=True)
            if "".join(out).strip():
                walk.emit("paragraph", out)
        if child.tail and child.tail.strip():
            walk.emit("paragraph", [child.tail])


def _item(walk: DocumentWalk, item: etree._Element, pending: PendingItem) -> None:
    """One list item in reading order: its first part carries the label and path."""
    walk.item = pending

    def sublist(sub: etree._Element) -> None:
        if walk.item is not None:  # nothing before the sub-list: its items carry the label in their paths
            pending.resolve("")
            walk.item = None
        list_block(walk, sub, pending.path or pending.list.prefix + (pending.given or ""))

    run(walk, item, "item", "paragraph", sublist)
    walk.item = None


def table(walk: DocumentWalk, el: etree._Element, para_kind: str = "paragraph") -> None:
    """A table: one ``row`` part a row, its cells joined by `` | ``."""
    for child in el:
        tag = child.tag
        if tag == ROW:
            page = walk.page
            cells = []
            for cell in child:
                out: list[str] = []
                text_of(walk, cell, out, child=True)
                cells.append(squash("".join(out)))
                if cell.tail and cell.tail.strip():
                    cells.append(squash(cell.tail))
            walk.emit("row", [" | ".join(c for c in cells if c)], page=page)
        elif tag == HEAD:
            leaf(walk, "heading", child)
        elif isinstance(tag, str):
            out = []
            text_of(walk, child, out, child=True)
            walk.emit("paragraph", out)


# A block's local name → what it becomes: fn(walk, el, para_kind of the enclosing run).
_HANDLERS: dict[str, Callable[[DocumentWalk, etree._Element, str], None]] = {
    "head": _leaf("heading"),
    "p": lambda walk, el, para_kind: run(walk, el, para_kind, para_kind),
    "ab": lambda walk, el, para_kind: run(walk, el, para_kind, para_kind),
    "dateline": _leaf("dateline"),
    "trailer": _leaf("dateline"),
    "signed": _leaf("signature"),
    "byline": _leaf("signature"),
    "docAuthor": _leaf("signature"),
    "salute": _leaf("salute"),
    "figure": _leaf("figure"),
    "lg": _leaf("quote"),
    "opener": lambda walk, el, para_kind: run(walk, el, "paragraph"),
    "closer": lambda walk, el, para_kind: run(walk, el, "closer"),
    "postscript": lambda walk, el, para_kind: run(walk, el, "postscript", "postscript"),
    "quote": lambda walk, el, para_kind: run(walk, el, "quote", "quote"),
    "list": lambda walk, el, para_kind: list_block(walk, el),
    "table": table,
    "attachment": attachment,
}
