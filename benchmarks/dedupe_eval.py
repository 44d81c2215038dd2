"""Labelled evaluation of tasks.dedupe on the corpus: precision / recall and timings.

    FRUS_CORPUS=../shared/corpus .venv/bin/python benchmarks/dedupe_eval.py

Positives: generated variants of real documents (reflowed, 1/2/3 % OCR-like noise with fixed
seeds, straight quotes, a paragraph left out, footnotes appended as on the web page) and the
seed page text with frus1938v03/d83. Negatives, the hardest look-alikes in the corpus: pairs by
the same sender on the same day, pairs with the same file-number prefix, and the pairs with the
highest shingle Jaccard whose headings name different correspondents or dates more than a day
apart (circulars, replies). A pair is predicted a duplicate when both land in one cluster of a
single find_duplicates run over the whole corpus plus the variants.
"""
from __future__ import annotations

import itertools
import os
import random
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tasks.dedupe import (  # noqa: E402
    DEFAULT_THRESHOLD, canonical_words, conflict, dedupe_input, find_duplicates, jaccard, minhash,
    shingle_hashes,
)
from tasks.normalise.page_text import parse_page_file  # noqa: E402
from tasks.normalise.tei import parse_volume  # noqa: E402

CORPUS = Path(os.environ.get("FRUS_CORPUS", REPO.parent / "shared" / "corpus")).resolve()
from tests.variants import ocr_noise, reflow  # noqa: E402


def variants(doc, i: int) -> list[tuple[str, str]]:
    t = doc.text
    out = [("reflow", reflow(t)), ("ocr1", ocr_noise(t, 0.01, i)), ("ocr2", ocr_noise(t, 0.02, 10**6 + i)),
           ("ocr3", ocr_noise(t, 0.03, 2 * 10**6 + i)),
           ("quotes", t.translate(str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})))]
    paras = t.split("\n")
    total = len(t.split())
    ok = [j for j in range(1, len(paras) - 1) if len(paras[j].split()) <= 0.15 * total]
    if ok:
        j = max(ok, key=lambda j: len(paras[j].split()))
        out.append(("paragraph", "\n".join(paras[:j] + paras[j + 1:])))
    if doc.footnotes:
        out.append(("footnotes", t + "\n" + "\n".join(f"{k}. {f.text}" for k, f in enumerate(doc.footnotes, 1))))
    return out


def main() -> None:
    t0 = time.perf_counter()
    docs = []
    for path in sorted((CORPUS / "frus" / "volumes").glob("*.xml")):
        docs += parse_volume(path).documents
    parse_s = time.perf_counter() - t0
    seed = parse_page_file(CORPUS / "seed" / "000_06e3c999c372cd2d.txt")
    d83 = parse_volume(CORPUS / "frus" / "excerpts" / "frus1938v03-d83.xml").documents[0]
    base = [dedupe_input(d) for d in docs] + [dedupe_input(seed), dedupe_input(d83)]
    by_key = {d.doc_key: d for d in base}

    # positives
    rng = random.Random(2024)
    pool = [d for d in docs if d.word_count >= 60]
    chosen = rng.sample(pool, 80)
    extra, positives = [], []
    for i, d in enumerate(chosen):
        for tag, text in variants(d, i):
            key = f"variant/{tag}/{d.doc_key}"
            extra.append(replace(by_key[d.doc_key], doc_key=key, text=text, reviewed=False))
            positives.append((d.doc_key, key, tag))
    positives.append((seed.doc_key, d83.doc_key, "seed-d83"))

    negatives, top_j = _negatives(docs, base, by_key, rng)

    n_pos, n_neg = len(positives), len(negatives)
    print(f"corpus: {len(docs)} documents from {CORPUS}")
    print(f"labelled pairs: {n_pos + n_neg} ({n_pos} positive, {n_neg} negative: "
          + ", ".join(f"{t} {sum(1 for x in negatives if x[2] == t)}" for t in ("same-sender-day", "file-prefix", "top-jaccard"))
          + f"; top-jaccard negatives span {min(top_j):.2f}-{max(top_j):.2f})")
    for threshold in (0.6, DEFAULT_THRESHOLD, 0.9):
        _score(threshold, base + extra, positives, negatives)
    t1 = time.perf_counter()
    rows = find_duplicates(base)
    dedupe_s = time.perf_counter() - t1
    print(f"time: parse {len(docs)} documents (19 volumes) {parse_s:.1f} s; "
          f"find_duplicates over {len(base)} documents {dedupe_s:.1f} s "
          f"({len({r.cluster_id for r in rows})} clusters, {len(rows)} rows)")


