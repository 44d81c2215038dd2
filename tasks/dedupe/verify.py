"""Verifying a candidate pair: shingle Jaccard, then the OCR-tolerant re-check, and the
metadata guards that veto a merge."""
from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
# difflib's SequenceMatcher in C: the same matching blocks, opcodes and ratios, about 5x faster
# (the OCR re-check of the LSH candidates was a third of a first ingest's dedupe at 50 copies)
from cydifflib import SequenceMatcher

from tasks.dedupe.model import (DEFAULT_OCR_FLOOR, DEFAULT_SHINGLE, DEFAULT_THRESHOLD, REPAIR_VOCABULARY,
                                DedupeDoc)
from tasks.dedupe.signatures import canonical_words, jaccard, shingle_hashes, words_and_shingles


def _near_word(a: str, b: str) -> bool:
    if a.isdigit() and b.isdigit():
        return False  # "73" vs "74" is a different despatch, not noise
    return SequenceMatcher(None, a, b, autojunk=False).ratio() >= 0.6


def repair(a: Sequence[str], b: Sequence[str]) -> list[str]:
    """``b`` with every short run of words that is a near-miss of its counterpart in ``a``
    (character noise, a split or glued word) replaced by that counterpart."""
    out: list[str] = []
    sm = SequenceMatcher(None, a, b, autojunk=False)
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


def verified_pairs(texts: dict[str, str], pairs: Sequence[tuple[str, str]],
                   threshold: float = DEFAULT_THRESHOLD) -> list[tuple[str, str, float]]:
    """The candidate ``pairs`` (doc keys, ``a`` the smaller) whose texts (``texts``: doc key
    to text, every key of ``pairs``) verify as near duplicates: ``(a, b, similarity)`` with
    :func:`near_similarity` at least ``threshold``, in the order of ``pairs``."""
    got = dict(zip(texts, words_and_shingles(list(texts.values()), DEFAULT_SHINGLE)))
    out = []
    for a, b in pairs:
        (words_a, sh_a), (words_b, sh_b) = got[a], got[b]
        sim = near_similarity(words_a, words_b, sh_a, sh_b, threshold)
        if sim >= threshold:
            out.append((a, b, sim))
    return out


def _vocabulary_overlap(a: Sequence[str], b: Sequence[str]) -> float:
    """Share of the smaller vocabulary (distinct words) found in the other. OCR noise leaves
    most words whole (one in seven damaged at 3 %); texts that share only their short words
    and numbers are no OCR pair, and the alignment (quadratic) is not tried on them."""
    x, y = set(a), set(b)
    return len(x & y) / min(len(x), len(y)) if x and y else 0.0


# ---------------------------------------------------------------- metadata guards

_TITLES = frozenset("mr mrs m messrs sir señor senor senhor lord earl viscount general gen hon the "
                    "de da di del von van baron count monsieur dr president his her excellency "
                    "to".split())


@lru_cache(maxsize=1 << 16)  # (senders and recipients repeat: the clusters' guard names each twice a link)
def _name(s: str | None) -> str | None:
    if not s:
        return None
    w = [t for t in canonical_words(_strip_accents(s)) if t not in _TITLES]
    return " ".join(w) or None


def _strip_accents(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


@lru_cache(maxsize=1 << 16)
def same_name(a: str | None, b: str | None) -> bool | None:
    """Loose person / office equality (None when either is unknown)."""
    x, y = _name(a), _name(b)
    if x is None or y is None:
        return None
    xs, ys = set(x.split()), set(y.split())
    if xs <= ys or ys <= xs or x.split()[-1] == y.split()[-1]:
        return True
    return SequenceMatcher(None, x, y, autojunk=False).ratio() >= 0.6


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
