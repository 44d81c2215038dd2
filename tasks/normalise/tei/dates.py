"""Place and date of a TEI document: machine-readable dates first, printed text kept.

A machine-readable date outside the plausible years (:func:`tasks.normalise.common.plausible_year`)
is a typo in the TEI (``0201-06-05`` for "June 5–17, 1864", ``1670`` for 1870): it is ignored
as if the attribute were absent.
"""
from __future__ import annotations

import calendar
import re
from datetime import datetime

from lxml import etree

from tasks.normalise.common import FRUS, TEI, plausible_year
from tasks.normalise.tei.text import ATTACHMENT, NOTE, plain_text

_ISO = re.compile(
    r"^(\d{4})(?:-(\d\d)(?:-(\d\d)(?:T(\d\d):(\d\d)(?::(\d\d))?(?:\.\d+)?)?)?)?(Z|[+-]\d\d:?\d\d)?$"
)


def parse_iso(value: str | None, end: bool = False) -> datetime | None:
    """An ISO 8601 date or dateTime as the wall-clock time written (offset not applied).

    A year or year-month stands for its first day, or its last with ``end``. Returns None
    for values that are not a full calendar date (``--02-05``) or not a real day.
    """
    m = _ISO.match((value or "").strip())
    if not m:
        return None
    year, month, day, hour, minute, second, _ = m.groups()
    y = int(year)
    mo = int(month) if month else (12 if end else 1)
    try:
        d = int(day) if day else (calendar.monthrange(y, mo)[1] if end else 1)
        return datetime(y, mo, d, int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        return None


def _plausible(value: str | None) -> bool:
    """``value`` is an ISO date (see :func:`parse_iso`) in a plausible year."""
    parsed = parse_iso(value)
    return parsed is not None and plausible_year(parsed.year)


def document_dates(div: etree._Element) -> dict[str, object]:
    """Place, printed date and date range of a document ``div``, as the fields of
    :class:`~tasks.records.Document` (``place``, ``date_text``, ``date_min``…; one absent is None)."""
    out: dict[str, object] = {}
    dateline = _first_own(div, TEI + "dateline")
    if dateline is not None:
        place = dateline.find(f".//{TEI}placeName")
        out["place"] = plain_text(place).rstrip(",.") or None if place is not None else None
        date = dateline.find(f".//{TEI}date")
        out["date_text"] = plain_text(date if date is not None else dateline) or None
    lo, hi = div.get(FRUS + "doc-dateTime-min"), div.get(FRUS + "doc-dateTime-max")
    hi = hi if _plausible(hi) else lo  # a missing or broken max: the min stands for both
    if not _plausible(lo):
        lo = hi = None
        for date in _dates_in_order(div, dateline):
            lo, hi = _range(date)
            if lo:
                if out.get("date_text") is None:
                    out["date_text"] = plain_text(date) or None
                break
    if lo:
        out["date_min"], out["date_min_iso"] = parse_iso(lo), lo
        out["date_max"], out["date_max_iso"] = parse_iso(hi or lo, end=True), hi or lo
    return out


def _range(date: etree._Element) -> tuple[str | None, str | None]:
    """The machine-readable (start, end) of a ``date``: @when, else @from/@notBefore and
    @to/@notAfter (either alone stands for both); (None, None) when none is a plausible ISO date."""
    when = date.get("when")
    if _plausible(when):
        return when, when
    lo = next((v for v in (date.get("from"), date.get("notBefore")) if _plausible(v)), None)
    hi = next((v for v in (date.get("to"), date.get("notAfter")) if _plausible(v)), None)
    return (lo or hi, hi or lo) if lo or hi else (None, None)


def _first_own(div: etree._Element, tag: str):
    """The first ``tag`` in the document outside its attachments."""
    for el in div.iter(tag):
        if not _inside(el, div, ATTACHMENT):
            return el
    return None


def _inside(el: etree._Element, stop: etree._Element, tag: str) -> bool:
    """Whether ``el`` stands in a ``tag`` below ``stop`` (the document div)."""
    for anc in el.iterancestors():
        if anc is stop:
            return False
        if anc.tag == tag:
            return True
    return False


def _dates_in_order(div: etree._Element, dateline):
    """Candidate dates: the dateline's, then the document's own, then its attachments',
    then (last resort) those in footnotes."""
    if dateline is not None:
        yield from dateline.iter(TEI + "date")
    dates = list(div.iter(TEI + "date"))
    text = [d for d in dates if not _inside(d, div, NOTE)]
    yield from (d for d in text if not _inside(d, div, ATTACHMENT))
    yield from (d for d in text if _inside(d, div, ATTACHMENT))
    yield from (d for d in dates if _inside(d, div, NOTE))
