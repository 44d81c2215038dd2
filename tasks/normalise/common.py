"""Every rule the TEI and the page-text normalisers share, once.

White space and words, plausible years, the canonical URL, the page before the first page
break, the despatch paragraph, a document's text, word count and signature, and the one way
to name correspondents (:func:`correspondents`), so both formats give the same columns.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from tasks.records import Document, Footnote, Part, ReferenceRow, Reject, Volume

TEI = "{http://www.tei-c.org/ns/1.0}"
FRUS = "{http://history.state.gov/frus/ns/1.0}"
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
YEARS = range(1750, 2101)  # plausible years of a FRUS document's date; others are typos

_WORD = re.compile(r"\w+")


@dataclass(slots=True)
class ParsedVolume:
    """What a normaliser makes of one item: its volume, documents and rejects."""

    volume: Volume
    documents: list[Document]
    rejects: list[Reject] = field(default_factory=list)
    is_volume: bool = True  # False for a single page text: no `volumes` row
    references: list[ReferenceRow] = field(default_factory=list)  # an authority list's rows


def squash(text: str | None) -> str:
    """Collapse every run of white space to one space and trim."""
    # (str.split splits on what \s matches, str.isspace: the same result, several times faster)
    return " ".join(text.split()) if text else ""


def words(text: str) -> list[str]:
    """The words of a text, lower-cased (for coverage checks and shingles)."""
    return _WORD.findall(text.lower())


def plausible_year(year: int) -> bool:
    """A year a FRUS document can bear (:data:`YEARS`); others are typos in the source."""
    return year in YEARS


def canonical_url(volume_id: str, doc_id: str) -> str:
    """The document's page on history.state.gov."""
    return f"https://history.state.gov/historicaldocuments/{volume_id}/{doc_id}"


def unspace_parens(text: str) -> str:
    """Spaced names in heads: ``( Bell )``, ``( Bell)`` → ``(Bell)``."""
    return re.sub(r"\s+\)", ")", re.sub(r"\(\s+", "(", text))


def page_before(page: str | None) -> str | None:
    """The page before ``page`` when it is a plain number (``71`` → ``70``), else None: text
    before a document's first page break stands on it."""
    return str(int(page) - 1) if page and page.isdecimal() and int(page) > 1 else None


def fill_first_page(items: Iterable[Part | Footnote], page: str | None) -> None:
    """Give the parts and footnotes that have no page yet ``page``."""
    for item in items:
        if item.page is None:
            item.page = page


def despatch_paragraph(paragraphs: Iterable[str | None]) -> dict:
    """Despatch number (and classification) of a leading paragraph ``No. 350.]``.

    19th-century volumes print the number as the body's first paragraph instead of a source
    note; editorial ``[For inclosure …]`` paragraphs may precede it. ``paragraphs`` are the
    body's first blocks after the head and dateline: a paragraph's text, None for another block.
    """
    from tasks.normalise.source_note import despatch_line  # (it imports this module)

    for text in paragraphs:
        if text is None:
            return {}
        found = despatch_line(text)
        if found or not (text.startswith("[") and text.endswith("]")):
            return found
    return {}


def item_prefix(part: Part, shown: set[str]) -> str:
    """The labels to print before an item's text, given the item paths already ``shown``.

    An item's own label is printed unless its text already starts with it (``(a) …``, as in
    d83 and its page text); so are the labels of its parents not printed yet: ``1.`` before
    ``(a) The mission`` (path ``1.(a)``), ``3.`` before a sub-list that opens item 3.
    """
    label, path = part.label or "", part.path or ""
    own = label if label and path.endswith(label) else ""
    parent = path[: len(path) - len(own)]
    done = max((p for p in shown if parent.startswith(p)), key=len, default="")
    missing = [parent[len(done):], own if own and not part.text.startswith(own) else ""]
    shown.update(x for x in (parent, path) if x)
    return " ".join(m for m in missing if m)


def document_text(parts: Iterable[Part]) -> str:
    """A document's readable body: every part but the title heading, one per line.

    List items print their labels as printed in the volume: ``1. (a) …``, ``(b) …``,
    ``I) The Western Theater.``, ``A) Belgium.``
    """
    lines: list[str] = []
    shown: set[str] = set()  # item paths (and their parents) whose labels are printed
    for i, part in enumerate(parts):
        if i == 0 and part.kind == "heading":
            continue
        if part.kind == "item" and part.path:
            if part.path in shown:
                shown.clear()  # the same path again: a new list starts its numbering
            prefix = item_prefix(part, shown)
            text = f"{prefix} {part.text}" if prefix and part.text else prefix or part.text
            if text:
                lines.append(text)
        elif part.text:
            lines.append(part.text)
    return "\n".join(lines)


