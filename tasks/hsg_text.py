"""A history.state.gov document page, as copied text (the seed's format) → a :class:`Document`.

The page text looks like this (``docs/frus-formats.md`` §2)::

    [URL: https://history.state.gov/historicaldocuments/frus1938v03/d83]   optional
    793.94/12357: Telegram                                  source note(s), optional
    The Chargé in the Soviet Union (Henderson) to the Secretary of State    title
    [Moscow, February 5, 1938—5 p.m.] / [Received …]         dateline(s), optional
    35. Reference to my telegram No. 5, January 8, 7 p.m.6 Yui Ming, …     paragraphs
    1.                                                       a list label alone …
    (a) The mission of Sun Fo7 has obtained …                … then its item(s)
    Henderson                                                signature, optional
      1. Not printed.                                        footnotes, renumbered 1..n

One non-empty line is one block. Footnote markers keep the volume's numbers glued to the word
before them; they are found with the consecutive-sequence rule (see :func:`find_markers`).

Any ``.txt`` file may reach this parser, so a text is accepted only if it looks like such a page
(a plausibility filter, not a proof; ValueError names the reason otherwise):

- no control characters; a ``URL:`` first line holds a history.state.gov document URL;
- a title of at most 500 characters (the corpus's longest heads have 400), then a body (at
  least one more line);
- and one sign of a FRUS document: a page URL (line or sidecar); a source-note first line
  (file number, ``[Telegram]``, ``No. 378``, ``File No.``, ``Paris Peace Conf.``, ``123 Name:
  Telegram``); a correspondence title (``X to Y``: X starts with a capital, holds no ``:`` and
  is no sentence opener like ``I``/``How``/``TODO``; Y starts with a capital or ``the``/``all``/…,
  or X with ``Mr.``, ``Prince``, …); a FRUS heading (``[Untitled]``, ``Editorial Note``,
  ``[Inclosure …]``, ``No. 3. …``, ``A.``, a document kind such as ``Memorandum``,
  ``Translation``, ``Protest``, ``Record of …``); a dateline, ``[Received …]`` line or short
  dated line (``May 1, 1901``) among the three lines after the title; a signature; ``[Page N]``
  markers; or footnotes anchored on their markers.

Reading a file (:func:`parse_page_file`) takes regular files only, of at most
:data:`MAX_PAGE_BYTES` (4 MiB: real pages are a few KB to ~200 KB; a 4 MiB text, one line or
many, is normalised in ~3 s under 200 MB peak), checked before reading and while reading. The
``.url`` sidecar obeys the same rules, must resolve inside the page's own folder, and holds at
most :data:`MAX_SIDECAR_BYTES`. A message names the page (and the sidecar), on one line, and
never quotes more than 80 printable characters of what a file holds.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tasks.landing import LandingError, open_regular, os_reason
from tasks.records import Document, Footnote, Part
from tasks.source_note import despatch_line, merge_source_notes, parse_source_note
from tasks.sources import printable, quoted
from tasks.text import document_text, squash

__all__ = ["parse_page_text", "parse_page_file", "document_text", "parse_title", "parse_url"]

FORMAT = "hsg-text"
MAX_PAGE_BYTES = 4 * 1024 * 1024  # a page text; the corpus's pages are 4 KB-200 KB
MAX_SIDECAR_BYTES = 4096  # a .url sidecar: one URL

_URL = re.compile(
    r"^https?://(?:www\.)?history\.state\.gov\.?(?::\d+)?/historicaldocuments/"
    r"(?P<vol>[A-Za-z0-9_-]+)/(?P<doc>[A-Za-z0-9_.-]+?)/?(?:[?#].*)?$"
)
_URL_LINE = re.compile(r"^\s*(?:URL:\s*)?(https?://\S+)\s*$", re.IGNORECASE)
_PAGE = re.compile(r"\s*\[Page ([^\]\s]+)\]\s*")
_FOOTNOTE = re.compile(r"^\s*(\d+)\.\s+(\S.*)$")
_LABEL_ALONE = re.compile(
    r"^(?:\*?§\s*)?(?:\d+(?:st|nd|rd|th|d|°)?\.|[IVXL]+\.|[A-Z]\.|\(\w{1,4}\.?\)|\w{1,3}\)|\[\d+\.?\])$"
)
_LETTERED = re.compile(r"^\(([a-z]{1,3}|\d{1,2})\)\s+\S")
_RECEIVED = re.compile(r"^\[Received\b.*\]?$", re.IGNORECASE)
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
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        "january february march april may june july august september october november december".split()
    )
}
_DATE = re.compile(
    r"(?P<month>January|February|March|April|May|June|July|August|September|October|November|"
    r"December)\s+(?P<day>\d{1,2}),?\s+(?P<year>\d{4})"
    r"(?:\s*[—–,-]\s*(?:(?P<h>\d{1,2})(?:[:.](?P<mi>\d{2}))?\s*(?P<ap>a\.\s?m\.|p\.\s?m\.)|(?P<noon>noon)"
    r"|(?P<midnight>midnight)))?"
)
_DATELINE = re.compile(r"^\[?(?P<place>[A-Z][^,\d\[\]]{1,60}?),?\]?,?\s+(?P<date>" + _DATE.pattern + r".*)$")
_HONORIFIC = re.compile(
    r"^(?:Mr\.|Mrs\.|Miss|Messrs\.|Sir|Señor|Senhor|Count|Baron|Prince|Marquis|Marquis de|M\.|"
    r"General|Lord|Admiral|Dr\.|Herr|Monsieur|Don)\s+"
)
# A head's leading document number: "10. Telegram From …", "No. 3. Mr. Frelinghuysen to …".
_TITLE_NUMBER = re.compile(r"^(?P<no>No\.\s*)?(?P<n>\d+)\.\s+(?P<rest>.*)$")
_PARTICLES = {"de", "da", "di", "del", "van", "von", "der", "den", "y", "la", "le", "du", "of", "and"}

_MAX_TITLE = 500  # characters; the corpus's longest head has 400
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_URL_LABEL = re.compile(r"^\s*URL\s*:", re.IGNORECASE)
# A heading FRUS prints for documents that are not letters (see the module docstring).
_FRUS_HEADING = re.compile(
    r"^(?:\[[A-Z0-9][^\]]*\]|\([A-Z]|(?:No\.\s*)?\d+\.|[A-Z]\.$|(?i:(?:Editorial|Circular) Note\b|"
    r"(?:Memorandum|Pro ?memoria|Aide[- ]m[ée]moire|Note verbale|Protest|Translation|Paraphrase|Cablegram|"
    r"Telegra(?:m|phic)|Despatch|Dispatch|Circular|Extracts?|Record of|Minutes of|Affidavit|Speech|Debate|"
    r"Decree|(?:Imperial )?Edict|Proclamation|Treaty|Convention|Protocol|[IE]nclosure|Annex|To the)\b))"
)
# The first word of a sentence, not of a correspondent ("I want to …", "How to …").
_NOT_SENDER = {"i", "we", "you", "he", "she", "it", "they", "this", "that", "there", "here", "how",
               "what", "why", "when", "where", "who", "todo", "remember", "please", "need", "note"}


@dataclass
class _Block:
    text: str  # white space collapsed, page markers removed
    page: str | None  # page in force at the block's start
    page_changes: list[tuple[int, str]] = field(default_factory=list)  # (offset, page)


# --------------------------------------------------------------------------- public API


def parse_page_file(path: Path, *, name: str | None = None, original: Path | None = None) -> Document:
    """Read a page-text file (and its ``.url`` sidecar, if any) and parse it.

    The sidecar is ``<stem>.url`` or ``<name>.url`` beside the file (beside ``original`` when
    the bytes were landed elsewhere); its first non-empty line is the page URL. It must be a
    regular file of at most :data:`MAX_SIDECAR_BYTES` that resolves inside the page's folder.

    Args:
        path: the file read (for an ingested item, its copy in the landing zone).
        name: the item's name for messages and the ``doc_id`` (default: ``path``); a message
            never names the landed copy when ``name`` is given.
        original: the file in its source, where the sidecar is looked for.

    Raises:
        ValueError: the file is not a regular file, too large, empty or not UTF-8; the
            sidecar is unusable; or the URL is not a history.state.gov document URL. The
            one-line message names the file (and the sidecar) and the reason.
    """
    path = Path(path)
    label = printable(name or str(path))
    try:
        with open_regular(path, max_size=MAX_PAGE_BYTES) as stream:
            data = stream.read(MAX_PAGE_BYTES + 1)
    except (LandingError, OSError) as exc:
        raise ValueError(f"{label}: {os_reason(exc) if isinstance(exc, OSError) else exc}") from None
    if len(data) > MAX_PAGE_BYTES:  # grew since its stat
        raise ValueError(f"{label}: over the size limit of {MAX_PAGE_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{label}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    url = _sidecar_url(Path(original) if original else path, label)
    return parse_page_text(text, name=label, url=url)


def _sidecar_url(beside: Path, label: str) -> str | None:
    """The URL in the page's ``.url`` sidecar, or None when there is none (see above)."""
    for side in (beside.with_suffix(".url"), beside.with_name(beside.name + ".url")):
        if not os.path.lexists(side):
            continue
        where = f"{label}: URL sidecar {printable(side.name)}"
        folder = os.path.realpath(beside.parent)
        real = os.path.realpath(side)
        if not real.startswith(folder.rstrip(os.sep) + os.sep):
            raise ValueError(f"{where}: a symlink to outside the page's folder")
        try:  # the resolved path, not followed again, and still inside once open
            with open_regular(real, max_size=MAX_SIDECAR_BYTES, follow_symlinks=False, within=folder) as f:
                data = f.read(MAX_SIDECAR_BYTES + 1)
        except (LandingError, OSError) as exc:
            raise ValueError(f"{where}: {os_reason(exc) if isinstance(exc, OSError) else exc}") from None
        if len(data) > MAX_SIDECAR_BYTES:
            raise ValueError(f"{where}: over the size limit of {MAX_SIDECAR_BYTES} bytes")
        try:
            lines = [ln.strip() for ln in data.decode("utf-8-sig").splitlines() if ln.strip()]
        except UnicodeDecodeError as exc:
            raise ValueError(f"{where}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
        if not lines:
            raise ValueError(f"{where}: empty")
        url = lines[0].removeprefix("URL:").strip()
        if parse_url(url) is None:
            raise ValueError(f"{where}: not a history.state.gov document URL: {quoted(url)}")
        return url
    return None


def parse_page_text(text: str, *, name: str, url: str | None = None) -> Document:
    """Parse the text of a history.state.gov document page into a :class:`Document`.

    Args:
        text: the page text (see the module docstring).
        name: the file name or another label for messages; its stem is the ``doc_id`` when
            no URL is known.
        url: the page URL, if known; a ``URL: …`` first line in ``text`` is used otherwise.

    Raises:
        ValueError: empty text, or a URL that is not a history.state.gov document URL.
    """
    text = (text or "").lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ValueError(f"{name}: empty page text")
    if _CONTROL.search(text):
        raise ValueError(f"{name}: control characters: not a page text")
    lines = text.split("\n")

    # A URL line before everything else.
    first = next(i for i, ln in enumerate(lines) if ln.strip())
    m = _URL_LINE.match(lines[first])
    if m or _URL_LABEL.match(lines[first]):
        if not m or parse_url(m.group(1)) is None:
            bad = lines[first].strip()[:100]
            raise ValueError(f"{name}: URL line is not a history.state.gov document URL: {bad!r}")
        url = url or m.group(1)
        lines = lines[first + 1 :]
    ids = parse_url(url) if url else None
    if url and ids is None:
        raise ValueError(f"{name}: not a history.state.gov document URL: {url!r}")

    body_lines, notes = _split_footnotes(lines)
    blocks = _blocks(body_lines)
    if not blocks:
        raise ValueError(f"{name}: no title or body text")

    # Source-note lines, then the title.
    source_notes: list[str] = []
    while len(blocks) > 1 and len(source_notes) < 3 and _is_source_note(blocks[0].text):
        source_notes.append(blocks.pop(0).text)
    title_block = blocks.pop(0)
    _check_shape(title_block.text, blocks, name)

    if ids:
        volume_id, doc_id = ids
        doc_key = f"{volume_id}/{doc_id}"
        canonical = f"https://history.state.gov/historicaldocuments/{volume_id}/{doc_id}"
    else:
        volume_id, doc_id, canonical = FORMAT, Path(name).stem, None
        normalised = "\n".join(squash(ln) for ln in lines if ln.strip())
        doc_key = f"{FORMAT}/{hashlib.sha256(normalised.encode('utf-8')).hexdigest()[:16]}"

    parts = [Part(doc_key, 0, "heading", title_block.text, page=title_block.page)]
    pages: list[list[tuple[int, str]]] = [title_block.page_changes]
    for kind, label, path, attachment, block in _classify(blocks):
        prev = parts[-1]
        if kind == "dateline" and _RECEIVED.match(block.text) and prev.kind == "dateline" and (
            prev.attachment == attachment and not _RECEIVED.match(prev.text)
        ):
            # "Moscow, February 5, 1938—5 p.m." + "[Received 5:44 p.m.]": one dateline, as in TEI.
            pages[-1].extend((o + len(prev.text) + 1, pg) for o, pg in block.page_changes)
            prev.text = f"{prev.text} {block.text}"
            continue
        parts.append(Part(doc_key, len(parts), kind, block.text, label, path, block.page, attachment))
        pages.append(block.page_changes)

    footnotes = _footnotes(parts, pages, notes, doc_key, doc_id if ids else None)
    _infer_first_page(parts, footnotes, pages)

    doc = Document(doc_key=doc_key, volume_id=volume_id, doc_id=doc_id, format=FORMAT, url=canonical)
    doc.parts, doc.footnotes = parts, footnotes
    doc.source_notes = source_notes + [f.text for f in footnotes if f.text.startswith("Source:")]
    meta = merge_source_notes(doc.source_notes)
    for key, value in meta.items():
        setattr(doc, key, value)
    if not doc.despatch_number:  # "No. 350.]" printed as the first paragraph, as in the TEI
        for key, value in _despatch_paragraph(parts).items():
            setattr(doc, key, getattr(doc, key) or value)

    url_number = doc_id[1:] if ids and re.fullmatch(r"d\d+", doc_id) else None
    title = parts[0].text
    nm = _TITLE_NUMBER.match(title)
    if nm:  # "10. Telegram From …" (modern), "No. 3. Mr. Frelinghuysen to …" (19th century)
        title = nm.group("rest")
        # a printed "No. 3." may differ from the volume's numbering (TEI @n, the URL's d3)
        doc.doc_number = url_number if nm.group("no") and url_number else nm.group("n")
    else:
        doc.doc_number = url_number
    doc.title = title
    for key, value in parse_title(title).items():
        setattr(doc, key, value)

    for p in parts:
        if p.kind == "dateline" and doc.date_text is None:
            _set_date(doc, p.text)
        if p.kind == "signature" and p.attachment is None and doc.signature is None:
            doc.signature = p.text
    paged = [p.page for p in parts if p.page] + [f.page for f in footnotes if f.page]
    doc.page_start = parts[0].page or (paged[0] if paged else None)
    seen = [pg for p, changes in zip(parts, pages) for pg in [p.page, *(c[1] for c in changes)] if pg]
    doc.page_end = seen[-1] if seen else doc.page_start
    doc.text = document_text(parts)
    doc.word_count = len(doc.text.split())
    if not (ids or _looks_like_frus(doc)):
        raise ValueError(
            f"{name}: not a FRUS page text (no URL, source note, correspondence title, FRUS heading, "
            "dateline, signature, page marker or anchored footnote)"
        )
    return doc


def parse_url(url: str) -> tuple[str, str] | None:
    """``(volume_id, doc_id)`` of a history.state.gov document URL, else ``None``."""
    m = _URL.match(url.strip())
    return (m.group("vol"), m.group("doc")) if m else None


def parse_title(title: str) -> dict:
    """Correspondents from a title (head).

    ``"The Chargé in the Soviet Union (Henderson) to the Secretary of State"`` gives sender
    ``Henderson``, sender_role ``The Chargé in the Soviet Union``, recipient and
    recipient_role ``Secretary of State`` (a leading "the " is dropped from the recipient).
    """
    out = {"sender": None, "sender_role": None, "recipient": None, "recipient_role": None}
    t = squash(title).rstrip(".").strip()
    t = re.sub(r"\(\s+", "(", re.sub(r"\s+\)", ")", t))  # "( Bell )"
    nm = _TITLE_NUMBER.match(t)
    t = nm.group("rest") if nm else t  # "No. 3. Mr. Frelinghuysen to …": the number is no name

    m = re.match(r"^(?:[\w-]+\s+){0,3}?From\s+(?:the\s+)?(?P<s>.+?)\s+to\s+(?P<r>.+)$", t)
    if m and not re.match(r"^(?:Mr|Mrs|Sir)\b", t):  # "Telegram From the Embassy … to the Department …"
        left, right, strip_sender_the = m.group("s"), m.group("r"), True
    else:
        m = re.match(r"^Memorandum\b.*?\bby\s+(?P<s>.+)$", t)
        if m:
            left, right, strip_sender_the = m.group("s"), None, True
        else:
            m = re.match(r"^(?P<s>[^()]*\([^()]*\))\s+to\s+(?P<r>.+)$", t) or re.match(
                r"^(?P<s>[^()]*?)\s+to\s+(?P<r>.+)$", t
            )
            if not m:
                return out
            left, right, strip_sender_the = m.group("s"), m.group("r"), False
    out["sender"], out["sender_role"] = _correspondent(left, strip_the=strip_sender_the)
    if right:
        out["recipient"], out["recipient_role"] = _correspondent(right, strip_the=True)
    # as the TEI normaliser does: an office with no name is the correspondent
    out["sender"] = out["sender"] or out["sender_role"]
    out["recipient"] = out["recipient"] or out["recipient_role"]
    return out


# --------------------------------------------------------------------------- helpers


def _despatch_paragraph(parts: list[Part]) -> dict:
    """The despatch number of a first body paragraph ``No. 350.]`` (after the dateline and
    editorial ``[…]`` lines), as :func:`tasks.tei` reads it."""
    for p in parts[1:]:
        if p.kind == "dateline" or _is_dated_line(p.text):  # (a place and date: a dateline)
            continue
        if p.kind != "paragraph":
            return {}
        found = despatch_line(p.text)
        if found or not (p.text.startswith("[") and p.text.endswith("]")):
            return found
    return {}


def _check_shape(title: str, body: list[_Block], name: str) -> None:
    """A page has a heading-sized title and a body after it."""
    if len(title) > _MAX_TITLE:
        raise ValueError(f"{name}: title of {len(title):,} characters (> {_MAX_TITLE}): not a page heading")
    if not body:
        raise ValueError(f"{name}: no body text after the title")


def _looks_like_frus(doc: Document) -> bool:
    """One sign of a FRUS document besides a URL (see the module docstring)."""
    heading = doc.parts[0].text
    return bool(
        doc.source_notes
        or doc.signature
        or doc.page_start
        or _FRUS_HEADING.match(heading)
        or _is_correspondence(heading)
        or any(p.kind == "dateline" or _is_dated_line(p.text) for p in doc.parts[1:4])
        or any(f.part_seq is not None for f in doc.footnotes)
    )


def _is_dated_line(text: str) -> bool:
    """A short line with a printed date, as datelines are ("Department of State, May 1, 1901.")."""
    m = _DATE.search(text) if len(text) <= 100 else None
    return bool(m) and 1750 <= int(m.group("year")) <= 2100


def _is_correspondence(title: str) -> bool:
    """``X to Y`` with correspondents' shapes, not a sentence ("TODO: remember to buy milk")."""
    parsed = parse_title(title)
    if not (parsed["sender"] and parsed["recipient"]):
        return False
    sender, _, recipient = squash(title).partition(" to ")
    sender = re.sub(r"^(?:\[\d+\]\s*\*?\s*)?(?:No\.\s*)?(?:\d+\.\s+)?", "", sender)
    recipient = re.sub(r"^(?:(?:the|all|his|her|their|each)\s+)+", "", recipient, flags=re.IGNORECASE)
    first = sender.split()[0].strip("[(“\"'").lower() if sender.split() else ""
    return (
        sender[:1].isupper()
        and (recipient[:1].isupper() or bool(_HONORIFIC.match(sender)))  # "Mr. Seward to ministers of …"
        and not re.search(r"[:?!]", sender)
        and first not in _NOT_SENDER
    )


def _correspondent(s: str, *, strip_the: bool) -> tuple[str | None, str | None]:
    s = s.strip().rstrip(",")
    m = re.match(r"^(?P<role>.*?)\s*\((?P<name>[^()]+)\)\s*$", s)
    if m:
        role, name = m.group("role").strip() or None, m.group("name").strip()
    elif _HONORIFIC.match(s):
        return _HONORIFIC.sub("", s).strip(), None
    else:
        role, name = s, None
    if role and strip_the:
        role = re.sub(r"^the\s+", "", role, flags=re.IGNORECASE)
    return name, role


def _is_source_note(text: str) -> bool:
    """A source-note line, not a title ("Paraphrase of a Telegram From …" is a title)."""
    got = parse_source_note(text)
    if text.startswith("Source:"):
        return True
    if text.startswith(("[", "(")) and any(got.values()):
        return True
    if got["file_number"] or got["despatch_number"] or got["classification"]:
        return True
    return bool(got["archive_citation"]) and " to " not in text


def _split_footnotes(lines: list[str]) -> tuple[list[str], list[str]]:
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


def _blocks(lines: list[str]) -> list[_Block]:
    """One block per non-empty line; ``[Page N]`` markers become page numbers."""
    blocks: list[_Block] = []
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
            blocks.append(_Block(text, start_page, changes))
    return blocks


def _is_signature(text: str) -> bool:
    # "LOWELL," (a comma before the addressee line) is a signature; "Sir:" is not.
    if len(text) > 50 or re.search(r"\d", text) or text.endswith((":", ";", ",,")):
        return False
    if _REPEATED.match(text) or _RECEIVED.match(text) or _LABEL_ALONE.match(text):
        return False
    words = text.strip("[]").rstrip(".").split()
    if not 1 <= len(words) <= 6:
        return False
    return all(w[0].isupper() or w.lower() in _PARTICLES for w in words)


def _signature_index(body: list[_Block]) -> int | None:
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


def _classify(blocks: list[_Block]):
    """Yield ``(kind, label, path, attachment, block)`` for the body blocks, in order."""
    # Segments: the body, then one per enclosure; a signature ends a segment.
    segments: list[list[_Block]] = [[]]
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
            elif _RECEIVED.match(t):
                yield "dateline", None, None, att, b
            elif i <= 1 and not in_list and _DATELINE.match(t) and len(t) < 100:
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
            yield "item", pending, pending, att, _Block("", None)


# Footnote markers ------------------------------------------------------------------------

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


def _footnotes(parts, pages, notes, doc_key, doc_id):
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


def _infer_first_page(parts, footnotes, pages) -> None:
    """Text before the first ``[Page N]`` marker stands on page N-1 (arabic numbers only)."""
    if not parts or parts[0].page is not None:
        return
    for pi, p in enumerate(parts):
        first = p.page or (pages[pi][0][1] if pages[pi] else None)
        if first is None:
            continue
        if not first.isdigit() or int(first) < 2:
            return
        prev = str(int(first) - 1)
        for q in parts[: pi + 1] if not p.page else parts[:pi]:
            q.page = q.page or prev
        for f in footnotes:
            if f.part_seq is not None and f.page is None:
                f.page = prev
        return


def _set_date(doc: Document, text: str) -> None:
    m = _DATELINE.match(text)
    if m:
        doc.place, doc.date_text = m.group("place").strip(" []"), m.group("date").strip()
    dm = _DATE.search(text)
    if not dm:
        return
    y, mo, d = int(dm.group("year")), _MONTHS[dm.group("month").lower()], int(dm.group("day"))
    try:
        if dm.group("h") or dm.group("noon") or dm.group("midnight"):
            h = 12 if dm.group("noon") else 0 if dm.group("midnight") else int(dm.group("h")) % 12
            if dm.group("ap") and dm.group("ap").startswith("p"):
                h += 12
            lo = hi = datetime(y, mo, d, h, int(dm.group("mi") or 0))
        else:
            lo, hi = datetime(y, mo, d), datetime(y, mo, d, 23, 59, 59)
    except ValueError:
        return
    doc.date_min, doc.date_max = lo, hi
    doc.date_min_iso, doc.date_max_iso = lo.isoformat(), hi.isoformat()