def _negatives(docs, base, by_key, rng) -> tuple[set[tuple[str, str, str]], list[float]]:
    """Labelled non-duplicates: same sender and day, same file-number prefix, and the pairs of
    highest Jaccard that a metadata conflict keeps apart (with their Jaccards)."""
    negatives: set[tuple[str, str, str]] = set()
    groups = defaultdict(list)
    for d in docs:
        if d.sender and d.date_min:
            groups[(d.sender, d.date_min.date())].append(d.doc_key)
    same_day = [tuple(sorted(p)) for g in groups.values() for p in itertools.combinations(g, 2)]
    rng.shuffle(same_day)
    negatives |= {(a, b, "same-sender-day") for a, b in same_day[:200]}
    prefix = defaultdict(list)
    for d in docs:
        if d.file_number and "/" in d.file_number:
            prefix[d.file_number.split("/")[0]].append(d.doc_key)
    same_prefix = [tuple(sorted(p)) for g in prefix.values() for p in itertools.combinations(g, 2)
                   if by_key[p[0]].file_number != by_key[p[1]].file_number]
    rng.shuffle(same_prefix)
    negatives |= {(a, b, "file-prefix") for a, b in same_prefix[:150]}
    from datasketch import MinHashLSH
    sh = {d.doc_key: shingle_hashes(canonical_words(d.text)) for d in base}
    lsh = MinHashLSH(threshold=0.3, num_perm=128)
    sigs = {k: minhash(s) for k, s in sh.items() if len(s) >= 20}
    for k, m in sigs.items():
        lsh.insert(k, m)
    top = []
    for k, m in sigs.items():
        for other in lsh.query(m):
            if k < other and conflict(by_key[k], by_key[other]) in ("date", "recipient", "sender"):
                top.append((jaccard(sh[k], sh[other]), k, other))
    top.sort(reverse=True)
    negatives |= {(a, b, "top-jaccard") for _, a, b in top[:150]}
    top_j = [j for j, _, _ in top[:150]]
    return negatives, top_j


def _score(threshold: float, docs, positives, negatives) -> None:
    """Print the precision and recall of ``find_duplicates`` at ``threshold`` on the labelled pairs."""
    n_pos = len(positives)
    rows = find_duplicates(docs, threshold=threshold)
    cluster = {r.doc_key: r.cluster_id for r in rows}

    def dup(a: str, b: str) -> bool:
        return a in cluster and cluster.get(a) == cluster.get(b)

    tp = sum(dup(a, b) for a, b, _ in positives)
    fp = sum(dup(a, b) for a, b, _ in negatives)
    prec = tp / (tp + fp) if tp + fp else 1.0
    missed = defaultdict(int)
    for a, b, tag in positives:
        if not dup(a, b):
            missed[tag] += 1
    fps = sorted({t for a, b, t in negatives if dup(a, b)})
    print(f"threshold {threshold:.2f}: precision {prec:.3f} recall {tp / n_pos:.3f} "
          f"(tp {tp}, fp {fp}, fn {n_pos - tp}; missed by kind {dict(missed)}; fp kinds {fps}; "
          f"{len(set(cluster.values()))} clusters)")


if __name__ == "__main__":
    main()
