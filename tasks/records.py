"""The data model: one definition of every record the pipeline produces.

Each normaliser (TEI, page text) yields these records; the warehouse derives the Arrow
schema of every lake table from the records' fields (``tasks/lake/schema.py``), so a field
added here is a column everywhere.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import NamedTuple

PARSER_VERSION = "1.2.0"  # 1.2.0: one naming of correspondents for TEI and page text

# A volume or document id as FRUS spells them (frus1938v03, d83): ASCII letters, digits, "-",
# "_" and "." (not first), at most 64 characters. Ids name lake partitions and URLs, so an id
# from a file is checked against this before anything is built from it.
ID_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")


def valid_id(value: object) -> bool:
    """Whether ``value`` is a well-formed FRUS volume or document id (:data:`ID_PATTERN`)."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


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
    reviewed: bool = False  # TEI read from the reviewed repository (tasks.lake.provenance)
    content_hash: str | None = None  # canonical text hash (tasks/dedupe.py), set on normalising
    lsh_bands: list[int] = field(default_factory=list)  # MinHash LSH band keys (tasks/dedupe.py),
    #            set on normalising; empty for texts too short to merge but on an exact hash
    parts: list[Part] = field(default_factory=list)
    footnotes: list[Footnote] = field(default_factory=list)


@dataclass(slots=True)
class Volume:
    """A FRUS volume's metadata from its teiHeader."""

    volume_id: str
    # The teiHeader's titles by their @type: complete, series, sub-series, volume-number, volume.
    title: str | None = None
    series_title: str | None = None
    sub_series_title: str | None = None

    volume_number: str | None = None
    volume_title: str | None = None
    publication_year: int | None = None  # the year of its publication statement
    editors: list[str] = field(default_factory=list)
    document_count: int = 0


@dataclass(slots=True)
class Reject:
    """Something that could not be normalised: the file, where in it, and why."""

    source_uri: str
    place: str | None
    reason: str


@dataclass(slots=True)
class ReferenceRow:
    """One row of an authority list (pocom, hsg people, gsh), as its CSV holds it: the list is
    the item's ``volume_id`` (``pocom_people``), ``record`` the row as a JSON object of strings."""

    row: int
    record: str


@dataclass(slots=True)
class Lineage:
    """Where a row came from; every lake row carries these columns."""

    source_uri: str
    source_sha256: str
    run_id: str
    parser_version: str = PARSER_VERSION


@dataclass
class ItemEntry:
    """What the lake knows of one source item (a row of the lake's ``items`` table)."""

    uri: str
    volume_id: str
    sha256: str
    version: str
    parser_version: str
    run_id: str
    ingested_at: str  # ISO time of the run that stored its rows
    documents: int
    source: str | None = None  # the source URI the item was read from
    name: str | None = None  # the item's name inside its source (volumes/frus1861.xml)
    rejects: int = 0
    withdrawn_run: str | None = None


@dataclass
class Failure:
    """A source item the last run that offered it could not read (a row of ``failures``, and
    one of ``rejects``). Kept until the item is read, or its source stops offering it: never
    one row per retry."""

    uri: str
    name: str
    source: str | None
    version: str
    reason: str
    run_id: str  # the run that first failed this way

    def same(self, other: Failure | None) -> bool:
        """The same failure again (same version of the item, same reason)."""
        return other is not None and (self.version, self.reason) == (other.version, other.reason)


class DuplicateLink(NamedTuple):
    """A verified duplicate link between two documents (``doc_a < doc_b``): a row of ``links``
    (with the run that made it), what clusters are made of."""

    doc_a: str
    doc_b: str
    method: str  # exact | near | cross-source
    similarity: float


class DuplicateRow(NamedTuple):
    """A member of a duplicate cluster (clusters of one are not reported): a row of
    ``duplicates`` (with the run that built its cluster).

    ``method`` and ``similarity`` describe the member's best verified link inside its cluster;
    the canonical member has a row too (``doc_key == canonical_key``).
    """

    cluster_id: str
    doc_key: str
    canonical_key: str
    method: str  # exact | near | cross-source
    similarity: float


@dataclass(slots=True, frozen=True)
class RunOutcome:
    """What a run's status means, decided here once: its Prefect state, ``frus ingest``'s
    exit status, and how ``frus status`` judges it."""

    state: str  # the Prefect state type: COMPLETED or FAILED (alerts fire, the UI is red)
    name: str  # the state's name
    exit_code: int  # frus ingest's exit status
    failure: bool  # frus status exits 1 when the last run that counts is one
    counts: bool = True  # False: says nothing of the lake (skipped, empty); frus status looks past it


RUN_OUTCOMES = {
    "completed": RunOutcome("COMPLETED", "Completed", 0, False),
    "skipped": RunOutcome("COMPLETED", "Skipped", 0, False, counts=False),  # another run held the lake
    "empty": RunOutcome("COMPLETED", "Empty", 3, False, counts=False),  # nothing offered or selected
    "partial": RunOutcome("FAILED", "Partial", 1, True),  # some items failed, others stored
    "failed": RunOutcome("FAILED", "Failed", 1, True),  # nothing could be read, or the run stopped
}


def run_outcome(status: str | None) -> RunOutcome:
    """The outcome of a run status (an unknown one, or a run that never finished: failed)."""
    return RUN_OUTCOMES.get(status or "", RUN_OUTCOMES["failed"])


@dataclass(slots=True)
class VolumeRow:
    """One item a run read (or failed to): a row of the run artifact's table."""

    name: str
    outcome: str  # new, changed, failed
    documents: int
    rejects: int
    seconds: float | None  # fetch + normalise-and-stage
    reasons: dict[str, int]  # reject reasons (for a failed item, its failure)


@dataclass
class RunReport:
    """What a run did; becomes its ``runs`` row and the Prefect artifact."""

    run_id: str
    source: str
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"  # then completed, partial, failed, empty (nothing offered), skipped
    items_seen: int = 0
    items_new: int = 0
    items_changed: int = 0
    items_unchanged: int = 0
    items_removed: int = 0
    items_failed: int = 0
    documents_added: int = 0
    documents_updated: int = 0
    documents_withdrawn: int = 0
    rejects: int = 0
    parser_version: str = PARSER_VERSION
    message: str = ""  # why a run was skipped, fell back to its mirror, or failed
    flow_run_id: str | None = None  # the Prefect flow run
    trigger: str = "manual"  # manual (frus ingest, a call), schedule, deployment (run by hand)
    refresh_seconds: float | None = None  # the warehouse refresh (included in finished_at)
    failures: list[str] = field(default_factory=list)  # not stored: in the artifact and summary
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase; not stored
    # (start, end) of each phase, seconds since the epoch: what a profiler lines its samples up
    # with (benchmarks/cpu_profile.py); not stored
    phase_spans: dict[str, tuple[float, float]] = field(default_factory=dict)

    def row(self) -> dict:
        """The ``runs`` row (the fields of :data:`NOT_STORED` stay in the summary)."""
        return {k: v for k, v in self.__dict__.items() if k not in NOT_STORED}


NOT_STORED = ("failures", "phases", "phase_spans")
"""Fields of :class:`RunReport` that are in the run's summary, not in its ``runs`` row."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
