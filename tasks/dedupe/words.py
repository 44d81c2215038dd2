"""The canonical words of a text, the one rule content hashes and shingles are made of: NFKC,
case-folded, maximal runs of letters and digits (``\\w`` minus ``_``); punctuation, symbols,
white space and controls only separate words.

:func:`canonical_words` gives one text's words as Python strings; :func:`encoded_words` gives
many texts' words at once, dictionary-encoded in Arrow and numpy, with no Python string a word
(what a volume's dedupe keys and the near candidates' shingles are computed from: about a
quarter less time than the strings, tests/test_dedupe.py checks they are the same words).
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_WORD = re.compile(r"\w+")


def _folded(text: str) -> str:
    if not text.isascii():  # (NFKC leaves ASCII as it is, and casefold is lower there)
        text = unicodedata.normalize("NFKC", text)
    return text.casefold()


def canonical_words(text: str) -> list[str]:
    """NFKC, case-folded words: maximal runs of letters and digits (``\\w`` minus ``_``)."""
    text = _folded(text)
    # (\w+ over the text with "_" made a space: the same words as [^\W_]+, a sixth faster)
    return _WORD.findall(text.replace("_", " ") if "_" in text else text)


@lru_cache(maxsize=1)
def _word_chars() -> np.ndarray:
    """Whether each code point is a word character: ``str.isalnum``, which is what ``\\w``
    matches but ``_`` (CPython's regex engine tests the same predicate)."""
    return np.fromiter((chr(c).isalnum() for c in range(0x110000)), dtype=bool, count=0x110000)


@dataclass
class EncodedWords:
    """The canonical words of some texts, end to end: text ``t``'s are ``indices[firsts[t]:
    firsts[t] + counts[t]]``, indices into ``dictionary`` (distinct words, first-seen order)."""
    dictionary: pa.StringArray
    indices: np.ndarray
    firsts: np.ndarray
    counts: np.ndarray
    _utf8: np.ndarray  # the words' UTF-8 bytes, end to end
    _offsets: np.ndarray  # word w is _utf8[_offsets[w]:_offsets[w + 1]]

    def canonical_texts(self) -> Iterator[memoryview]:
        """Each text's words joined by single spaces, UTF-8 (``canonical_text(text)``)."""
        n = len(self._offsets) - 1
        # every word followed by one space: word w starts at _offsets[w] + w
        joined = np.full(int(self._offsets[-1]) + n, 32, dtype=np.uint8)
        keep = np.ones(len(joined), dtype=bool)
        keep[self._offsets[1:] + np.arange(n)] = False
        joined[keep] = self._utf8
        view = memoryview(joined)
        last = self.firsts + self.counts  # (one past each text's last word)
        starts = np.where(self.counts > 0, self._offsets[self.firsts] + self.firsts, 0).tolist()
        ends = np.where(self.counts > 0, self._offsets[last] + last - 1, 0).tolist()
        for start, end in zip(starts, ends):
            yield view[start:end]


def encoded_words(texts: Sequence[str]) -> EncodedWords:
    """The :func:`canonical_words` of each of ``texts`` (the same words: the tests compare
    them), classified a code point at a time in numpy and dictionary-encoded by Arrow."""
    folded = [_folded(t) for t in texts]
    lengths = np.fromiter(map(len, folded), dtype=np.int64, count=len(folded))
    # one string with a separator after each text (\x00: no word character)
    whole = "\x00".join(folded) + "\x00"
    ascii_only = whole.isascii()
    # (surrogatepass: a lone surrogate, which no word holds, must not fail the chunk)
    points = np.frombuffer(whole.encode("ascii" if ascii_only else "utf-32-le", "surrogatepass"),
                           dtype=np.uint8 if ascii_only else np.uint32)
    in_word = _word_chars()[points]
    edges = np.flatnonzero(in_word[1:] != in_word[:-1]) + 1
    if len(in_word) and in_word[0]:
        edges = np.concatenate(([0], edges))
    starts, ends = edges[0::2], edges[1::2]  # (the last point is \x00: every run ends)
    word_points = points[in_word]  # the words' code points, end to end
    sizes = ends - starts
    if not ascii_only:
        # Their UTF-8 by a round trip through str, in C (a word holds no surrogate: none is
        # alphanumeric); a word's byte size is its points plus the extra bytes of its wide ones.
        utf8 = np.frombuffer(word_points.tobytes().decode("utf-32-le").encode("utf-8"), dtype=np.uint8)
        wide = np.flatnonzero(word_points >= 0x80)
        extra = 1 + (word_points[wide] >= 0x800).astype(np.int64) + (word_points[wide] >= 0x10000)
        owner = np.searchsorted(np.cumsum(sizes), wide, side="right")  # the word of each wide point
        sizes = sizes + np.bincount(owner, weights=extra, minlength=len(sizes)).astype(np.int64)
    else:
        utf8 = word_points
    offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    words = pa.LargeStringArray.from_buffers(len(sizes), pa.py_buffer(offsets), pa.py_buffer(utf8))
    encoded = pc.dictionary_encode(words)
    text_ends = np.cumsum(lengths + 1)  # (each text's separator's end)
    counts = np.bincount(np.searchsorted(text_ends, starts, side="right"), minlength=len(texts))
    firsts = np.zeros(len(texts), dtype=np.int64)
    np.cumsum(counts[:-1], out=firsts[1:])
    return EncodedWords(encoded.dictionary.cast(pa.string()), encoded.indices.to_numpy(), firsts,
                        counts, utf8, offsets)
