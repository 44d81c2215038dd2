"""Parse a FRUS source note (file number, document type, archive) into fields.

One pure function, shared by the TEI and the page-text normalisers. It understands the shapes
listed in ``docs/frus-formats.md`` §1 "Source note"::

    No. 378.]                          -> despatch_number "378"
    763.72119/2590: Telegram           -> file_number "763.72119/2590", doc_type "Telegram"
    File No. 861.51/131                -> file_number "861.51/131"
    [Telegram.—Paraphrase.]            -> doc_type "Telegram", is_paraphrase
    Paris Peace Conf. 185.001/9        -> file_number "Paris Peace Conf. 185.001/9"
    123 Bacon, Leonard Lee: Telegram   -> file_number "123 Bacon, Leonard Lee", doc_type "Telegram"
    Woodrow Wilson Papers              -> archive_citation "Woodrow Wilson Papers"
    Source: Department of State, Central Files, POL CHICOM-US. Confidential; Priority; …
                                       -> archive_citation "Department of State, Central Files,
                                          POL CHICOM-US", classification "Confidential"

A document may carry two notes (``File No. …`` then ``[Telegram]``): call the function on each
and merge with :func:`merge_source_notes`.
"""
from __future__ import annotations

import re

from tasks.normalise.common import squash

__all__ = ["parse_source_note", "merge_source_notes", "FIELDS"]

FIELDS = (
    "file_number",
    "doc_type",
    "despatch_number",
    "is_extract",
    "is_translation",
    "is_paraphrase",
    "archive_citation",
    "classification",
)

# Longest first: "Top Secret" before "Secret".
_CLASSIFICATIONS = (
    "Top Secret",
    "Secret",
    "Confidential",
    "Limited Official Use",
    "Official Use Only",
    "Unclassified",
    "No classification marking",
    "Restricted",
)
_CLASS_RE = re.compile(
    r"(?<![\w-])(" + "|".join(re.escape(c) for c in _CLASSIFICATIONS) + r")(?![\w-])",
    re.IGNORECASE,
)
# Words that name a document type when they stand in brackets or after the colon.
_TYPE_WORDS = {
    "telegram": "Telegram",
    "telegraphic": "Telegram",
    "cablegram": "Cablegram",
    "circular": "Circular",
    "circular telegram": "Circular telegram",
    "memorandum": "Memorandum",
    "letter": "Letter",
    "note": "Note",
    "despatch": "Despatch",
    "dispatch": "Despatch",
    "instruction": "Instruction",
    "airgram": "Airgram",
    "aide-mémoire": "Aide-Mémoire",
    "aide-memoire": "Aide-Mémoire",
    "by telegraph": "Telegram",
    "per telegraph": "Telegram",
    "by cable": "Cablegram",
    "cable": "Cablegram",
    "cable telegram": "Cablegram",
}
# "No. 378.]", "*No. 5.", "No.12", "No. II.", "No. 12½.]", "No. 302.|" (a misprinted "]");
# nothing else may follow.
_DESPATCH = re.compile(r"^\*?\s*No\.?\s*([0-9]+[½¼¾]?[a-z]?|[IVXLC]+)\s*[.\]|]*\s*(?:\[\d+\])?\s*$")
# A decimal-file number: "763.72119/2590", "893.01 Provisional/41", "763.72119 P 43/906",
# "123 Bacon, Leonard Lee", "711.00111 Armament Control/123a", "884.00 Selassie I/12",
# "Paris peace Conf. 184.44/1", "Paris Peace Conf. 184.1–Helms, Birch", "184.0z01101/7" (OCR).
_FILE_START = re.compile(r"^(?:(?i:Paris Peace Conf)\.\s*)?\d{2,4}(?:\.[0-9A-Za-z]+)?(?:[ /A-Z–-]|$)")
# "Woodrow Wilson Papers", "Inquiry Document No. 893" (no \b after "No.": a space follows).
_ARCHIVE = re.compile(
    r"\b(?:(?:Papers|Files?|Archives?|Library|Records|Collection|Lot)\b|Document No\.)", re.IGNORECASE
)
# "[Private and confidential.]", "[Strictly confidential.]": a qualified classification.
_QUALIFIED = re.compile(r"^(?:(?:private|personal|strictly|most|very)\s+(?:and\s+)?)+", re.IGNORECASE)
_INCLOSURE = re.compile(r"^\W*(?:sub)?(?:in|en|ln)closure\b", re.IGNORECASE)
# Sentence-final abbreviations that must not end an archive citation.
_ABBREV = re.compile(r"(?:\b(?:Vol|Vols|No|Nos|Doc|Docs|Box|Jr|Sr|Mr|Mrs|Dr|St|p|pp|ff|cf)|\b[A-Z])$")