def set_body(doc: Document, parts: list[Part]) -> None:
    """A document's parts, text, word count and signature (its first own signature part)."""
    doc.parts = parts
    doc.text = document_text(parts)
    doc.word_count = len(doc.text.split())
    doc.signature = next((p.text for p in parts if p.kind == "signature" and p.attachment is None), None)


# -- correspondents: one way to name them -----------------------------------------------

# Forms of address and ranks printed before a name; the name is what follows.
HONORIFIC = re.compile(
    r"^(?:Mr\.?|Mrs\.|Miss|Messrs\.|MM\.|M\.|Mme\.|Mlle\.|Sir|Señor|Senhor|Signor|Count|Baron|Prince|"
    r"Marquis(?: de)?|General|Colonel|Lord|Earl|Viscount|Admiral|Dr\.|Professor|Herr|Monsieur|Don|"
    r"President|Vice-President|Captain|Commander|Commodore|Commandant|Lieutenant|Major|Sergeant|Rear Admiral|"
    r"Vice-Admiral|Governor|Senator|Cardinal|King|Queen|Rev\.|Judge|(?:Associate )?Justice)\s+"
)
# Words of an office, not of a person's name: "Secretary of State", "Embassy in Poland".
_OFFICE_WORD = re.compile(
    r"\b(?:Secretary|Minister|Ambassador|Consul|Chargé|Charge|Commission|Committee|Council|Department|"
    r"Embassy|Legation|Consulate|Government|Governor|Delegation|Delegate|Office|Bureau|Board|Agent|"
    r"Representative|Commissioner|Envoy|Chief|Director|Counselor|Adviser|Advisers|Mission|Cabinet|"
    r"President|Emperor|Empress|King|Queen|Sultan|Shah|Regent|Khedive|Pope)\b"
)
_PARTICLE = {"de", "da", "di", "del", "van", "von", "der", "den", "y", "la", "le", "du", "of", "and"}
_PAGE_PREFIX = re.compile(r"^\[\d+\]\s*\*?\s*|^\*\s*")  # "[332] *Mr. John Slidell" (a page and a star)
# A number, a subject or an enclosure's letter before the letter's title.
_LEADING = re.compile(r"^(?:No\.?\s*\d+\.?|\d+\.)\s*(?:[—–]\s*[^.]+\.\s+)?|^(?!M\.)[A-Z]\.\s+(?=[A-Z][a-z]*\.?\s)")
# What is printed after a title's recipient: a received line, a date, a page, a footnote.
_TRAILING = re.compile(r"(?:\s*[—–]?\s*\(?Received\b.*|\s*\[Of [^\]]*\]|\.?\s*\[?\d+\]|\.\d{1,3}|\.?\*)+$")
# Offices whose name goes on with "to": "Ambassador to France", "Commission to Negotiate Peace".
_TAKES_TO = re.compile(r"(?:Ambassador|Minister|Commission|Delegate|Delegation|Envoy|Representative|"
                       r"Commissioner|Advisers?|Mission|Agent)$")
_TO = re.compile(r"\s+to\s+")
# A title that names a kind of document, not its writer, before its "to".
_DOCUMENT_KIND = re.compile(r"^(?:Memorandum|Note|Circular|Extracts?|Form|Bulletin|Minutes|Report|Copy)\b")
_ACCOMPANIED = re.compile(r",?\s+with (?:accompaniments?|inclosures?|enclosures?)\b.*$", re.IGNORECASE)
_CONVERSATION = re.compile(r",?\s+of (?:a |his |their )?[Cc]onversations?\b.*$")


def person(name: str | None) -> str | None:
    """A person as named in the columns: the name without forms of address or ranks
    (``Mr. Seward`` → ``Seward``, ``Earl Granville`` → ``Granville``)."""
    name = squash(name).rstrip(",.").strip()
    while (m := HONORIFIC.match(name)) and not name[m.end():].startswith("of "):  # not "Earl of Clarendon"
        name = name[m.end():]
    return name or None


def office(role: str | None) -> str | None:
    """An office as named in the columns: without a leading article (``the Secretary of
    State`` → ``Secretary of State``)."""
    role = re.sub(r"^(?:(?:the|all|of)\s+)+", "", squash(role).rstrip(",").strip(), flags=re.IGNORECASE)
    return role or None


