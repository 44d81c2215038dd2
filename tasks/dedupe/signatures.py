"""Canonical text, content hashes, word shingles, MinHash signatures and LSH band keys:
what each document version stores once (:func:`dedupe_keys`)."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from functools import lru_cache

import numpy as np
from datasketch import MinHash, MinHashLSH

from tasks.dedupe.model import (DEFAULT_CANDIDATE_THRESHOLD, DEFAULT_MIN_WORDS, DEFAULT_NUM_PERM,
                                DEFAULT_SHINGLE, MINHASH_SEED)
from tasks.dedupe.words import canonical_words, encoded_words


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
    return np.unique(_rolled(h, min(k, len(h))))


def words_and_shingles(texts: Sequence[str], k: int = DEFAULT_SHINGLE) -> list[tuple[list[str], np.ndarray]]:
    """``(canonical_words(t), shingle_hashes(canonical_words(t), k))`` of each text (what the
    dedupe verifies candidates on), from :func:`encoded_words` a chunk at a time: each
    distinct word of a chunk hashed once."""
    out: list[tuple[list[str], np.ndarray]] = []
    for chunk in _chunks(texts):
        words = encoded_words(chunk)
        vocabulary = words.dictionary.to_pylist()
        hashes = _word_hashes(vocabulary, words.indices)
        for first, count in zip(words.firsts.tolist(), words.counts.tolist()):
            own = words.indices[first:first + count].tolist()
            shingles = (np.unique(_rolled(hashes[first:first + count], min(k, count))) if count
                        else np.zeros(0, dtype=np.uint64))
            out.append(([vocabulary[i] for i in own], shingles))
    return out


def _word_hashes(vocabulary: list[str], indices: np.ndarray) -> np.ndarray:
    """The hash of each word ``vocabulary[i]`` of ``indices`` (each distinct word hashed once)."""
    return np.fromiter(map(_word_hash, vocabulary), dtype=np.uint64, count=len(vocabulary))[indices]


def _rolled(h: np.ndarray, k: int) -> np.ndarray:
    """The hash of each run of ``k`` consecutive word hashes of ``h`` (``len(h) - k + 1``)."""
    n = len(h) - k + 1
    acc = np.zeros(n, dtype=np.uint64)
    for j in range(k):  # polynomial rolling combination; uint64 arithmetic wraps
        acc = acc * _P + h[j:j + n]
    acc ^= acc >> _S33  # murmur3 finaliser: spread the bits
    acc *= _M1
    acc ^= acc >> _S33
    acc *= _M2
    acc ^= acc >> _S33
    return acc


def _hash32(shingles: np.ndarray) -> np.ndarray:
    """Shingle hashes folded to the 32 bits a MinHash takes."""
    return _fmix32(((shingles >> np.uint64(32)) ^ shingles).astype(np.uint32))


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
    h32 = _hash32(shingles)
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
    return dedupe_keys_of([text], min_words)[0]


# dedupe_keys_of and words_and_shingles take their texts in chunks of about this many
# characters: a chunk's code points (4 bytes each), word bytes and hashes are numpy arrays,
# some 30 bytes a character at once.
CHUNK_CHARS = 2_000_000


def _chunks(texts: Sequence[str]) -> Iterator[Sequence[str]]:
    """``texts`` in runs of about ``CHUNK_CHARS`` characters (a longer text is a run of its own)."""
    start, size = 0, 0
    for end, text in enumerate(texts, start=1):
        size += len(text)
        if size >= CHUNK_CHARS or end == len(texts):
            yield texts[start:end]
            start, size = end, 0


def dedupe_keys_of(texts: Sequence[str], min_words: int = DEFAULT_MIN_WORDS,
                   shingle: int = DEFAULT_SHINGLE, num_perm: int = DEFAULT_NUM_PERM) -> list[tuple[str, list[int]]]:
    """:func:`dedupe_keys` of many texts (a volume's documents) at once: the values of
    ``band_keys(minhash(shingle_hashes(words)).hashvalues)``, with each distinct word hashed
    once, the shingles and MinHash minima of all texts computed together in numpy, and only the
    permutations the bands hold (56 of 128)."""
    return [keys for chunk in _chunks(texts) for keys in _keys_of_chunk(chunk, min_words, shingle, num_perm)]


def _keys_of_chunk(texts: Sequence[str], min_words: int, shingle: int, num_perm: int) -> list[tuple[str, list[int]]]:
    words = encoded_words(texts)
    digests = [hashlib.sha256(c).hexdigest() for c in words.canonical_texts()]
    counts = words.counts
    keys: list[list[int]] = [[] for _ in texts]
    long = np.flatnonzero(counts >= min_words)
    if len(long):
        hashes = None
        # (a text shorter than the shingle is one shingle of its length, as in shingle_hashes)
        ks = np.minimum(counts[long], shingle)
        for k in np.unique(ks).tolist():
            group = long[ks == k]
            if k == 0:  # no words (min_words 0): the empty MinHash
                empty = band_keys(minhash(np.zeros(0, dtype=np.uint64), num_perm).hashvalues, num_perm)
                got = [empty] * len(group)
            else:
                if hashes is None:
                    hashes = _word_hashes(words.dictionary.to_pylist(), words.indices)
                got = _band_keys_of(hashes, words.firsts[group], counts[group], k, num_perm)
            for i, one in zip(group.tolist(), got):
                keys[i] = one
    return list(zip(digests, keys))


def _band_keys_of(hashes: np.ndarray, firsts: np.ndarray, lengths: np.ndarray, k: int,
                  num_perm: int) -> list[list[int]]:
    """The band keys of the texts whose word hashes are ``hashes[firsts[t]:firsts[t] +
    lengths[t]]``, of at least ``k`` words each, shingled by ``k`` (see dedupe_keys_of)."""
    counts = (lengths - k + 1).astype(np.int64)  # shingles a text
    # the shingles of all the words end to end, then those that lie inside one text (text t's
    # start at its first word)
    rolled = _rolled(hashes, k)
    h32 = _hash32(rolled[np.repeat(firsts, counts) + _ranks(counts)])
    bands, rows = lsh_shape(num_perm)
    values = _segment_minima(h32, counts, num_perm, bands * rows)
    if rows > 2:
        return [band_keys(np.pad(v, (0, num_perm - bands * rows)), num_perm) for v in values]
    v = values[:, :bands * rows].astype(np.uint64).reshape(len(counts), bands, rows)
    packed = v[:, :, 0] << np.uint64(32)
    if rows == 2:
        packed |= v[:, :, 1]
    return packed.view(np.int64).tolist()


def _ranks(counts: np.ndarray) -> np.ndarray:
    """0, 1, … counts[0]-1, 0, 1, … counts[1]-1, …"""
    ends = np.cumsum(counts)
    return np.arange(ends[-1]) - np.repeat(ends - counts, counts)


def _segment_minima(h32: np.ndarray, counts: np.ndarray, num_perm: int, used: int,
                    chunk: int = 8192) -> np.ndarray:
    """The first ``used`` of ``minhash(...).hashvalues`` of each run of ``counts`` values of
    ``h32``, in chunks of ``chunk`` shingles."""
    # (a permutation a row, a shingle a column: the reduction runs along contiguous memory,
    # half the time of a shingle a row)
    a, b = (p[:used, None] for p in _permutations(num_perm))
    values = np.full((len(counts), used), np.uint32(0xFFFFFFFF), dtype=np.uint32)
    owner = np.repeat(np.arange(len(counts)), counts)
    for start in range(0, len(h32), chunk):
        part = h32[None, start:start + chunk] * a + b
        who = owner[start:start + chunk]
        cuts = np.flatnonzero(np.diff(who)) + 1
        firsts = np.concatenate(([0], cuts))
        docs = who[firsts]
        values[docs] = np.minimum(values[docs], np.minimum.reduceat(part, firsts, axis=1).T)
    return values
