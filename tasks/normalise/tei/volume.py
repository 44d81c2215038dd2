"""A FRUS TEI volume file → its Volume, Documents and Rejects (one volume at a time).

The parser is locked down (no entities, DTDs, network or XInclude) because the XML comes
from outside. A document is every ``div[@type="document"]`` not nested in another document;
``frus:attachment`` blocks printed between documents belong to the document before them.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

from lxml import etree

from tasks.errors import DocumentError, VolumeError
from tasks.landing import MAX_BYTES
from tasks.normalise.common import TEI, XML_ID, ParsedVolume
from tasks.normalise.tei.document import Entry, heading_text, parse_document
from tasks.normalise.tei.text import ATTACHMENT, HEAD, PB, plain_text
from tasks.records import Reject, Volume
from tasks.sources import printable

DIV = TEI + "div"
_CONTAINERS = {TEI + "front", TEI + "body", TEI + "back", TEI + "group", TEI + "text"}
log = logging.getLogger(__name__)


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

    A document that fails is a reject with its place and reason (its traceback is logged);
    the rest of the volume goes on.

    Raises:
        VolumeError: the file is too large, not well-formed XML, or not a TEI volume.
    """
    path = Path(path)
    uri = source_uri or path.resolve().as_uri()
    root = _read(path, uri)  # errors name the item (its URI), not the file read
    volume = _volume(root, uri)
    text = root.find(TEI + "text")
    if text is None:
        raise VolumeError(uri, "TEI without <text>")
    entries, rejects = _find_documents(text, volume.volume_id, uri)
    documents = []
    for index, entry in enumerate(entries, start=1):
        try:
            documents.append(parse_document(entry, volume.volume_id, index))
        except Exception as exc:  # one bad document must not sink the volume
            error = DocumentError(uri, printable(f"{type(exc).__name__}: {exc}")[:200],
                                  f"{volume.volume_id} document {index} (line {entry.div.sourceline})")
            log.warning("%s", error)  # one line; the traceback at debug
            log.debug("%s: traceback", error, exc_info=True)
            rejects.append(Reject(uri, error.place, error.reason))
    volume.document_count = len(documents)
    return ParsedVolume(volume, documents, rejects)


def _read(path: Path, uri: str) -> etree._Element:
    """The root of a TEI file, read with :func:`secure_parser` and checked."""
    if path.stat().st_size > MAX_BYTES:
        raise VolumeError(uri, f"larger than {MAX_BYTES} bytes")
    try:
        with open(path, "rb") as stream:
            tree = etree.parse(_Unnamed(stream), secure_parser())
    except etree.XMLSyntaxError as exc:
        raise VolumeError(uri, f"not well-formed XML: {exc.msg}") from exc
    dtd = tree.docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):  # (they are never expanded)
        raise VolumeError(uri, "declares XML entities (an internal DTD subset), which no FRUS "
                          "volume does: refused")
    root = tree.getroot()
    if root.tag != TEI + "TEI":
        raise VolumeError(uri, f"not a TEI document (root element {root.tag})")
    return root


def _volume(root: etree._Element, uri: str) -> Volume:
    volume_id = root.get(XML_ID) or _text(root.find(f".//{TEI}publicationStmt/{TEI}idno[@type='frus']"))
    if not volume_id:
        raise VolumeError(uri, "no volume id (TEI/@xml:id or idno[@type='frus'])")
    stmt = root.find(f"{TEI}teiHeader/{TEI}fileDesc/{TEI}titleStmt")
    titles = {}
    editors = []
    if stmt is not None:
        for t in stmt.findall(TEI + "title"):
            titles.setdefault(t.get("type") or "complete", _text(t))
        editors = [_text(e) for e in stmt.findall(TEI + "editor") if _text(e)]
    year = re.search(r"\d{4}", _text(root.find(f".//{TEI}publicationStmt/{TEI}date")) or "")
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


def _text(el: etree._Element | None) -> str | None:
    return plain_text(el) or None


def _find_documents(text: etree._Element, volume_id: str, uri: str) -> tuple[list[Entry], list[Reject]]:
    """The documents of a volume in reading order, with their chapters and starting pages."""
    entries: list[Entry] = []
    rejects: list[Reject] = []
    page: list[str | None] = [None]

    def visit(el: etree._Element, chapters: list[str]) -> None:
        for child in el:
            tag = child.tag
            if tag == PB:
                page[0] = child.get("n") or page[0]
            elif tag == DIV and child.get("type") == "document":
                entries.append(Entry(child, chapters, page[0]))
                page[0] = _last_page(child) or page[0]
            elif tag == ATTACHMENT and child.find(f".//{DIV}[@type='document']") is not None:
                visit(child, chapters)  # documents printed inside a stray enclosure are documents
            elif tag == ATTACHMENT:
                if entries:
                    entries[-1].trailing.append((child, page[0]))
                else:
                    rejects.append(Reject(uri, f"{volume_id} line {child.sourceline}",
                                          "attachment outside any document and before the first one: not stored"))
                page[0] = _last_page(child) or page[0]
            elif tag == DIV:
                head = child.find(HEAD)
                visit(child, chapters + ([heading_text(head)] if head is not None else []))
            elif tag in _CONTAINERS:
                visit(child, chapters)  # front/body/back/group: pages inside them still count
            elif isinstance(tag, str):
                page[0] = _last_page(child) or page[0]  # stray blocks: their pages count

    visit(text, [])
    return entries, rejects


def _last_page(el: etree._Element) -> str | None:
    last = None
    for pb in el.iter(PB):
        last = pb.get("n") or last
    return last
