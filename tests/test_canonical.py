"""The preference among a document's copies: one rule, the same in Python and in SQL."""
from __future__ import annotations

import itertools

import duckdb

from tasks.canonical import tier, tier_sql
from tasks.dedupe import DedupeDoc, preference


def test_tiers_order_reviewed_tei_then_tei_then_page_text():
    assert tier("tei", True) < tier("tei", False) == tier("tei", None) < tier("hsg-text", False)
    assert tier("hsg-text", True) == tier("hsg-text", None)  # a page is never "reviewed TEI"


def test_sql_rule_equals_python_rule():
    con = duckdb.connect()
    for fmt, reviewed in itertools.product(("tei", "hsg-text", "other"), (True, False, None)):
        (got,) = con.execute(f"SELECT {tier_sql()} FROM (SELECT ?::VARCHAR AS format, ?::BOOLEAN AS reviewed)",
                             [fmt, reviewed]).fetchone()
        assert got == tier(fmt, reviewed), (fmt, reviewed)


def test_cluster_canonical_prefers_source_then_newest():
    page = DedupeDoc("hsg-text/x", "hsg-text", False, "", rank=9)
    tei_old = DedupeDoc("frus1a/d1", "tei", False, "", rank=1)
    tei_new = DedupeDoc("frus1b/d1", "tei", False, "", rank=2)
    reviewed = DedupeDoc("frus1c/d1", "tei", True, "", rank=0)
    assert sorted([page, tei_old, tei_new, reviewed], key=preference) == [reviewed, tei_new, tei_old, page]
