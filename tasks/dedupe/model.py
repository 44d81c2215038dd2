"""What deduplication reads of a document, its settings, and versions of one key."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from tasks.canonical import tier
from tasks.records import Document


DEFAULT_THRESHOLD = 0.8
DEFAULT_NUM_PERM = 128
DEFAULT_SHINGLE = 5
DEFAULT_MIN_WORDS = 50
DEFAULT_CANDIDATE_THRESHOLD = 0.2  # LSH recall floor: catches 3 %-noise copies (Jaccard ~0.3)
DEFAULT_OCR_FLOOR = 0.2  # pairs below this shingle Jaccard are never repaired
DEFAULT_CONTAINMENT = 0.9  # cross-source: share of the smaller shingle set found in the other
REPAIR_VOCABULARY = 0.6  # the OCR-tolerant re-check needs this share of the vocabulary shared
MIN_AGREEMENT = 3  # LSH candidates whose banded signature values agree in fewer places are not
#                   verified: 3 of 56 estimates a Jaccard of 0.05, far below the OCR floor (0.2)
MINHASH_SEED = 1
METHODS = ("exact", "near", "cross-source")
_STRENGTH = {"exact": 0, "cross-source": 1, "near": 2}  # which link describes a member best


@dataclass(frozen=True, slots=True)
class DedupeDoc:
    """What deduplication needs of a document.

    ``recipient`` is beyond the fields of the issue: circulars differ only in it.
    """

    doc_key: str
    format: str  # tei | hsg-text
    reviewed: bool
    text: str
    file_number: str | None = None
    date_min: datetime | None = None
    sender: str | None = None
    rank: int = 0  # larger is newer (run or ingest time)
    recipient: str | None = None


class Match(NamedTuple):
    """A page-text document recognised as a TEI document."""

    page_key: str
    tei_key: str
    block: str  # file_number | date | sender | lsh
    jaccard: float
    containment: float


def dedupe_input(doc: Document, rank: int = 0, reviewed: bool | None = None) -> DedupeDoc:
    """The dedupe view of a document.

    Args:
        doc: a normalised document.
        rank: larger is newer (run or ingest time); decides between versions and canonicals.
        reviewed: whether the document comes from a reviewed volume; by default the
            normaliser's ``Document.reviewed``.
    """
    if reviewed is None:
        reviewed = doc.format == "tei" and doc.reviewed
    return DedupeDoc(doc.doc_key, doc.format, reviewed, doc.text, doc.file_number,
                     doc.date_min, doc.sender, rank, doc.recipient)


def preferred_versions(docs: Iterable[DedupeDoc]) -> list[DedupeDoc]:
    """One document per ``doc_key``: the preferred version (:func:`tasks.canonical.tier`, then
    the highest ``rank``; the later one on a tie), in input order."""
    best: dict[str, DedupeDoc] = {}
    for d in docs:
        cur = best.get(d.doc_key)
        if cur is None or (tier(d.format, d.reviewed), -d.rank) <= (tier(cur.format, cur.reviewed), -cur.rank):
            best[d.doc_key] = d
    return list(best.values())
