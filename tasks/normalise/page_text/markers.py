"""Footnote markers in a page text: the volume's numbers glued to the word before them,
found by the consecutive-sequence rule, then anchored and removed."""
from __future__ import annotations

import re

from tasks.normalise.common import squash
from tasks.records import Footnote, Part

# A marker: digits glued to the character before them, not followed by a letter or digit.
_CANDIDATE = re.compile(r"(?<=[^\s\d])([1-9]\d{0,2})(?![\w])")


def _strength(text: str, start: int) -> int:
    """2 after a letter or closing punctuation; 1 after ``digit.``, a slash or a dash."""
    before = text[start - 1]
    if before in "/-–—" or (before in ".," and start >= 2 and text[start - 2].isdigit()):
        return 1
    return 2


def find_markers(texts: list[str], n: int) -> list[tuple[int, int, int]] | None:
    """Find ``n`` footnote markers in ``texts`` (the parts, in reading order).

    Markers are consecutive integers ``k, k+1, …, k+n-1`` in reading order (``99`` may wrap
    to ``1``), each glued to the character before it. Of all such chains the one with the
    strongest evidence wins (markers after letters or closing punctuation over markers after
    ``digit.``, slashes or dashes), then the earliest.

    Returns:
        ``[(part_index, start, value), …]`` of length ``n``, or ``None`` if there is none.
    """
    if n == 0:
        return []
    cands = [
        (pi, m.start(1), int(m.group(1)), _strength(t, m.start(1)))
        for pi, t in enumerate(texts)
        for m in _CANDIDATE.finditer(t)
    ]
    # best[j][c]: (score, chain) of the best chain of length j+1 ending at candidate c.
    best: list[dict[int, tuple[int, list[int]]]] = [{c: (cands[c][3], [c]) for c in range(len(cands))}]
    for _ in range(1, n):
        nxt: dict[int, tuple[int, list[int]]] = {}
        for c, (score, chain) in best[-1].items():
            v = cands[c][2]
            want = {v + 1} | ({1} if v >= 99 else set())
            for d in range(c + 1, len(cands)):
                if cands[d][2] in want:
                    cand = (score + cands[d][3], chain + [d])
                    if d not in nxt or cand[0] > nxt[d][0]:
                        nxt[d] = cand
        best.append(nxt)
    if not best[-1]:
        return None
    score, chain = max(best[-1].values(), key=lambda sc: (sc[0], [-x for x in sc[1]]))
    return [cands[c][:3] for c in chain]


def anchor_footnotes(parts: list[Part], pages: list[list[tuple[int, str]]], notes: list[str], doc_key: str,
                     doc_id: str | None) -> list[Footnote]:
    """Anchor the footnote list on its markers, remove the markers from the part texts."""
    if not notes:
        return []
    markers = find_markers([p.text for p in parts], len(notes))
    footnotes = []
    if markers is None:  # no chain: keep the list, unanchored, numbered as printed
        for i, text in enumerate(notes, 1):
            note_id = f"{doc_id}fn{i}" if doc_id else f"fn{i}"
            footnotes.append(Footnote(doc_key, note_id, str(i), text, None, None))
        return footnotes
    for (pi, start, value), text in zip(markers, notes):
        page = parts[pi].page
        for off, pg in pages[pi]:
            if off <= start:
                page = pg
        note_id = f"{doc_id}fn{value}" if doc_id else f"fn{value}"
        footnotes.append(Footnote(doc_key, note_id, str(value), text, pi, page))
    # Remove markers, last first so offsets stay valid; shift page offsets too.
    for pi, start, value in sorted(markers, key=lambda m: (m[0], -m[1])):
        width = len(str(value))
        t = parts[pi].text
        parts[pi].text = squash(t[:start] + t[start + width :])
        pages[pi][:] = [(o - width if o > start else o, pg) for o, pg in pages[pi]]
    return footnotes


