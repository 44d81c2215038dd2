"""The head of a page text: its URL, source-note lines, title, number and correspondents."""
from __future__ import annotations

import re

from tasks.normalise.common import correspondents
from tasks.normalise.source_note import parse_source_note
from tasks.records import Document

_URL = re.compile(
    r"^https?://(?:www\.)?history\.state\.gov\.?(?::\d+)?/historicaldocuments/"
    r"(?P<vol>[A-Za-z0-9_-]+)/(?P<doc>[A-Za-z0-9_.-]+?)/?(?:[?#].*)?$"
)
# "B.", "[Inclosure No. 2.]", "[Enclosure]": what marks an enclosure above its title.
_ENCLOSURE_MARK = re.compile(r"^(?:[A-Z]\.|\[(?:Sub)?(?:In|En)closure\b[^\]]*\])$")

# A head's leading document number: "10. Telegram From …", "No. 3. Mr. Frelinghuysen to …".
_TITLE_NUMBER = re.compile(r"^(?P<no>No\.\s*)?(?P<n>\d+)\.\s+(?P<rest>.*)$")


def parse_url(url: str) -> tuple[str, str] | None:
    """``(volume_id, doc_id)`` of a history.state.gov document URL, else ``None``."""
    m = _URL.match(url.strip())
    return (m.group("vol"), m.group("doc")) if m else None


def parse_title(title: str) -> dict:
    """Correspondents from a title (head), by the rule both normalisers share
    (:func:`tasks.normalise.common.correspondents`)."""
    return correspondents(title)


def is_source_note(text: str) -> bool:
    """A source-note line, not a title ("Paraphrase of a Telegram From …" is a title).

    Before the title, an enclosure's letter (``B.``) or number (``[Inclosure No. 2.]``) is
    one too: TEI prints them as source notes.
    """
    got = parse_source_note(text)
    if text.startswith("Source:") or _ENCLOSURE_MARK.match(text):
        return True
    if text.startswith(("[", "(")) and any(got.values()):
        return True
    if got["file_number"] or got["despatch_number"] or got["classification"]:
        return True
    return bool(got["archive_citation"]) and " to " not in text


def set_title(doc: Document, heading: str, url_doc_id: str | None) -> None:
    """Title, document number and correspondents of ``doc`` from its heading.

    ``url_doc_id``: the document id the page URL gives, if any (``d3`` numbers it 3).
    """
    url_number = url_doc_id[1:] if url_doc_id and re.fullmatch(r"d\d+", url_doc_id) else None
    title = heading
    nm = _TITLE_NUMBER.match(title)
    if nm:  # "10. Telegram From …" (modern), "No. 3. Mr. Frelinghuysen to …" (19th century)
        title = nm.group("rest")
        # a printed "No. 3." may differ from the volume's numbering (TEI @n, the URL's d3)
        doc.doc_number = url_number if nm.group("no") and url_number else nm.group("n")
    else:
        doc.doc_number = url_number
    doc.title = title
    for key, value in correspondents(title).items():
        setattr(doc, key, value)