def _empty() -> dict:
    return {
        "file_number": None,
        "doc_type": None,
        "despatch_number": None,
        "is_extract": False,
        "is_translation": False,
        "is_paraphrase": False,
        "archive_citation": None,
        "classification": None,
    }


def _flags(text: str, out: dict) -> None:
    low = text.lower()
    if re.search(r"\bextra(?:cts?|its?)\b", low):
        out["is_extract"] = True
    if re.search(r"\btranslation\b", low):
        out["is_translation"] = True
    if re.search(r"\bparaphras", low):
        out["is_paraphrase"] = True


def _doc_type(word: str) -> str | None:
    w = word.strip(" .,;:[]()").lower()
    if w.startswith(("by ", "per ")) and w not in _TYPE_WORDS:
        w = w.split(" ", 1)[1]  # "By cable telegram." -> "cable telegram"
    if not w:
        return None
    if w in _TYPE_WORDS:
        return _TYPE_WORDS[w]
    # "Telegram (part air)" -> "Telegram"; "Telegram sent in …" -> "Telegram".
    first = re.split(r"[\s(—–-]", w, maxsplit=1)[0]
    return _TYPE_WORDS.get(first)


def _modern(body: str, out: dict) -> dict:
    """``Source: <citation>. <Classification>; <handling>. <more sentences>``."""
    m = _CLASS_RE.search(body)
    # The classification opens a sentence: at the start or right after ". ".
    while m and m.start() > 0 and not re.search(r"[.;]\s*$", body[: m.start()]):
        m = _CLASS_RE.search(body, m.end())
    if m:
        out["classification"] = _canonical_class(m.group(1))
        citation = body[: m.start()]
    else:
        citation = body
        for s in re.finditer(r"\.\s+(?=[A-Z])", body):
            if not _ABBREV.search(body[: s.start()]):
                citation = body[: s.start()]
                break
    out["archive_citation"] = citation.strip().rstrip(".;,").strip() or None
    _flags(body[m.start():] if m else "", out)
    return out


def _strip_stop(s: str) -> str:
    """Drop a closing full stop, but keep an initial's ("Polk, Frank L.")."""
    s = s.strip()
    if s.endswith(".") and not re.search(r"(?:^|[\s,])[A-Z]\.$", s):
        s = s[:-1].rstrip()
    return s


def _canonical_class(word: str) -> str:
    for c in _CLASSIFICATIONS:
        if c.lower() == word.lower():
            return c
    return word


def parse_source_note(text: str) -> dict:
    """Parse one source note's text into document fields.

    Args:
        text: the note's plain text (markup already flattened), e.g. ``"793.94/12357: Telegram"``.

    Returns:
        A dict with exactly the keys of :data:`FIELDS` (``file_number``, ``doc_type``,
        ``despatch_number``, ``is_extract``, ``is_translation``, ``is_paraphrase``,
        ``archive_citation``, ``classification``); fields the note does not give are
        ``None`` / ``False``. Never raises on odd input.
    """
    out = _empty()
    s = squash(text)
    if not s:
        return out

    # Modern: "Source: …".
    m = re.match(r"^Source:\s*(.*)$", s, re.IGNORECASE)
    if m:
        return _modern(m.group(1), out)

    _flags(s, out)

    # Bracketed or parenthesised notes: "[Telegram.—Paraphrase.]", "(Extract.)", "[Inclosure 1 in No. 5.]".
    if s[0] in "[(" or (s.endswith("]") and not _DESPATCH.match(s)):
        return _bracketed(s, out)

    # "No. 378.]", "No. 1.", "*No. 5."
    dm = _DESPATCH.match(s)
    if dm:
        out["despatch_number"] = dm.group(1)
        return out

    return _file_note(s, out)


