"""Is this a FRUS page? A plausibility filter (not a proof) for any ``.txt`` that reaches the
page-text parser; :class:`~tasks.errors.PageTextError` names the reason otherwise.

- no control characters; a title of at most 500 characters (the corpus's longest heads have
  400), then a body (at least one more line);
- and one sign of a FRUS document: a page URL (line or sidecar); a source-note first line
  (file number, ``[Telegram]``, ``No. 378``, ``File No.``, ``Paris Peace Conf.``, ``123 Name:
  Telegram``); a correspondence title (``X to Y``: X starts with a capital, holds no ``:`` and
  is no sentence opener like ``I``/``How``/``TODO``; Y starts with a capital or ``the``/``all``/…,
  or X with ``Mr.``, ``Prince``, …); a FRUS heading (``[Untitled]``, ``Editorial Note``,
  ``[Inclosure …]``, ``No. 3. …``, ``A.``, a document kind such as ``Memorandum``,
  ``Translation``, ``Protest``, ``Record of …``); a dateline, ``[Received …]`` line or short
  dated line (``May 1, 1901``) among the three lines after the title; a signature; ``[Page N]``
  markers; or footnotes anchored on their markers.
"""
from __future__ import annotations

import re

from tasks.errors import PageTextError
from tasks.normalise.common import HONORIFIC, correspondents, squash
from tasks.normalise.page_text.dates import is_dated_line
from tasks.records import Document

NOT_FRUS = ("not a FRUS page text (no URL, source note, correspondence title, FRUS heading, "
            "dateline, signature, page marker or anchored footnote)")
_MAX_TITLE = 500  # characters; the corpus's longest head has 400
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
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



def check_text(text: str, name: str) -> None:
    """Refuse empty text and control characters."""
    if not text.strip():
        raise PageTextError(name, "empty page text")
    if _CONTROL.search(text):
        raise PageTextError(name, "control characters: not a page text")


def check_shape(title: str, body: list, name: str) -> None:
    """A page has a heading-sized title and a body after it."""
    if len(title) > _MAX_TITLE:
        raise PageTextError(name, f"title of {len(title):,} characters (> {_MAX_TITLE}): not a page heading")
    if not body:
        raise PageTextError(name, "no body text after the title")


def looks_like_frus(doc: Document) -> bool:
    """One sign of a FRUS document besides a URL (see the module docstring)."""
    heading = doc.parts[0].text
    return bool(
        doc.source_notes
        or doc.signature
        or doc.page_start
        or _FRUS_HEADING.match(heading)
        or _is_correspondence(heading)
        or any(p.kind == "dateline" or is_dated_line(p.text) for p in doc.parts[1:4])
        or any(f.part_seq is not None for f in doc.footnotes)
    )



def _is_correspondence(title: str) -> bool:
    """``X to Y`` with correspondents' shapes, not a sentence ("TODO: remember to buy milk")."""
    parsed = correspondents(title)
    if not (parsed["sender"] and parsed["recipient"]):
        return False
    sender, _, recipient = squash(title).partition(" to ")
    sender = re.sub(r"^(?:\[\d+\]\s*\*?\s*)?(?:No\.\s*)?(?:\d+\.\s+)?", "", sender)
    recipient = re.sub(r"^(?:(?:the|all|his|her|their|each)\s+)+", "", recipient, flags=re.IGNORECASE)
    first = sender.split()[0].strip("[(“\"'").lower() if sender.split() else ""
    return (
        sender[:1].isupper()
        and (recipient[:1].isupper() or bool(HONORIFIC.match(sender)))  # "Mr. Seward to ministers of …"
        and not re.search(r"[:?!]", sender)
        and first not in _NOT_SENDER
    )



def check_frus(doc: Document, name: str) -> None:
    """Refuse a page with no sign of FRUS (see the module docstring)."""
    if not looks_like_frus(doc):
        raise PageTextError(name, NOT_FRUS)
