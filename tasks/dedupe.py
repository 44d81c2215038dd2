"""Deduplication: content hashes, versions, cross-source matches and near-duplicate clusters.

Pure functions over :class:`DedupeDoc` (built from a :class:`~tasks.records.Document` by
:func:`dedupe_input`); no I/O, no Prefect. Four relations, strongest first:

* **Versions** -- records with the same ``doc_key`` are versions of one document; the one with
  the highest ``rank`` (run / ingest time) wins (:func:`newest_versions`). Older versions stay in
  the lake; :func:`find_duplicates` only ever sees the newest one per key, so feeding it the same
  documents twice changes nothing.
* **Exact** -- same :func:`content_hash`: sha256 of the canonical text (NFKC, case-folded, the
  words -- runs of letters and digits -- joined by single spaces, so punctuation, quotes,
  symbols and line breaks only separate words). Digits
  are kept as they are: footnote markers glued to words ("Fo7") are removed by the normalisers,
  not here, because stripping digits would merge documents that differ only in a number.
* **Cross-source** -- a page-text document without a URL (``hsg-text/…``) is matched to its TEI
  document by :func:`match_cross_source`: blocking on the file number, else same day or same
  sender, then verified by word-shingle Jaccard or containment.
* **Near** -- MinHash LSH (datasketch) over word k-shingles of the canonical text finds
  candidates; each is verified by the exact Jaccard of the two shingle sets. A candidate pair
  that misses the threshold but shares at least ``ocr_floor`` of its shingles gets a second,
  OCR-tolerant verification (:func:`repaired_jaccard`): the two word sequences are aligned and
  words that differ only by a few characters ("Sevoard"/"Seward", "1etter"/"letter") are
  counted as equal before the Jaccard is taken again. Scattered character noise damages one
  word in seven at 3 % noise, which kills half the 5-shingles; look-alike documents differ by
  whole words and clauses, which the repair does not touch.

Guards against accidental merges (each one seen in the corpus):

* Documents shorter than ``min_words`` words merge only on an exact hash (short telegrams and
  acknowledgements share most of their shingles with one another).
* Metadata conflicts veto every merge, exact included, because ``Document.text`` leaves out
  the heading: circular instructions sent the same day to different envoys (frus1897 d444 to
  Uhl and d449 to Bayard, Jaccard 0.81) differ only there. A conflict is: both dates known and
  more than one day apart, both file numbers known and different, or both senders / both
  recipients known and different names (compared loosely so that OCR variants such as
  "Seivard"/"Seward" or "Duke de Louié"/"Duke de Soulé" still agree).

Canonical member of a cluster, in order of preference: reviewed TEI, unreviewed TEI, page text;
then the highest ``rank`` (newest); then the smallest ``doc_key``.

Scale: :func:`find_duplicates` holds every document (the evaluation's whole-corpus run). The
pipeline stores :func:`dedupe_keys` (content hash and LSH band keys) with each document
version, and ``tasks/lake/dedupe.py`` matches only a run's changed documents against them,
with the verification, vetoes and clustering defined here.
"""
from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from datasketch import MinHash, MinHashLSH

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


class DuplicateRow(NamedTuple):
    """A member of a duplicate cluster (clusters of one are not reported).

    ``method`` and ``similarity`` describe the member's best verified link inside its cluster;
    the canonical member has a row too (``doc_key == canonical_key``).
    """

    cluster_id: str
    doc_key: str
    canonical_key: str
    method: str  # exact | near | cross-source
    similarity: float


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


def newest_versions(docs: Iterable[DedupeDoc]) -> list[DedupeDoc]:
    """One document per ``doc_key``: the highest ``rank`` (the later one on a tie), in input order."""
    best: dict[str, DedupeDoc] = {}
    for d in docs:
        cur = best.get(d.doc_key)
        if cur is None or d.rank >= cur.rank:
            best[d.doc_key] = d
    return list(best.values())


# ---------------------------------------------------------------- canonical text and hashes

_WORD = re.compile(r"[^\W_]+")


