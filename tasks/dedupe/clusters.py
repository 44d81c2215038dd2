"""Duplicate links and their clusters: the canonical member, and the whole-corpus run."""
from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable

from datasketch import MinHashLSH

from tasks.canonical import tier
from tasks.dedupe.cross_source import match_cross_source
from tasks.dedupe.model import (_STRENGTH, DEFAULT_CANDIDATE_THRESHOLD, DEFAULT_MIN_WORDS, DEFAULT_NUM_PERM,
                                DEFAULT_OCR_FLOOR, DEFAULT_SHINGLE, DEFAULT_THRESHOLD, MIN_AGREEMENT, DedupeDoc,
                                preferred_versions)
from tasks.dedupe.signatures import banded_agreement, canonical_words, minhash, shingle_hashes
from tasks.dedupe.verify import conflict, near_similarity
from tasks.records import DuplicateRow

Links = dict[tuple[str, str], tuple[str, float]]
"""Verified links between two doc_keys (the smaller first): (method, similarity)."""


def preference(d: DedupeDoc) -> tuple:
    """Sort key of the canonical member: its source (:mod:`tasks.canonical`), newest, doc_key."""
    return (tier(d.format, d.reviewed), -d.rank, d.doc_key)


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
        docs: documents; several versions of one ``doc_key`` collapse to the preferred one.
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
    items = sorted(preferred_versions(docs), key=lambda d: d.doc_key)
    n = len(items)
    words = [canonical_words(d.text) for d in items]
    hashes = [hashlib.sha256(" ".join(w).encode("utf-8")).hexdigest() for w in words]
    sh = [shingle_hashes(w, shingle) for w in words]
    links: Links = {}
    _exact_links(links, items, words, hashes)

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


def _exact_links(links: Links, items: list[DedupeDoc], words: list[list[str]], hashes: list[str]) -> None:
    """Link the documents of one content hash (not the empty text), unless their metadata conflict."""
    by_hash: dict[str, list[int]] = defaultdict(list)
    for i, h in enumerate(hashes):
        if words[i]:
            by_hash[h].append(i)
    for group in by_hash.values():
        for a in range(len(group)):
            for b in range(a + 1, len(group)):
                if not conflict(items[group[a]], items[group[b]]):
                    add_link(links, items[group[a]].doc_key, items[group[b]].doc_key, "exact", 1.0)


def add_link(links: Links, a: str, b: str, method: str, sim: float) -> None:
    """Record a link between ``a`` and ``b``, keeping the strongest of several."""
    key = (min(a, b), max(a, b))
    if key not in links or (_STRENGTH[method], -sim) < (_STRENGTH[links[key][0]], -links[key][1]):
        links[key] = (method, sim)


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
