"""Page texts recognised as their TEI documents (cross-source duplicates)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np
from datasketch import MinHashLSH

from tasks.dedupe.model import (DEFAULT_CANDIDATE_THRESHOLD, DEFAULT_CONTAINMENT, DEFAULT_NUM_PERM,
                                DEFAULT_SHINGLE, DEFAULT_THRESHOLD, DedupeDoc, Match, dedupe_input)
from tasks.dedupe.signatures import canonical_words, containment, jaccard, minhash, shingle_hashes
from tasks.dedupe.verify import _file_key, _name, conflict
from tasks.records import Document


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
