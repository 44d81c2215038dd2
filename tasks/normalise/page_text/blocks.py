"""The body of a page text: one non-empty line is one block, classified in reading order
(dateline, salute, list label and item, paragraph, closer, signature, postscript, enclosure)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from tasks.normalise.common import squash
from tasks.normalise.page_text.dates import DATELINE
from tasks.normalise.page_text.markers import find_markers

_PAGE = re.compile(r"\s*\[Page ([^\]\s]+)\]\s*")
_FOOTNOTE = re.compile(r"^\s*(\d+)\.\s+(\S.*)$")
_LABEL_ALONE = re.compile(
    r"^(?:\*?§\s*)?(?:\d+(?:st|nd|rd|th|d|°)?\.|[IVXL]+\.|[A-Z]\.|\(\w{1,4}\.?\)|\w{1,3}\)|\[\d+\.?\])$"
)
_LETTERED = re.compile(r"^\(([a-z]{1,3}|\d{1,2})\)\s+\S")
RECEIVED = re.compile(r"^\[Received\b.*\]?$", re.IGNORECASE)
_REPEATED = re.compile(r"^Repeated to\b", re.IGNORECASE)
_ATTACHMENT = re.compile(r"^\[?(?:Sub)?(?:In|En)closure\b|^\[?Attachment\b", re.IGNORECASE)
_CLOSER = re.compile(
    r"^(?:I have|I am|We have|With|Accept|Respectfully|Very respectfully|Sincerely|Faithfully|"
    r"Yours|Your obedient|Believe me|Cordially)\b",
    re.IGNORECASE,
)
# An addressee printed under the signature (19th century): "Hon. William H. Seward,
# Secretary of State, &c.", "John Appleton, Esq., &c., &c.", "His Excellency …".
_ADDRESSEE = re.compile(
    r"^(?:The\s+)?(?:Hon\.?|Honorable|His Excellency|Their Excellencies|Right Hon\.?|Mr\.|Señor|Senhor|"
    r"Sir|M\.|General|To)\s|\bEsq\b|&c\.|\bSecretary of State\b"
)
_PARTICLES = {"de", "da", "di", "del", "van", "von", "der", "den", "y", "la", "le", "du", "of", "and"}


@dataclass
class Block:
    text: str  # white space collapsed, page markers removed
    page: str | None  # page in force at the block's start
    page_changes: list[tuple[int, str]] = field(default_factory=list)  # (offset, page)




def split_footnotes(lines: list[str]) -> tuple[list[str], list[str]]:
    """Split the trailing footnote list (``  1. text`` … ``  n. text``) off the body."""
    lines = list(lines)
    while lines and not lines[-1].strip():
        lines.pop()
    for indented in (True, False):
        notes: list[list[str]] = []
        i = len(lines)
        cont: list[str] = []
        while i > 0:
            ln = lines[i - 1]
            if not ln.strip():
                i -= 1
                continue
            if indented and not ln[:1].isspace():
                break
            m = _FOOTNOTE.match(ln)
            if m:
                notes.insert(0, [m.group(1), m.group(2), *cont])
                cont = []
            elif indented:
                cont.insert(0, ln.strip())
            else:
                break
            i -= 1
        numbers = [int(n[0]) for n in notes]
        if notes and not cont and numbers == list(range(1, len(notes) + 1)):
            # An unindented block could be numbered paragraphs: it is a footnote list only
            # if the text before it holds its markers.
            body = [squash(ln) for ln in lines[:i] if ln.strip()]
            if indented or (body and find_markers(body, len(notes)) is not None):
                return lines[:i], [" ".join(n[1:]) for n in notes]
    return lines, []


def to_blocks(lines: list[str]) -> list[Block]:
    """One block per non-empty line; ``[Page N]`` markers become page numbers."""
    blocks: list[Block] = []
    page: str | None = None
    for raw in lines:
        line = squash(raw)
        if not line:
            continue
        pieces = _PAGE.split(line)  # text, page, text, page, …
        start_page = page
        text = ""
        changes: list[tuple[int, str]] = []
        for k, piece in enumerate(pieces):
            if k % 2:
                page = piece
                if text:
                    changes.append((len(text) + 1, piece))
                else:
                    start_page = piece
            elif piece:
                text = f"{text} {piece}" if text else piece
        if text:
            blocks.append(Block(text, start_page, changes))
    return blocks


def _is_signature(text: str) -> bool:
    # "LOWELL," (a comma before the addressee line) is a signature; "Sir:" is not.
    if len(text) > 50 or re.search(r"\d", text) or text.endswith((":", ";", ",,")):
        return False
    if _REPEATED.match(text) or RECEIVED.match(text) or _LABEL_ALONE.match(text):
        return False
    words = text.strip("[]").rstrip(".").split()
    if not 1 <= len(words) <= 6:
        return False
    return all(w[0].isupper() or w.lower() in _PARTICLES for w in words)


def _signature_index(body: list[Block]) -> int | None:
    """The signature: the last block, short and name-like, after at least one other block.

    A postscript (``P.S.``) or the addressee lines (``Hon. William H. Seward, …``) may follow
    it; they are tried as such only when a signature stands right before them.
    """
    for trailer in (_is_postscript_or_addressee, _is_postscript):
        tail = len(body)
        while tail > 0 and trailer(body[tail - 1].text):
            tail -= 1
        if tail >= 3 and _is_signed_with_office(body[tail - 2].text, body[tail - 1].text):
            return tail - 2
        if tail >= 2 and _is_signature(body[tail - 1].text):
            return tail - 1
    return None


def _is_signed_with_office(name: str, office: str) -> bool:
    """``F. W. SEWARD,`` then ``Acting Secretary.``: the comma says the office follows."""
    return name.endswith(",") and not _CLOSER.match(name) and _is_signature(name) and len(office) <= 100


def _is_postscript(text: str) -> bool:
    return bool(re.match(r"^P\.\s?S\.", text))


def _is_postscript_or_addressee(text: str) -> bool:
    return _is_postscript(text) or (len(text) <= 150 and bool(_ADDRESSEE.search(text)))


def classify(blocks: list[Block]):
    """Yield ``(kind, label, path, attachment, block)`` for the body blocks, in order."""
    # Segments: the body, then one per enclosure; a signature ends a segment.
    segments: list[list[Block]] = [[]]
    for b in blocks:
        if _ATTACHMENT.match(b.text) and len(b.text) < 120:
            segments.append([b])
        else:
            segments[-1].append(b)
    for attachment, seg in enumerate(segments):
        att = attachment or None
        body = seg[1:] if att else seg
        if att:
            yield "attachment", None, None, att, seg[0]
        sig = _signature_index(body)
        closer = sig - 1 if sig and sig >= 2 and _CLOSER.match(body[sig - 1].text) else None

        number: str | None = None  # the numbered label in force ("1.") for lettered items
        pending: str | None = None  # a label standing alone, waiting for its item
        in_list = False
        for i, b in enumerate(body):
            t = b.text
            if i == sig:
                yield "signature", None, None, att, b
            elif i == closer:
                yield "closer", None, None, att, b
            elif sig is not None and i > sig:
                yield "postscript", None, None, att, b
            elif RECEIVED.match(t):
                yield "dateline", None, None, att, b
            elif i <= 1 and not in_list and DATELINE.match(t) and len(t) < 100:
                yield "dateline", None, None, att, b
            elif i <= 2 and t.endswith(":") and len(t.split()) <= 8 and not in_list:
                yield "salute", None, None, att, b
            elif _LABEL_ALONE.match(t):
                pending, in_list = t, True
            elif pending is not None:
                lm = _LETTERED.match(t)
                if lm:
                    number = pending
                    label = f"({lm.group(1)})"
                    yield "item", label, f"{number}{label}", att, b
                else:
                    number = None
                    yield "item", pending, pending, att, b
                pending = None
            elif in_list and number and _LETTERED.match(t):
                label = f"({_LETTERED.match(t).group(1)})"
                yield "item", label, f"{number}{label}", att, b
            else:
                in_list, number = False, None
                yield "paragraph", None, None, att, b
        if pending is not None:  # a label with nothing after it: keep its text
            yield "item", pending, pending, att, Block("", None)


