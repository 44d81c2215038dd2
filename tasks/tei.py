"""A FRUS TEI volume → Volume and Document records (one volume at a time).

The parser is locked down (no entities, DTDs, network or XInclude) because the XML comes
from outside. A document is every ``div[@type="document"]`` not nested in another document;
``frus:attachment`` blocks printed between documents belong to the document before them.
Text is built from the tree (text and tails), never by regex over raw XML.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from tasks.records import Document, Footnote, Part, Reject, Volume
from tasks.source_note import despatch_line, merge_source_notes
from tasks.tei_dates import document_dates, plain_text
from tasks.text import document_text, squash

TEI = "{http://www.tei-c.org/ns/1.0}"
FRUS = "{http://history.state.gov/frus/ns/1.0}"
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
DIV, NOTE, PB, LB, HEAD = TEI + "div", TEI + "note", TEI + "pb", TEI + "lb", TEI + "head"
ATTACHMENT = FRUS + "attachment"
MAX_BYTES = 512 * 1024 * 1024  # refuse absurd inputs before parsing

# Elements that start a block of their own when met inside a container.
_BLOCKS = {
    TEI + t
    for t in (
        "p head dateline opener closer signed salute postscript list table div figure lg "
        "trailer byline argument epigraph docAuthor ab"
    ).split()
} | {ATTACHMENT}
# Elements whose content is block-like even inside a leaf: a space separates them.
_SPACED = _BLOCKS | {TEI + t for t in ("item", "label", "row", "cell", "l", "quote")}
_SUBLABEL = re.compile(r"^\(\s*([a-z]{1,2}|[ivxl]{1,5}|\d{1,2})\s*\)")
# What may stand before that paragraph: the head, source notes, the dateline.
_PREAMBLE = {HEAD, NOTE, PB, LB, TEI + "dateline", TEI + "opener"}


class VolumeError(Exception):
    """A volume file that cannot be read at all (not well-formed, not TEI, too large)."""


@dataclass(slots=True)
class ParsedVolume:
    volume: Volume
    documents: list[Document]
    rejects: list[Reject] = field(default_factory=list)
    is_volume: bool = True  # False for a single page text: no `volumes` row


def secure_parser() -> etree.XMLParser:
    """An XML parser with entity resolution, DTDs, network access and huge trees off.

    (It keeps ``collect_ids``: with it off, libxml2 reads the external DTD a DOCTYPE names,
    ``load_dtd`` notwithstanding. A repeated or malformed xml:id is then a syntax error.)"""
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


class _Unnamed:
    """A stream without a name: lxml then reports a bad byte as a syntax error at its line,
    not as an OSError naming the file it read (the landed copy, which means nothing)."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)


def parse_volume(path: Path, source_uri: str | None = None) -> ParsedVolume:
    """Parse one TEI volume file into its Volume, Documents and Rejects.

    Raises:
        VolumeError: the file is too large, not well-formed XML, or not a TEI volume.
    """
    path = Path(path)
    uri = source_uri or path.resolve().as_uri()
    # errors name the item (its URI), not the file read: a landed blob's name means nothing
    if path.stat().st_size > MAX_BYTES:
        raise VolumeError(f"{uri}: larger than {MAX_BYTES} bytes")
    try:
        with open(path, "rb") as stream:
            tree = etree.parse(_Unnamed(stream), secure_parser())
    except etree.XMLSyntaxError as exc:
        raise VolumeError(f"{uri}: not well-formed XML: {exc.msg}") from exc
    dtd = tree.docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):  # (they are never expanded)
        raise VolumeError(f"{uri}: declares XML entities (an internal DTD subset), which no FRUS "
                          "volume does: refused")
    root = tree.getroot()
    if root.tag != TEI + "TEI":
        raise VolumeError(f"{uri}: not a TEI document (root element {root.tag})")
    volume = _volume(root, uri)
    text = root.find(TEI + "text")
    if text is None:
        raise VolumeError(f"{uri}: TEI without <text>")
    entries, rejects = _find_documents(text, volume.volume_id, uri)
    documents = []
    for index, entry in enumerate(entries, start=1):
        try:
            documents.append(_document(entry, volume.volume_id, index))
        except Exception as exc:  # one bad document must not sink the volume
            line = entry.div.sourceline
            rejects.append(Reject(uri, f"{volume.volume_id} document {index} (line {line})", repr(exc)))
    volume.document_count = len(documents)
    return ParsedVolume(volume, documents, rejects)


