"""Which copy of a document comes first: the one rule of preference, in Python and in SQL.

A text can be stored more than once: as versions of one ``doc_key`` from several sources (the
warehouse shows one of them, ``warehouse/state.sql``), and as duplicates under several keys (a
cluster names one canonical member, :func:`tasks.dedupe.clusters.preference`). Both prefer
reviewed TEI, then TEI, then page text, and then the newest copy.
"""
from __future__ import annotations

# (format, reviewed) in order of preference, the first that fits wins; reviewed None: either.
# A copy that fits none (page text) comes after them.
TIERS: tuple[tuple[str, bool | None], ...] = (("tei", True), ("tei", None))


def tier(format: str, reviewed: bool | None) -> int:
    """The rank of a copy's source (0 first): its index in :data:`TIERS`."""
    for i, (fmt, rev) in enumerate(TIERS):
        if format == fmt and (rev is None or bool(reviewed) == rev):
            return i
    return len(TIERS)


def tier_sql(format: str = "format", reviewed: str = "reviewed") -> str:
    """:func:`tier` as a SQL expression over the columns ``format`` and ``reviewed``."""
    whens = []
    for i, (fmt, rev) in enumerate(TIERS):
        cond = f"{format} = '{fmt}'"
        if rev is not None:
            cond += f" AND {'' if rev else 'NOT '}coalesce({reviewed}, false)"
        whens.append(f"WHEN {cond} THEN {i}")
    return f"CASE {' '.join(whens)} ELSE {len(TIERS)} END"