def correspondents(title: str | None) -> dict:
    """Sender and recipient, each a person and an office, from a document's title (head).

    ``"The Chargé in the Soviet Union (Henderson) to the Secretary of State"`` gives sender
    ``Henderson``, sender_role ``Chargé in the Soviet Union``, recipient and recipient_role
    ``Secretary of State``: an office with no name is the correspondent. Both normalisers
    name people by this rule, so their columns compare.
    """
    sides = _sides(title or "")
    out = {"sender": None, "sender_role": None, "recipient": None, "recipient_role": None}
    if sides is None:
        return out
    for key, side in zip(("sender", "recipient"), sides):
        name, role = _correspondent(side) if side else (None, None)
        out[key], out[f"{key}_role"] = name or role, role
    return out


def _sides(title: str) -> tuple[str, str | None] | None:
    """The sender's and the recipient's part of a title, or None when it names no one."""
    t = _clean_title(title)
    m = re.match(r"^(?:[\w-]+\s+){0,3}?[Ff]rom\s+(?:the\s+)?(?P<s>.+?)\s+to\s+(?P<r>.+)$", t)
    if m and not HONORIFIC.match(t):  # "Telegram From the Embassy … to the Department …"
        return m.group("s"), m.group("r")
    m = re.match(r"^Memorandum\b.*?\bby\s+(?P<s>.+)$", t)
    if m:  # "Memorandum by the Chief … (Murray) [to the Secretary of State]"
        by = _CONVERSATION.sub("", m.group("s"))
        return _split_to(by) or (by, None)
    return _split_to(t)


def _clean_title(title: str) -> str:
    """A title without what names no one: page marks and numbers before it (``[332] *``,
    ``No. 3.—case of the Stonewall.``, ``A.``), notes after it (``—Received May 26``,
    ``[63]``, ``.1``, ``, with accompaniments``)."""
    t = _PAGE_PREFIX.sub("", unspace_parens(squash(title)))
    t = _LEADING.sub("", t)
    t = _TRAILING.sub("", t).rstrip(".").strip()
    return _ACCOMPANIED.sub("", t)


def _split_to(text: str) -> tuple[str, str] | None:
    """``X to Y`` at the first "to" that does not go on an office's name."""
    m = re.match(r"^(?P<s>[^()]*\([^()]*\))(?:,[^()]*?)?\s+to\s+(?P<r>.+)$", text)
    if m:  # "The Ambassador to France (Bullitt) to …", "… (Morris), temporarily at Vladivostok, to …"
        return m.group("s"), m.group("r")
    if _DOCUMENT_KIND.match(text):  # "Memorandum in response to …", "Circular to consuls"
        return None
    for to in _TO.finditer(text):
        left = text[: to.start()]
        if "(" not in left and not _TAKES_TO.search(left):
            return left, text[to.end():]
    return None


def _correspondent(side: str) -> tuple[str | None, str | None]:
    """(person, office) of one side: ``the Minister in China (Johnson)``, ``Mr. Seward,
    Secretary of State``, ``Mr. Fish``, ``the Secretary of State``."""
    side = side.strip().rstrip(",")
    m = re.match(r"^(?P<role>.*?)\s*\((?P<name>[^()]+)\)(?:,.*)?$", side)  # (…, temporarily at …)
    if m and HONORIFIC.match(side):  # "Mr. Black (Secretary of State)"
        return person(m.group("role")), office(m.group("name"))
    if m:
        return person(m.group("name")), office(m.group("role"))
    name, _, role = side.partition(", ")  # "Mr. Martin, consul at Nanking"
    of = re.match(r"^(?P<name>[^,]+?),? (?P<role>of the .+)$", side) if HONORIFIC.match(side) else None
    if of:  # "Mr. Miles of the Division of Near Eastern Affairs"
        name, role = of.group("name"), of.group("role")
    titled = re.sub(r"^the\s+", "", name, flags=re.IGNORECASE)  # "the Duke de Louié, minister of …"
    if role and _is_name(role) and not HONORIFIC.match(role):
        name, role, titled = side, "", side  # "Messrs. Hecht, Held and Kayser": names, no office
    if HONORIFIC.match(side) or _is_name(name) or (role and _is_name(titled)):
        return person(titled), office(role)
    return None, office(side)


def _is_name(text: str) -> bool:
    """A person's name as printed: capitalised words (or particles), no office's words."""
    words = text.split()
    return (0 < len(words) <= 6 and words[0].lower() != "the" and not _OFFICE_WORD.search(text)
            and all(w[:1].isupper() or w in _PARTICLE for w in words))