# -- volume -----------------------------------------------------------------------------


def _volume(root: etree._Element, uri: str) -> Volume:
    volume_id = root.get(XML_ID) or _text(root.find(f".//{TEI}publicationStmt/{TEI}idno[@type='frus']"))
    if not volume_id:
        raise VolumeError(f"{uri}: no volume id (TEI/@xml:id or idno[@type='frus'])")
    stmt = root.find(f"{TEI}teiHeader/{TEI}fileDesc/{TEI}titleStmt")
    titles = {}
    editors = []
    if stmt is not None:
        for t in stmt.findall(TEI + "title"):
            titles.setdefault(t.get("type") or "complete", _text(t))
        editors = [_text(e) for e in stmt.findall(TEI + "editor") if _text(e)]
    year_text = _text(root.find(f".//{TEI}publicationStmt/{TEI}date"))
    year = re.search(r"\d{4}", year_text or "")
    return Volume(
        volume_id=volume_id,
        title=titles.get("complete"),
        series_title=titles.get("series"),
        sub_series_title=titles.get("sub-series"),
        volume_number=titles.get("volume-number"),
        volume_title=titles.get("volume"),
        publication_year=int(year.group()) if year else None,
        editors=editors,
    )


# -- finding documents -----------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    div: etree._Element
    chapter_path: list[str]
    page: str | None  # page in force where the document starts
    trailing: list[tuple[etree._Element, str | None]] = field(default_factory=list)  # (attachment, page)


def _find_documents(text: etree._Element, volume_id: str, uri: str):
    entries: list[_Entry] = []
    rejects: list[Reject] = []
    page: list[str | None] = [None]

    def visit(el: etree._Element, chapters: list[str]) -> None:
        for child in el:
            tag = child.tag
            if tag == PB:
                page[0] = child.get("n") or page[0]
            elif tag == DIV and child.get("type") == "document":
                entries.append(_Entry(child, chapters, page[0]))
                last = _last_page(child)
                page[0] = last or page[0]
            elif tag == ATTACHMENT and child.find(f".//{DIV}[@type='document']") is not None:
                visit(child, chapters)  # documents printed inside a stray enclosure are documents
            elif tag == ATTACHMENT:
                if entries:
                    entries[-1].trailing.append((child, page[0]))
                else:
                    rejects.append(
                        Reject(uri, f"{volume_id} line {child.sourceline}", "attachment outside any document and before the first one: not stored")
                    )
                page[0] = _last_page(child) or page[0]
            elif tag == DIV:
                head = child.find(HEAD)
                visit(child, chapters + ([_plain(head)] if head is not None else []))
            elif isinstance(tag, str):
                # front/body/back/group and stray blocks: pages inside them still count
                if tag in (TEI + "front", TEI + "body", TEI + "back", TEI + "group", TEI + "text"):
                    visit(child, chapters)
                else:
                    page[0] = _last_page(child) or page[0]

    visit(text, [])
    return entries, rejects


def _last_page(el: etree._Element) -> str | None:
    last = None
    for pb in el.iter(PB):
        last = pb.get("n") or last
    return last


# -- one document ----------------------------------------------------------------------


