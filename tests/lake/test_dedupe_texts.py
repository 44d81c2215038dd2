"""The texts a commit's dedupe verifies are its heads' texts: the version of the head's own
item, whether that item is staged by this run or stored in the lake."""
from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.lake import dedupe


def test_texts_are_the_heads_versions_not_other_items_copies(tmp_path):
    con = duckdb.connect()
    con.execute(f"ATTACH ':memory:' AS {dedupe.ALIAS}")
    con.execute(f"CREATE TABLE {dedupe.ALIAS}.documents (doc_key VARCHAR, source_uri VARCHAR, text VARCHAR)")
    # stored items L1 (older copies of K and M beside J and N) and L2 (K's head)
    con.execute(f"""INSERT INTO {dedupe.ALIAS}.documents VALUES
        ('K', 'L1', 'K old'), ('J', 'L1', 'J head'), ('K', 'L2', 'K head'),
        ('M', 'L1', 'M old'), ('N', 'L1', 'N head')""")
    # staged items S1 (M's head) and S2 (an older M beside P's head)
    staged = {"S1": tmp_path / "s1.parquet", "S2": tmp_path / "s2.parquet"}
    pq.write_table(pa.table({"doc_key": ["M", "Q"], "source_uri": ["S1", "S1"], "text": ["M head", "Q head"]}),
                   staged["S1"])
    pq.write_table(pa.table({"doc_key": ["M", "P"], "source_uri": ["S2", "S2"], "text": ["M old", "P head"]}),
                   staged["S2"])
    con.execute("CREATE TEMP TABLE heads AS SELECT * FROM (VALUES ('K', 'L2'), ('J', 'L1'), ('M', 'S1'), "
                "('P', 'S2'), ('N', 'L1'), ('Q', 'S1')) t(doc_key, source_uri)")
    for keys in [{"K", "J"}, {"M", "P"}, {"M", "N"}, {"K", "J", "M", "N", "P", "Q"}, {"Q"}, set()]:
        assert dedupe._texts(con, keys, staged) == {k: f"{k} head" for k in keys}
