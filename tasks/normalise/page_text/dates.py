"""Printed dates of a page text: a dateline (``Moscow, February 5, 1938—5 p.m.``) and its range."""
from __future__ import annotations

import re
from datetime import datetime

from tasks.normalise.common import plausible_year
from tasks.records import Document

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        "january february march april may june july august september october november december".split()
    )
}
DATE = re.compile(
    r"(?P<month>January|February|March|April|May|June|July|August|September|October|November|"
    r"December)\s+(?P<day>\d{1,2}),?\s+(?P<year>\d{4})"
    r"(?:\s*[—–,-]\s*(?:(?P<h>\d{1,2})(?:[:.](?P<mi>\d{2}))?\s*(?P<ap>a\.\s?m\.|p\.\s?m\.)|(?P<noon>noon)"
    r"|(?P<midnight>midnight)))?"
)
DATELINE = re.compile(r"^\[?(?P<place>[A-Z][^,\d\[\]]{1,60}?),?\]?,?\s+(?P<date>" + DATE.pattern + r".*)$")


def is_dated_line(text: str) -> bool:
    """A short line with a printed date, as datelines are ("Department of State, May 1, 1901.")."""
    m = DATE.search(text) if len(text) <= 100 else None
    return bool(m) and plausible_year(int(m.group("year")))



def set_date(doc: Document, text: str) -> None:
    """Place, printed date and range of ``doc`` from a dateline ``text``."""
    m = DATELINE.match(text)
    if m:
        doc.place, doc.date_text = m.group("place").strip(" []"), m.group("date").strip()
    dm = DATE.search(text)
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