def _document(entry: _Entry, volume_id: str, index: int) -> Document:
    div = entry.div
    doc_id = div.get(XML_ID) or f"pos{index:04d}"
    doc_key = f"{volume_id}/{doc_id}"
    walker = _Walker(doc_key, doc_id, entry.page)
    walker.container(div, "paragraph")
    for att, page in entry.trailing:
        walker.page = page or walker.page  # a <pb/> between the document and its enclosure
        walker.block(att, "paragraph")
    walker.finish()
    parts = walker.parts
    if entry.page is None:  # no page break before the document: it starts on the page before its first
        _fill_first_page(parts, walker.footnotes, _page_before(walker.first_page))

    head = div.find(HEAD)
    title = _plain(head) if head is not None else None
    sender, sender_role, recipient, recipient_role = _correspondents(head, title)
    notes = [squash(n) for n in walker.source_notes]
    note = merge_source_notes(notes) if notes else {}  # "File No. …" then "[Telegram]"
    if not note.get("despatch_number"):
        note.update(_despatch_paragraph(div, note))
    dates = document_dates(div)
    signature = next((p.text for p in parts if p.kind == "signature" and p.attachment is None), None)
    subtype = div.get("subtype") or _infer_subtype(title)
    text = document_text(parts)
    return Document(
        doc_key=doc_key,
        volume_id=volume_id,
        doc_id=doc_id,
        url=f"https://history.state.gov/historicaldocuments/{volume_id}/{doc_id}" if div.get(XML_ID) else None,
        doc_number=div.get("n"),
        subtype=subtype,
        chapter_path=entry.chapter_path,
        source_notes=notes,
        file_number=note.get("file_number"),
        doc_type=note.get("doc_type"),
        despatch_number=note.get("despatch_number"),
        is_extract=bool(note.get("is_extract")),
        is_translation=bool(note.get("is_translation")),
        is_paraphrase=bool(note.get("is_paraphrase")),
        archive_citation=note.get("archive_citation"),
        classification=note.get("classification"),
        title=title,
        sender=sender,
        sender_role=sender_role,
        recipient=recipient,
        recipient_role=recipient_role,
        place=dates.place,
        date_text=dates.text,
        date_min=dates.min,
        date_max=dates.max,
        date_min_iso=dates.min_iso,
        date_max_iso=dates.max_iso,
        signature=signature,
        page_start=(parts[0].page if parts else None) or entry.page,
        page_end=walker.page,
        text=text,
        word_count=len(text.split()),
        parts=parts,
        footnotes=walker.footnotes,
    )


def _page_before(page: str | None) -> str | None:
    """The page before ``page`` when it is a plain number (``71`` → ``70``), else None."""
    return str(int(page) - 1) if page and page.isdigit() and int(page) > 1 else None


def _fill_first_page(parts: list[Part], footnotes: list[Footnote], page: str | None) -> None:
    """Give the parts and footnotes before the document's first page break that page."""
    for item in [*parts, *footnotes]:
        if item.page is None:
            item.page = page


def _despatch_paragraph(div: etree._Element, note: dict) -> dict:
    """Despatch number (and classification) of a leading ``<p>No. 350.]</p>``.

    19th-century volumes print the number as the body's first paragraph instead of a source
    note; an editorial ``[For inclosure …]`` paragraph may precede it. The paragraph stays a part.
    """
    for child in div:
        if child.tag in _PREAMBLE or not isinstance(child.tag, str):
            continue
        if child.tag != TEI + "p":
            return {}
        text = _plain(child)
        found = despatch_line(text)
        if found:
            return {k: v for k, v in found.items() if v and not note.get(k)}
        if not (text.startswith("[") and text.endswith("]")):
            return {}
    return {}


def _infer_subtype(title: str | None) -> str:
    if title and re.search(r"editorial note", title, re.I):
        return "editorial-note"
    return "historical-document"