def canonical_words(text: str) -> list[str]:
    """NFKC, case-folded words: maximal runs of letters and digits (``\\w`` minus ``_``);
    punctuation, symbols, white space and controls only separate words."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def canonical_text(text: str) -> str:
    return " ".join(canonical_words(text))


def content_hash(text: str) -> str:
    """sha256 hex of the canonical text: equal for reflowed, re-quoted, re-punctuated copies."""
    return hashlib.sha256(canonical_text(text).encode("utf-8")).hexdigest()


@lru_cache(maxsize=1 << 20)
def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


_M1, _M2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)
_S33, _P = np.uint64(33), np.uint64(0x100000001B3)


def shingle_hashes(words: Sequence[str], k: int = DEFAULT_SHINGLE) -> np.ndarray:
    """Sorted unique 64-bit hashes of the word k-shingles (a shorter text is one shingle)."""
    if not words:
        return np.zeros(0, dtype=np.uint64)
    h = np.fromiter(map(_word_hash, words), dtype=np.uint64, count=len(words))
    k = min(k, len(h))
    n = len(h) - k + 1
    acc = np.zeros(n, dtype=np.uint64)
    for j in range(k):  # polynomial rolling combination; uint64 arithmetic wraps
        acc = acc * _P + h[j:j + n]
    acc ^= acc >> _S33  # murmur3 finaliser: spread the bits
    acc *= _M1
    acc ^= acc >> _S33
    acc *= _M2
    acc ^= acc >> _S33
    return np.unique(acc)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two sorted unique hash arrays."""
    if not len(a) and not len(b):
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def containment(a: np.ndarray, b: np.ndarray) -> float:
    """Share of the smaller set found in the larger."""
    if not len(a) or not len(b):
        return 0.0
    return len(np.intersect1d(a, b, assume_unique=True)) / min(len(a), len(b))


@lru_cache(maxsize=8)
def _permutations(num_perm: int) -> np.ndarray:
    return MinHash(num_perm=num_perm, seed=MINHASH_SEED).permutations


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def minhash(shingles: np.ndarray, num_perm: int = DEFAULT_NUM_PERM) -> MinHash:
    """A datasketch MinHash (scheme affine32, seed 1) of a shingle-hash array.

    Same values as ``MinHash(num_perm, seed=1, hashfunc=int).update_batch(h32)`` with
    ``h32`` the shingle hashes folded to 32 bits, computed in chunks without the Python loop.
    """
    a, b = _permutations(num_perm)
    values = np.full(num_perm, np.uint32(0xFFFFFFFF), dtype=np.uint32)
    h32 = _fmix32(((shingles >> np.uint64(32)) ^ shingles).astype(np.uint32))
    for start in range(0, len(h32), 4096):
        chunk = h32[start:start + 4096, None]
        values = np.minimum(values, (chunk * a + b).min(axis=0))
    return MinHash(num_perm=num_perm, seed=MINHASH_SEED, hashvalues=values,
                   permutations=(a, b), scheme="affine32")


def minhash_signature(text: str, num_perm: int = DEFAULT_NUM_PERM,
                      shingle: int = DEFAULT_SHINGLE) -> np.ndarray:
    """The storable signature of a text (``uint32[num_perm]``); rebuild with ``MinHash(
    num_perm, seed=1, hashvalues=sig, scheme="affine32")``."""
    return minhash(shingle_hashes(canonical_words(text), shingle), num_perm).hashvalues.copy()


