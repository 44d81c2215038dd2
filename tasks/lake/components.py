"""Duplicate clusters of a commit, rebuilt only where a changed document can change them.

Run inside :func:`tasks.lake.dedupe.deduplicate`'s session, after its ``all_links`` (the new
state's links), ``heads`` / ``head_ids`` (the documents, numbered) and ``changed_keys``. The
link components that hold a changed document, a page, or a member of an old cluster of one are
clustered again with :func:`tasks.dedupe.cluster` (clusters never span two components, so a
batch of whole components gives the rows the whole graph would); every other cluster keeps its
rows. Python holds the graph as two integer arrays and one batch of components at a time
(one more a process that clusters them, for a big run: ``tasks.lake.apart.Offload``).
"""
from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from tasks.dedupe import DedupeDoc, Links, cluster
from tasks.lake import duck
from tasks.lake.apart import Offload
from tasks.lake.catalog import ALIAS
from tasks.lake.schema import DUPLICATES

# Documents of the components clustered in one batch.
BATCH = 20_000
_META = "doc_key, format, reviewed, file_number, date_min, sender, recipient, rank"


def heads_docs(con: duckdb.DuckDBPyConnection, keys) -> dict[str, DedupeDoc]:
    """DedupeDoc (no text) of the heads of ``keys``."""
    duck.temp_column(con, "wanted", keys)
    rows = con.execute(f"SELECT {_META} FROM heads WHERE doc_key IN (SELECT doc_key FROM wanted)").fetchall()
    return {r[0]: DedupeDoc(r[0], r[1], bool(r[1] == "tei" and r[2]), "", r[3], r[4], r[5], r[7], r[6])
            for r in rows}


def rebuild(con: duckdb.DuckDBPyConnection, run_id: str, work=None) -> None:
    """``all_duplicates``: the clusters of the new state (DUPLICATES' columns). ``work``: a
    :class:`tasks.lake.apart.Offload` that clusters the batches of components (default: here)."""
    con.execute("CREATE TEMP TABLE seeds AS SELECT doc_key FROM changed_keys "
                "UNION SELECT doc_key FROM heads WHERE doc_key LIKE 'hsg-text/%'")
    con.execute(f"INSERT INTO seeds SELECT DISTINCT doc_key FROM {ALIAS}.duplicates WHERE cluster_id IN "
                f"(SELECT cluster_id FROM {ALIAS}.duplicates WHERE doc_key IN (SELECT doc_key FROM seeds)) "
                "AND doc_key NOT IN (SELECT doc_key FROM seeds)")
    _affected(con)
    con.execute(f"CREATE TEMP TABLE all_duplicates AS SELECT {', '.join(DUPLICATES.names)} FROM {ALIAS}.duplicates "
                "WHERE doc_key NOT IN (SELECT doc_key FROM seeds) "
                "AND doc_key NOT IN (SELECT doc_key FROM affected)")
    con.execute("""CREATE TEMP TABLE component_batches AS
                   SELECT comp, (sum(n) OVER (ORDER BY comp) - 1) // ? AS batch
                   FROM (SELECT comp, count(*) AS n FROM affected GROUP BY comp)""", [BATCH])
    n_batches = con.execute("SELECT coalesce(max(batch) + 1, 0) FROM component_batches").fetchone()[0]
    work = work or Offload(1)
    for b in range(n_batches):
        keys = [k for (k,) in con.execute(
            "SELECT doc_key FROM affected JOIN component_batches USING (comp) WHERE batch = ?", [b]).fetchall()]
        docs = heads_docs(con, keys)
        links: Links = {(a, c): (m, s) for a, c, m, s in con.execute(
            "SELECT doc_a, doc_b, method, similarity FROM all_links WHERE doc_a IN (SELECT doc_key FROM wanted)"
        ).fetchall()}
        work(_rows, docs, links, run_id)
        for rows in work.ready() if b < n_batches - 1 else work.results():
            duck.temp_table(con, "_batch_rows", rows)
            con.execute("INSERT INTO all_duplicates SELECT * FROM _batch_rows")
    con.execute("DROP TABLE IF EXISTS _batch_rows")


def _rows(docs: dict[str, DedupeDoc], links: Links, run_id: str) -> pa.Table:
    """The DUPLICATES rows of :func:`tasks.dedupe.cluster` of ``docs`` and ``links``."""
    rows = cluster(docs, links)
    columns = {name: [getattr(r, name) for r in rows] for name in DUPLICATES.names if name != "run_id"}
    return pa.table({**columns, "run_id": [run_id] * len(rows)}, schema=DUPLICATES)


def _affected(con: duckdb.DuckDBPyConnection) -> None:
    """``affected`` (doc_key, comp): the documents of the link components that hold a seed."""
    (n,) = con.execute("SELECT count(*) FROM head_ids").fetchone()
    ends = con.execute("SELECT na.hid, nb.hid FROM all_links l JOIN head_ids na ON na.doc_key = l.doc_a "
                       "JOIN head_ids nb ON nb.doc_key = l.doc_b").fetchnumpy()
    a, b = (np.asarray(ends[c], dtype=np.int64) - 1 for c in ends)  # (hid counts from 1)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels)
    seed_ids = con.execute("SELECT hid FROM head_ids WHERE doc_key IN (SELECT doc_key FROM seeds)").fetchnumpy()["hid"]
    roots = np.unique(labels[np.asarray(seed_ids, dtype=np.int64) - 1])
    hit = np.flatnonzero(np.isin(labels, roots) & (sizes[labels] >= 2))
    duck.temp_table(con, "_affected_ids", pa.table({"hid": pa.array(hit + 1, pa.int32()),
                                                    "comp": pa.array(labels[hit], pa.int64())}))
    con.execute("CREATE TEMP TABLE affected AS SELECT h.doc_key, a.comp FROM _affected_ids a JOIN head_ids h USING (hid)")
    con.execute("DROP TABLE _affected_ids")