def _correspondents(head, title):
    if head is None:
        return None, None, None, None

    def typed(tag: str, kind: str) -> str | None:
        found = [_plain(e) for e in head.iter(TEI + tag)
                 if e.get("type") == kind and not any(a.tag == NOTE for a in e.iterancestors())]
        found = [f for f in found if f]
        return ", ".join(found) or None

    sender, recipient = typed("persName", "from"), typed("persName", "to")
    sender_role, recipient_role = typed("gloss", "from"), typed("gloss", "to")
    if sender and not sender_role and title:
        # "The Chargé in the Soviet Union (Henderson) to …": the office stands before the name
        m = re.match(r"^(?:\d+\.\s*)?(.+?)\s*\(\s*" + re.escape(sender) + r"\s*\)", title)
        if m:
            sender_role = m.group(1).strip()
    if recipient and not recipient_role and title:
        m = re.search(r"\bto (?:the )?(.+?)\s*\(\s*" + re.escape(recipient) + r"\s*\)", title)
        if m:
            recipient_role = m.group(1).strip()
    return sender or sender_role, sender_role, recipient or recipient_role, recipient_role


# -- the walker: blocks in reading order ------------------------------------------------


class _Walker:
    """Walks a document's tree once, emitting parts, footnotes and source notes."""

    def __init__(self, doc_key: str, doc_id: str, page: str | None):
        self.doc_key, self.doc_id = doc_key, doc_id
        self.page = page
        self.first_page: str | None = None
        self.parts: list[Part] = []
        self.footnotes: list[Footnote] = []
        self.source_notes: list[str] = []
        self.attachment: int | None = None
        self.attachments = 0
        self._pending: list[Footnote] = []  # notes met in text not yet emitted
        self._title_done = False
        self._att_part: Part | None = None  # the open attachment's part (its label collects source notes)
        self._att_label: etree._Element | None = None  # the source note already used as that label
        self._item_label = None  # a list item's labeller, waiting for the item's first part

    # parts

    def emit(self, kind: str, pieces: list[str], label=None, path=None, page=None) -> None:
        text = squash("".join(pieces))
        if not text and kind not in ("attachment",):
            return  # its notes stay pending and anchor to the next part
        if self._item_label is not None:
            # The first part of a list item (its text, or its first <p>) carries the label.
            label, path = self._item_label(text)
            self._item_label = None
            kind = "item" if kind == "paragraph" else kind
        seq = len(self.parts)
        self.parts.append(Part(self.doc_key, seq, kind, text, label, path, page or self.page, self.attachment))
        for fn in self._pending:
            fn.part_seq = seq
        self._pending = []

    def finish(self) -> None:
        last = len(self.parts) - 1 if self.parts else None
        for fn in self._pending:
            fn.part_seq = last
        self._pending = []

    def _set_page(self, pb: etree._Element) -> None:
        if pb.get("n"):
            self.page = pb.get("n")
            self.first_page = self.first_page or self.page

    # text

    def inline(self, el: etree._Element, out: list[str]) -> None:
        """Append the text of ``el``'s content (not its tail) to ``out``."""
        if el.text:
            out.append(el.text)
        for child in el:
            self._child_inline(child, out)
            if child.tail:
                out.append(child.tail)

    def _child_inline(self, child: etree._Element, out: list[str]) -> None:
        tag = child.tag
        if not isinstance(tag, str):
            return
        if tag == NOTE:
            self.note(child)
        elif tag == PB:
            self._set_page(child)
        elif tag == LB:
            if child.get("break") != "no":
                out.append(" ")
        elif tag in _SPACED:
            out.append(" ")
            self.inline(child, out)
            out.append(" ")
        else:
            self.inline(child, out)

    def note(self, el: etree._Element) -> None:
        note_id = el.get(XML_ID)
        nested: list[etree._Element] = []
        text = squash("".join(self._note_text(el, nested)))
        if el.get("type") == "source" and self.attachment is not None:
            # An enclosure's source note labels its attachment part; a second one (or one
            # inside a document nested in the enclosure) is added to that label.
            if el is not self._att_label and self._att_part is not None and text:
                old = self._att_part.label
                self._att_part.label = f"{old} {text}" if old else text
        elif el.get("type") == "source":
            self.source_notes.append(text)
            if note_id:  # modern volumes print the source note as footnote 1: keep both
                self._footnote(el, text)
        else:
            self._footnote(el, text)
        before = len(self.footnotes)
        for sub in nested:  # a footnote inside a note (even a source note) is a footnote
            self.note(sub)
        if el.get("type") == "source" and self.attachment is not None and self._att_part is not None:
            # their markers stand in the attachment's label: anchor them to that part
            inner = self.footnotes[before:]
            for fn in inner:
                fn.part_seq = self._att_part.seq
            self._pending = [fn for fn in self._pending if all(fn is not f for f in inner)]

    def _footnote(self, el: etree._Element, text: str) -> None:
        fn = Footnote(self.doc_key, el.get(XML_ID) or f"{self.doc_id}fn-{len(self.footnotes) + 1}", el.get("n"),
                      text, None, self.page)
        self.footnotes.append(fn)
        self._pending.append(fn)

    def _note_text(self, el: etree._Element, nested: list | None = None) -> list[str]:
        """The text of a note without the notes nested in it (collected into ``nested``)."""
        out: list[str] = []
        out.append(el.text or "")
        for child in el:
            if child.tag == NOTE:
                if nested is not None:
                    nested.append(child)
            elif child.tag == LB:
                out.append("" if child.get("break") == "no" else " ")
            elif isinstance(child.tag, str) and child.tag != PB:
                out.append(" " if child.tag in _SPACED else "")
                out.extend(self._note_text(child, nested))
                out.append(" " if child.tag in _SPACED else "")
            if child.tail:
                out.append(child.tail)
        return out

    # blocks

    def container(self, el: etree._Element, run_kind: str, para_kind: str = "paragraph") -> None:
        """Walk a mixed container: runs of inline content become ``run_kind`` parts."""
        run: list[str] = [el.text or ""]
        run_page = self.page
        for child in el:
            if isinstance(child.tag, str) and child.tag in _BLOCKS or self._block_quote(child, el):
                self.emit(run_kind, run, page=run_page)
                self.block(child, para_kind)
                run, run_page = [], self.page
            else:
                run_page = self._run_page(run, run_page, child)
                self._child_inline(child, run)
            if child.tail:
                run.append(child.tail)
        self.emit(run_kind, run, page=run_page)

    def _run_page(self, run: list[str], page: str | None, child: etree._Element) -> str | None:
        """The page of a run of inline content: where its first words stand."""
        if "".join(run).strip():
            return page
        return child.get("n") or self.page if child.tag == PB else self.page

    def _block_quote(self, child, parent) -> bool:
        if child.tag != TEI + "quote":
            return False
        has_blocks = any(isinstance(c.tag, str) and c.tag in _BLOCKS for c in child)
        return has_blocks or parent.tag not in (TEI + "p", TEI + "item", TEI + "cell", TEI + "head")

    def block(self, el: etree._Element, para_kind: str) -> None:
        tag = el.tag
        local = tag.split("}")[1]
        if tag == HEAD:
            self.leaf("heading", el)
        elif local == "p" or local == "ab":
            self.container(el, para_kind, para_kind)
        elif local in ("dateline", "signed", "salute", "byline", "docAuthor", "trailer"):
            kind = {"signed": "signature", "byline": "signature", "docAuthor": "signature"}.get(local, local)
            self.leaf("dateline" if kind == "trailer" else kind, el)
        elif local == "opener":
            self.container(el, "paragraph")
        elif local == "closer":
            self.container(el, "closer")
        elif local == "postscript":
            self.container(el, "postscript", "postscript")
        elif local == "quote":
            self.container(el, "quote", "quote")
        elif local == "list":
            self.list(el, "")
        elif local == "table":
            self.table(el)
        elif local == "figure":
            self.leaf("figure", el)
        elif local == "lg":
            self.leaf("quote", el)
        elif tag == ATTACHMENT:
            self.attachment_block(el)
        else:  # div (a document nested in an attachment), argument, epigraph
            self.container(el, para_kind, para_kind)

    def leaf(self, kind: str, el: etree._Element, label=None, path=None) -> None:
        page = self.page
        out: list[str] = []
        self.inline(el, out)
        self.emit(kind, out, label, path, page)

    def attachment_block(self, el: etree._Element) -> None:
        outer = self.attachment
        self.attachments += 1
        self.attachment = self.attachments
        # The enclosure's own source note ("[Inclosure 1 in No. 378.]") labels it.
        src = el.find(f"{NOTE}[@type='source']")
        label = squash("".join(self._note_text(src))) if src is not None else None
        outer_part, outer_label = self._att_part, self._att_label
        self._att_part = Part(self.doc_key, len(self.parts), "attachment", "", label or None, None, self.page, self.attachment)
        self._att_label = src
        self.parts.append(self._att_part)
        self.container(el, "paragraph")
        self.attachment = outer
        self._att_part, self._att_label = outer_part, outer_label

    def list(self, el: etree._Element, prefix: str) -> None:
        pending: str | None = None
        top = ""
        for child in el:
            tag = child.tag
            if tag == TEI + "label":
                out: list[str] = []
                self.inline(child, out)
                pending = squash("".join(out))
            elif tag == TEI + "item":
                resolved: dict[str, str | None] = {}
                given = pending

                def labeller(text: str, given=given, resolved=resolved):
                    nonlocal top
                    sub = _SUBLABEL.match(text)
                    if given:
                        top = given
                        label, path = (sub.group(0), prefix + given + sub.group(0)) if sub else (given, prefix + given)
                    elif sub:
                        label, path = sub.group(0), prefix + top + sub.group(0)
                    else:
                        label, path = None, None
                    resolved["path"] = path
                    return label, path

                self._item(child, labeller, resolved, prefix + (given or ""))
                pending = None
            elif tag == HEAD:
                self.leaf("heading", child)
            elif isinstance(tag, str):
                out = []
                self._child_inline(child, out)
                if "".join(out).strip():
                    self.emit("paragraph", out)
            if child.tail and child.tail.strip():
                self.emit("paragraph", [child.tail])

    def _item(self, item: etree._Element, labeller, resolved: dict, fallback_path: str) -> None:
        """One list item in reading order: its first part carries the label and path."""
        self._item_label = labeller
        run: list[str] = [item.text or ""]
        run_page = self.page
        for sub in item:
            if isinstance(sub.tag, str) and (sub.tag in _BLOCKS or self._block_quote(sub, item)):
                self.emit("item", run, page=run_page)
                if sub.tag == TEI + "list":
                    if self._item_label is not None:
                        # nothing before the sub-list: its items carry the label in their paths
                        labeller("")
                        self._item_label = None
                    self.list(sub, resolved.get("path") or fallback_path)  # a sub-list continues the path
                else:
                    self.block(sub, "paragraph")
                run, run_page = [], self.page
            else:
                run_page = self._run_page(run, run_page, sub)
                self._child_inline(sub, run)
            if sub.tail:
                run.append(sub.tail)
        self.emit("item", run, page=run_page)
        self._item_label = None

    def table(self, el: etree._Element) -> None:
        for child in el:
            tag = child.tag
            if tag == TEI + "row":
                page = self.page
                cells = []
                for cell in child:
                    out: list[str] = []
                    self._child_inline(cell, out)
                    cells.append(squash("".join(out)))
                    if cell.tail and cell.tail.strip():
                        cells.append(squash(cell.tail))
                self.emit("row", [" | ".join(c for c in cells if c)], page=page)
            elif tag == HEAD:
                self.leaf("heading", child)
            elif isinstance(tag, str):
                out = []
                self._child_inline(child, out)
                self.emit("paragraph", out)


# -- small helpers ---------------------------------------------------------------------


def _text(el) -> str | None:
    return squash("".join(el.itertext())) or None if el is not None else None


def _plain(el: etree._Element) -> str:
    """Plain text of an element with notes left out, white space normalised."""
    # spaced names in heads: "( Bell )", "( Bell)" -> "(Bell)"
    return re.sub(r"\s+\)", ")", re.sub(r"\(\s+", "(", plain_text(el)))
