"""A history.state.gov document page, as copied text (the seed's format) → a :class:`Document`.

The page text looks like this (``docs/frus-formats.md`` §2)::

    [URL: https://history.state.gov/historicaldocuments/frus1938v03/d83]   optional
    793.94/12357: Telegram                                  source note(s), optional
    The Chargé in the Soviet Union (Henderson) to the Secretary of State    title
    [Moscow, February 5, 1938—5 p.m.] / [Received …]         dateline(s), optional
    35. Reference to my telegram No. 5, January 8, 7 p.m.6 Yui Ming, …     paragraphs
    1.                                                       a list label alone …
    (a) The mission of Sun Fo7 has obtained …                … then its item(s)
    Henderson                                                signature, optional
      1. Not printed.                                        footnotes, renumbered 1..n

One non-empty line is one block. Footnote markers keep the volume's numbers glued to the word
before them; they are found with the consecutive-sequence rule (:mod:`.markers`). A text that
does not look like a FRUS page is refused (:mod:`.frus_page`).
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tasks.errors import PageTextError
from tasks.normalise import common
from tasks.normalise.common import squash
from tasks.normalise.page_text.blocks import RECEIVED, Block, classify, split_footnotes, to_blocks
from tasks.normalise.page_text.dates import is_dated_line, set_date
from tasks.normalise.page_text.frus_page import check_frus, check_shape, check_text
from tasks.normalise.page_text.markers import anchor_footnotes
from tasks.normalise.page_text.title import is_source_note, parse_url, set_title
from tasks.normalise.source_note import merge_source_notes
from tasks.records import Document, Footnote, Part

FORMAT = "hsg-text"
_URL_LINE = re.compile(r"^\s*(?:URL:\s*)?(https?://\S+)\s*$", re.IGNORECASE)
_URL_LABEL = re.compile(r"^\s*URL\s*:", re.IGNORECASE)
Pages = list[list[tuple[int, str]]]  # a part's page changes: (offset, page)


def parse_page_text(text: str, *, name: str, url: str | None = None) -> Document:
    """Parse the text of a history.state.gov document page into a :class:`Document`.

    Args:
        text: the page text (see the module docstring).
        name: the file name or another label for messages; its stem is the ``doc_id`` when
            no URL is known.
        url: the page URL, if known; a ``URL: …`` first line in ``text`` is used otherwise.

    Raises:
        PageTextError: empty text, a URL that is not a history.state.gov document URL, or a
            text that does not look like a FRUS page.
    """
    text = (text or "").lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    check_text(text, name)
    lines, url = _url_line(text.split("\n"), name, url)
    ids = parse_url(url) if url else None
    if url and ids is None:
        raise PageTextError(name, f"not a history.state.gov document URL: {url!r}")
    body_lines, notes = split_footnotes(lines)
    blocks = to_blocks(body_lines)
    if not blocks:
        raise PageTextError(name, "no title or body text")
    source_notes: list[str] = []
    while len(blocks) > 1 and len(source_notes) < 3 and is_source_note(blocks[0].text):
        source_notes.append(blocks.pop(0).text)
    title_block = blocks.pop(0)
    check_shape(title_block.text, blocks, name)
    doc = _identity(ids, name, lines)
    parts, pages = _parts(doc.doc_key, title_block, blocks)
    footnotes = anchor_footnotes(parts, pages, notes, doc.doc_key, doc.doc_id if ids else None)
    _infer_first_page(parts, footnotes, pages)
    doc.footnotes = footnotes
    _set_metadata(doc, source_notes, parts, ids)
    _set_pages(doc, parts, pages)
    if not ids:
        check_frus(doc, name)
    return doc


def _url_line(lines: list[str], name: str, url: str | None) -> tuple[list[str], str | None]:
    """The lines after a ``URL: …`` first line, and the URL (``url`` wins when given)."""
    first = next(i for i, ln in enumerate(lines) if ln.strip())
    m = _URL_LINE.match(lines[first])
    if not (m or _URL_LABEL.match(lines[first])):
        return lines, url
    if not m or parse_url(m.group(1)) is None:
        bad = lines[first].strip()[:100]
        raise PageTextError(name, f"URL line is not a history.state.gov document URL: {bad!r}")
    return lines[first + 1:], url or m.group(1)


def _identity(ids: tuple[str, str] | None, name: str, lines: list[str]) -> Document:
    """An empty document keyed by its URL, or (without one) by a hash of its text."""
    if ids:
        volume_id, doc_id = ids
        return Document(doc_key=f"{volume_id}/{doc_id}", volume_id=volume_id, doc_id=doc_id, format=FORMAT,
                        url=common.canonical_url(volume_id, doc_id))
    normalised = "\n".join(squash(ln) for ln in lines if ln.strip())
    key = f"{FORMAT}/{hashlib.sha256(normalised.encode('utf-8')).hexdigest()[:16]}"
    return Document(doc_key=key, volume_id=FORMAT, doc_id=Path(name).stem, format=FORMAT)


def _parts(doc_key: str, title: Block, blocks: list[Block]) -> tuple[list[Part], Pages]:
    """The heading and the classified body blocks as parts, with their page changes."""
    parts = [Part(doc_key, 0, "heading", title.text, page=title.page)]
    pages: Pages = [title.page_changes]
    for kind, label, path, attachment, block in classify(blocks):
        prev = parts[-1]
        if kind == "dateline" and RECEIVED.match(block.text) and prev.kind == "dateline" and (
            prev.attachment == attachment and not RECEIVED.match(prev.text)
        ):
            # "Moscow, February 5, 1938—5 p.m." + "[Received 5:44 p.m.]": one dateline, as in TEI.
            pages[-1].extend((o + len(prev.text) + 1, pg) for o, pg in block.page_changes)
            prev.text = f"{prev.text} {block.text}"
            continue
        parts.append(Part(doc_key, len(parts), kind, block.text, label, path, block.page, attachment))
        pages.append(block.page_changes)
    return parts, pages


def _infer_first_page(parts: list[Part], footnotes: list[Footnote], pages: Pages) -> None:
    """Text before the first ``[Page N]`` marker stands on page N-1 (arabic numbers only)."""
    if not parts or parts[0].page is not None:
        return
    for pi, p in enumerate(parts):
        first = p.page or (pages[pi][0][1] if pages[pi] else None)
        if first is None:
            continue
        prev = common.page_before(first)
        if prev is not None:
            common.fill_first_page(parts[: pi + 1] if not p.page else parts[:pi], prev)
            common.fill_first_page([f for f in footnotes if f.part_seq is not None], prev)
        return


def _set_metadata(doc: Document, source_notes: list[str], parts: list[Part], ids) -> None:
    """Source notes, despatch number, title, correspondents, date, text and signature."""
    doc.source_notes = source_notes + [f.text for f in doc.footnotes if f.text.startswith("Source:")]
    for key, value in merge_source_notes(doc.source_notes).items():
        setattr(doc, key, value)
    if not doc.despatch_number:  # "No. 350.]" printed as the first paragraph, as in the TEI
        for key, value in common.despatch_paragraph(_first_paragraphs(parts)).items():
            setattr(doc, key, getattr(doc, key) or value)
    set_title(doc, parts[0].text, doc.doc_id if ids else None)
    for p in parts:
        if p.kind == "dateline" and doc.date_text is None:
            set_date(doc, p.text)
    common.set_body(doc, parts)


def _first_paragraphs(parts: list[Part]):
    """The body's first blocks after the datelines: a paragraph's text, None for another block."""
    for p in parts[1:]:
        if p.kind == "dateline" or is_dated_line(p.text):  # (a place and date: a dateline)
            continue
        yield p.text if p.kind == "paragraph" else None


def _set_pages(doc: Document, parts: list[Part], pages: Pages) -> None:
    """First and last page: where the text starts (else its first paged part or note), the
    last page marker seen."""
    paged = [p.page for p in parts if p.page] + [f.page for f in doc.footnotes if f.page]
    doc.page_start = parts[0].page or (paged[0] if paged else None)
    seen = [pg for p, changes in zip(parts, pages) for pg in [p.page, *(c[1] for c in changes)] if pg]
    doc.page_end = seen[-1] if seen else doc.page_start