def _bracketed(s: str, out: dict) -> dict:
    """A bracketed or parenthesised note: its pieces between dashes give type, class, number."""
    inner = s.strip("[]() ").rstrip(".")
    if _INCLOSURE.match(s):
        # The enclosure's own note: the number belongs to the covering despatch.
        for piece in re.split(r"\s*[—–]\s*", inner)[1:]:
            out["doc_type"] = out["doc_type"] or _doc_type(piece)
        return out
    pieces = [p for p in re.split(r"\s*[—–]\s*", inner) if p.strip(" .")]
    for piece in pieces:
        out["doc_type"] = out["doc_type"] or _doc_type(piece)
        cm = _CLASS_RE.fullmatch(_QUALIFIED.sub("", piece.strip(" .")))
        if cm:
            out["classification"] = _canonical_class(cm.group(1))
        dm = _DESPATCH.match(piece)
        if dm:
            out["despatch_number"] = dm.group(1)
    return out


def _file_note(s: str, out: dict) -> dict:
    """``File No. 861.51/131``, a decimal file number or an archive, and a type after a colon."""
    head, _, tail = s.partition(": ") if ": " in s else (s.rstrip(":"), "", "")
    head = head.rstrip(":").strip()
    tail = tail.strip()
    fm = re.match(r"^File No\.?\s*(.+)$", head, re.IGNORECASE)
    if fm:
        out["file_number"] = _strip_stop(fm.group(1))
    elif _FILE_START.match(head):
        out["file_number"] = _strip_stop(head)
    elif _ARCHIVE.search(head):
        # "Woodrow Wilson Papers", "Edward M. House Papers: Telegram", "Inquiry files".
        out["archive_citation"] = head.rstrip(".").strip()
    else:
        # Not a source note at all (vendor volumes misuse the element for captions, "A.",
        # "AMERICA."): report nothing rather than a wrong citation.
        return out
    if tail:
        out["doc_type"] = _doc_type(tail)
    return out


# A despatch number printed as the body's first paragraph: "No. 350.]", "No. 1027",
# "[No. 653.]", "No. 485.—Confidential.]", "No. 318, Diplomatic]".
_DESPATCH_LINE = re.compile(
    r"^\[?\*?\s*No\.?\]?\s*(\d+[½¼¾]?[a-z]?|[IVXLC]+)\b\W{0,4}(?:[—–,]\s*[A-Za-z][\w .]{0,20})?[.\])|]*$"
)


def despatch_line(text: str) -> dict:
    """``despatch_number`` (and ``classification``) of a body line that is only a despatch
    number, as 19th-century volumes print it instead of a source note; {} for other lines."""
    m = _DESPATCH_LINE.match(text) if len(text) <= 40 else None
    if not m:
        return {}
    return {"despatch_number": m.group(1), "classification": parse_source_note(text)["classification"]}


def merge_source_notes(notes: list[str]) -> dict:
    """Parse several notes of one document and merge them (first non-empty value wins).

    Flags are OR-ed: ``["File No. 861.51/131", "[Telegram]"]`` gives the file number of the
    first and the type of the second. A despatch number from a note closed by ``]``
    (``No. 302.]``) wins over one from a bare ``No. 91.``.
    """
    out = _empty()
    closed = False  # the despatch number in ``out`` came from a "No. 302.]" note
    for note in notes:
        one = parse_source_note(note)
        if one["despatch_number"] and not closed and note.rstrip().endswith(("]", "|")):
            # "No. 91." then "No. 302.]" (1864–1872): the first is the printed serial number,
            # the bracketed one the despatch's own.
            out["despatch_number"], closed = None, True
        for key, value in one.items():
            if isinstance(value, bool):
                out[key] = out[key] or value
            elif out[key] is None and value is not None:
                out[key] = value
    return out