@lru_cache(maxsize=8)
def lsh_shape(num_perm: int = DEFAULT_NUM_PERM, threshold: float = DEFAULT_CANDIDATE_THRESHOLD) -> tuple[int, int]:
    """(bands, rows per band) of datasketch's MinHashLSH for this threshold."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


def band_keys(hashvalues: np.ndarray, num_perm: int = DEFAULT_NUM_PERM) -> list[int]:
    """One signed 64-bit key per LSH band of a signature: two documents are LSH candidates
    exactly when they share a (band, key) pair, as in datasketch's MinHashLSH. Bands of at
    most two values are packed losslessly; longer ones are hashed."""
    b, r = lsh_shape(num_perm)
    keys = []
    for i in range(b):
        band = hashvalues[i * r:(i + 1) * r].astype(np.uint64)
        if r <= 2:
            key = int(band[0]) << 32 | (int(band[1]) if r == 2 else 0)
        else:
            key = int.from_bytes(hashlib.blake2b(band.tobytes(), digest_size=8).digest(), "little")
        keys.append(key - (1 << 64) if key >= 1 << 63 else key)
    return keys


def banded_agreement(a: np.ndarray, b: np.ndarray, num_perm: int = DEFAULT_NUM_PERM) -> int:
    """How many of the banded signature values two signatures share (the values the band
    keys hold: 56 of 128 at the default shape). ``tasks/lake/dedupe.py`` computes the same from
    stored band keys in SQL."""
    bands, rows = lsh_shape(num_perm)
    return int(np.count_nonzero(a[:bands * rows] == b[:bands * rows]))


def dedupe_keys(text: str, min_words: int = DEFAULT_MIN_WORDS) -> tuple[str, list[int]]:
    """What a stored document version carries for deduplication: its content hash, and its
    LSH band keys (none under ``min_words`` words: such texts merge on an exact hash only)."""
    words = canonical_words(text)
    digest = hashlib.sha256(" ".join(words).encode("utf-8")).hexdigest()
    if len(words) < min_words:
        return digest, []
    return digest, band_keys(minhash(shingle_hashes(words)).hashvalues)


# ---------------------------------------------------------------- OCR-tolerant verification

def _near_word(a: str, b: str) -> bool:
    if a.isdigit() and b.isdigit():
        return False  # "73" vs "74" is a different despatch, not noise
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= 0.6


def repair(a: Sequence[str], b: Sequence[str]) -> list[str]:
    """``b`` with every short run of words that is a near-miss of its counterpart in ``a``
    (character noise, a split or glued word) replaced by that counterpart."""
    out: list[str] = []
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "replace" and i2 - i1 <= 3 and j2 - j1 <= 3:
            x, y = a[i1:i2], b[j1:j2]
            if len(x) == len(y) and all(_near_word(p, q) for p, q in zip(x, y)):
                out.extend(x)
                continue
            if _near_word("".join(x), "".join(y)):
                out.extend(x)
                continue
        out.extend(b[j1:j2])
    return out


def repaired_jaccard(a: Sequence[str], b: Sequence[str], k: int = DEFAULT_SHINGLE) -> float:
    """Jaccard of the k-shingles of ``a`` and of ``b`` repaired against ``a``."""
    return jaccard(shingle_hashes(a, k), shingle_hashes(repair(a, b), k))


# ---------------------------------------------------------------- metadata guards

_TITLES = frozenset("mr mrs m messrs sir señor senor senhor lord earl viscount general gen hon the "
                    "de da di del von van baron count monsieur dr president his her excellency "
                    "to".split())


def _name(s: str | None) -> str | None:
    if not s:
        return None
    w = [t for t in canonical_words(_strip_accents(s)) if t not in _TITLES]
    return " ".join(w) or None


def _strip_accents(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def same_name(a: str | None, b: str | None) -> bool | None:
    """Loose person / office equality (None when either is unknown)."""
    x, y = _name(a), _name(b)
    if x is None or y is None:
        return None
    xs, ys = set(x.split()), set(y.split())
    if xs <= ys or ys <= xs or x.split()[-1] == y.split()[-1]:
        return True
    return difflib.SequenceMatcher(None, x, y, autojunk=False).ratio() >= 0.6


def _file_key(f: str | None) -> str | None:
    return "".join(f.casefold().split()) if f else None


def conflict(a: DedupeDoc, b: DedupeDoc) -> str | None:
    """Why two documents cannot be one (date, file_number, sender, recipient), or None."""
    if a.date_min and b.date_min and abs((a.date_min.date() - b.date_min.date()).days) > 1:
        return "date"
    fa, fb = _file_key(a.file_number), _file_key(b.file_number)
    if fa and fb and fa != fb:
        return "file_number"
    if same_name(a.sender, b.sender) is False:
        return "sender"
    if same_name(a.recipient, b.recipient) is False:
        return "recipient"
    return None


# ---------------------------------------------------------------- cross-source

def _as_input(d: Document | DedupeDoc) -> DedupeDoc:
    return d if isinstance(d, DedupeDoc) else dedupe_input(d)


def match_cross_source(page_docs: Iterable[Document | DedupeDoc],
                       tei_docs: Iterable[Document | DedupeDoc],
                       threshold: float = DEFAULT_THRESHOLD, shingle: int = DEFAULT_SHINGLE,
                       min_containment: float = DEFAULT_CONTAINMENT,
                       num_perm: int = DEFAULT_NUM_PERM) -> list[Match]:
    """Match page-text documents without a URL (``hsg-text/…``) to their TEI documents.

    Candidates come from the first non-empty block: same file number, same day, same sender;
    when a page has none of these keys (or its block is empty), from a MinHash LSH over the TEI
    documents. A candidate is accepted when the shingle Jaccard reaches ``threshold`` or the
    containment (the page text lacks the dateline; the TEI text lacks the title) reaches
    ``min_containment``, and no metadata conflict vetoes it. Each page gets its best match.
    """
    pages = [p for p in map(_as_input, page_docs) if p.doc_key.startswith("hsg-text/")]
    teis = [t for t in map(_as_input, tei_docs) if t.format == "tei"]
    if not pages or not teis:
        return []
    by_file, by_day, by_sender = defaultdict(list), defaultdict(list), defaultdict(list)
    for i, t in enumerate(teis):
        if t.file_number:
            by_file[_file_key(t.file_number)].append(i)
        if t.date_min:
            by_day[t.date_min.date()].append(i)
        if (n := _name(t.sender)):
            by_sender[n.split()[-1]].append(i)
    sh_cache: dict[int, np.ndarray] = {}

    def tei_sh(i: int) -> np.ndarray:
        if i not in sh_cache:
            sh_cache[i] = shingle_hashes(canonical_words(teis[i].text), shingle)
        return sh_cache[i]

    lsh: MinHashLSH | None = None
    out: list[Match] = []
    for p in pages:
        psh = shingle_hashes(canonical_words(p.text), shingle)
        blocks = [("file_number", by_file.get(_file_key(p.file_number), []) if p.file_number else []),
                  ("date", by_day.get(p.date_min.date(), []) if p.date_min else []),
                  ("sender", by_sender.get(_name(p.sender).split()[-1], []) if _name(p.sender) else [])]
        block, cands = next(((b, c) for b, c in blocks if c), ("lsh", []))
        if block == "lsh":
            if lsh is None:
                lsh = MinHashLSH(threshold=DEFAULT_CANDIDATE_THRESHOLD, num_perm=num_perm)
                for i in range(len(teis)):
                    lsh.insert(i, minhash(tei_sh(i), num_perm))
            cands = lsh.query(minhash(psh, num_perm))
        best: Match | None = None
        for i in cands:
            if conflict(p, teis[i]):
                continue
            j, c = jaccard(psh, tei_sh(i)), containment(psh, tei_sh(i))
            if (j >= threshold or c >= min_containment) and (best is None or (c, j) > (best.containment, best.jaccard)):
                best = Match(p.doc_key, teis[i].doc_key, block, j, c)
        if best:
            out.append(best)
    return out


# ---------------------------------------------------------------- clusters

def preference(d: DedupeDoc) -> tuple:
    """Sort key of the canonical member: reviewed TEI, TEI, page text; newest; doc_key."""
    tier = 0 if d.format == "tei" and d.reviewed else 1 if d.format == "tei" else 2
    return (tier, -d.rank, d.doc_key)


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def find_duplicates(docs: Iterable[DedupeDoc], threshold: float = DEFAULT_THRESHOLD,
                    num_perm: int = DEFAULT_NUM_PERM, shingle: int = DEFAULT_SHINGLE,
                    min_words: int = DEFAULT_MIN_WORDS,
                    candidate_threshold: float = DEFAULT_CANDIDATE_THRESHOLD,
                    ocr_floor: float = DEFAULT_OCR_FLOOR) -> list[DuplicateRow]:
    """Cluster exact, near and cross-source duplicates; one row per member of each cluster.

    Args:
        docs: documents; several versions of one ``doc_key`` collapse to the newest.
        threshold: minimum verified similarity (shingle Jaccard, or repaired Jaccard for
            OCR-damaged pairs) of a near-duplicate; also the cross-source Jaccard.
        num_perm: MinHash permutations.
        shingle: words per shingle.
        min_words: shorter documents merge only on an exact hash.
        candidate_threshold: the LSH's own threshold (lower finds noisier copies, costs more).
        ocr_floor: shingle Jaccard from which the OCR-tolerant verification is tried.

    Returns:
        Rows sorted by cluster then doc_key; documents without duplicates have none.
    """
    items = sorted(newest_versions(docs), key=lambda d: d.doc_key)
    n = len(items)
    words = [canonical_words(d.text) for d in items]
    hashes = [hashlib.sha256(" ".join(w).encode("utf-8")).hexdigest() for w in words]
    sh = [shingle_hashes(w, shingle) for w in words]
    links: Links = {}

    by_hash: dict[str, list[int]] = defaultdict(list)
    for i, h in enumerate(hashes):
        if words[i]:
            by_hash[h].append(i)
    for group in by_hash.values():
        for a in range(len(group)):
            for b in range(a + 1, len(group)):
                if not conflict(items[group[a]], items[group[b]]):
                    add_link(links, items[group[a]].doc_key, items[group[b]].doc_key, "exact", 1.0)

    lsh = MinHashLSH(threshold=candidate_threshold, num_perm=num_perm)
    long_docs = [i for i in range(n) if len(words[i]) >= min_words]
    sigs = {}
    with lsh.insertion_session() as session:
        for i in long_docs:
            sigs[i] = minhash(sh[i], num_perm)
            session.insert(i, sigs[i], check_duplication=False)
    for i in long_docs:
        for j in lsh.query(sigs[i]):
            if j <= i or hashes[i] == hashes[j]:
                continue
            if banded_agreement(sigs[i].hashvalues, sigs[j].hashvalues, num_perm) < MIN_AGREEMENT:
                continue  # one or two chance band collisions: far from similar
            if conflict(items[i], items[j]):  # (the cheap test first)
                continue
            sim = near_similarity(words[i], words[j], sh[i], sh[j], threshold, shingle, ocr_floor)
            if sim >= threshold:
                add_link(links, items[i].doc_key, items[j].doc_key, "near", sim)

    pages = [d for d in items if d.doc_key.startswith("hsg-text/")]
    for m in match_cross_source(pages, [d for d in items if d.format == "tei"], threshold, shingle,
                                num_perm=num_perm):
        add_link(links, m.page_key, m.tei_key, "cross-source", max(m.jaccard, m.containment))
    return cluster({d.doc_key: d for d in items}, links)


Links = dict[tuple[str, str], tuple[str, float]]
"""Verified links between two doc_keys (the smaller first): (method, similarity)."""


def add_link(links: Links, a: str, b: str, method: str, sim: float) -> None:
    """Record a link between ``a`` and ``b``, keeping the strongest of several."""
    key = (min(a, b), max(a, b))
    if key not in links or (_STRENGTH[method], -sim) < (_STRENGTH[links[key][0]], -links[key][1]):
        links[key] = (method, sim)


def near_similarity(words_a: Sequence[str], words_b: Sequence[str], sh_a: np.ndarray, sh_b: np.ndarray,
                    threshold: float = DEFAULT_THRESHOLD, shingle: int = DEFAULT_SHINGLE,
                    ocr_floor: float = DEFAULT_OCR_FLOOR) -> float:
    """The verified similarity of an LSH candidate pair (``a`` the smaller doc_key): shingle
    Jaccard, or the OCR-tolerant repaired Jaccard when that is between ``ocr_floor`` and
    ``threshold`` (the longer text is the reference)."""
    sim = jaccard(sh_a, sh_b)
    if ocr_floor <= sim < threshold and _vocabulary_overlap(words_a, words_b) >= REPAIR_VOCABULARY:
        a, b = (words_a, words_b) if len(words_a) >= len(words_b) else (words_b, words_a)
        sim = max(sim, repaired_jaccard(a, b, shingle))
    return sim


def _vocabulary_overlap(a: Sequence[str], b: Sequence[str]) -> float:
    """Share of the smaller vocabulary (distinct words) found in the other. OCR noise leaves
    most words whole (one in seven damaged at 3 %); texts that share only their short words
    and numbers are no OCR pair, and the alignment (quadratic) is not tried on them."""
    x, y = set(a), set(b)
    return len(x & y) / min(len(x), len(y)) if x and y else 0.0


def cluster(docs: dict[str, DedupeDoc], links: Links) -> list[DuplicateRow]:
    """Clusters from verified links; one row per member of each cluster of two or more.

    Strongest links are joined first; a link that would put two conflicting documents in one
    cluster (a copy without a recipient bridging two circulars) is dropped. ``docs`` must
    hold every document a link names.
    """
    keys = sorted({k for pair in links for k in pair})
    index = {k: i for i, k in enumerate(keys)}
    items = [docs[k] for k in keys]
    uf = _UnionFind(len(keys))
    groups: dict[int, list[int]] = {i: [i] for i in range(len(keys))}
    for (a, b), (method, sim) in sorted(links.items(), key=lambda kv: (_STRENGTH[kv[1][0]], -kv[1][1], kv[0])):
        ri, rj = uf.find(index[a]), uf.find(index[b])
        if ri != rj:
            if any(conflict(items[x], items[y]) for x in groups[ri] for y in groups[rj]):
                continue
            uf.union(ri, rj)
            root = uf.find(ri)
            merged = groups.pop(ri) + groups.pop(rj)
            groups[root] = merged
    best: dict[int, tuple[str, float]] = {}
    for (a, b), (method, sim) in links.items():
        i, j = index[a], index[b]
        if uf.find(i) != uf.find(j):
            continue
        for x in (i, j):
            if x not in best or (_STRENGTH[method], -sim) < (_STRENGTH[best[x][0]], -best[x][1]):
                best[x] = (method, sim)
    rows: list[DuplicateRow] = []
    for group in groups.values():
        if len(group) < 2:
            continue
        canon = min((items[i] for i in group), key=preference).doc_key
        cid = hashlib.sha256(canon.encode("utf-8")).hexdigest()[:16]
        for i in group:
            method, sim = best[i]
            rows.append(DuplicateRow(cid, items[i].doc_key, canon, method, round(sim, 4)))
    rows.sort(key=lambda r: (r.cluster_id, r.doc_key))
    return rows
