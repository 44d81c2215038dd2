"""The data model: one definition of every record the pipeline produces.

Each normaliser (TEI, page text) yields these records; the warehouse derives the Arrow
schema of every lake table from the dataclass fields (see ``warehouse/schema.py``), so a
field added here is a column everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

PARSER_VERSION = "1.1.0"


@dataclass(slots=True)
class Part:
    """One block of a document, in reading order."""

    doc_key: str
    seq: int
    kind: str  # heading, dateline, paragraph, item, quote, row, closer, signature, salute,
    #            postscript, attachment, figure
    text: str
    label: str | None = None  # printed label of an item ("1.", "(a)") or attachment note
    path: str | None = None  # full item path ("1.(a)")
    page: str | None = None  # page number as printed (pb/@n)
    attachment: int | None = None  # 1.. for blocks inside an enclosure; None in the body


@dataclass(slots=True)
class Footnote:
    """A footnote of a document, keyed by its xml:id (``@n`` repeats across pages)."""

    doc_key: str
    note_id: str
    n: str | None
    text: str
    part_seq: int | None  # the part that holds its marker
    page: str | None = None


@dataclass(slots=True)
class Document:
    """A document: metadata, plain text, and its parts and footnotes."""

    doc_key: str  # volume_id/doc_id
    volume_id: str
    doc_id: str
    format: str = "tei"  # tei | hsg-text
    url: str | None = None
    doc_number: str | None = None
    subtype: str | None = None
    chapter_path: list[str] = field(default_factory=list)
    source_notes: list[str] = field(default_factory=list)
    file_number: str | None = None
    doc_type: str | None = None
    despatch_number: str | None = None
    is_extract: bool = False
    is_translation: bool = False
    is_paraphrase: bool = False
    archive_citation: str | None = None
    classification: str | None = None
    title: str | None = None
    sender: str | None = None
    sender_role: str | None = None
    recipient: str | None = None
    recipient_role: str | None = None
    place: str | None = None
    date_text: str | None = None
    date_min: datetime | None = None  # wall-clock time as written
    date_max: datetime | None = None
    date_min_iso: str | None = None  # the value as given, offset kept ("…+01:00")
    date_max_iso: str | None = None
    signature: str | None = None
    page_start: str | None = None
    page_end: str | None = None
    text: str = ""
    word_count: int = 0
    reviewed: bool = False  # from a reviewed volume (TEI with @subtype / frus:doc-dateTime)
    content_hash: str | None = None  # canonical text hash (tasks/dedupe.py), set on normalising
    parts: list[Part] = field(default_factory=list)
    footnotes: list[Footnote] = field(default_factory=list)


@dataclass(slots=True)
class Volume:
    """A FRUS volume's metadata from its teiHeader."""

    volume_id: str
    title: str | None = None
    series_title: str | None = None
    sub_series_title: str | None = None
    volume_number: str | None = None
    volume_title: str | None = None
    publication_year: int | None = None
    editors: list[str] = field(default_factory=list)
    document_count: int = 0


@dataclass(slots=True)
class Reject:
    """Something that could not be normalised: the file, where in it, and why."""

    source_uri: str
    place: str | None
    reason: str


@dataclass(slots=True)
class Lineage:
    """Where a row came from; every lake row carries these columns."""

    source_uri: str
    source_sha256: str
    run_id: str
    parser_version: str = PARSER_VERSION
