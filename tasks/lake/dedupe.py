"""Incremental deduplication: a run's new documents matched against the stored ones.

Each stored document version carries its content hash and MinHash LSH band keys, computed
once when it was normalised (``tasks.dedupe.dedupe_keys``). A commit recomputes the links of
the documents whose versions the run changes (the *changed keys*) only:

- exact: the same content hash (a join in DuckDB);
- near: a shared (band, key) pair, verified on the two texts (only candidates' texts are read);
- cross-source: every page text against the TEI documents by file number, day or sender, else
  bands (pages are few; TEI documents under 50 words have no bands, so the band fallback does
  not reach them as the whole-run LSH does).

Exact and near links of other documents are kept from the lake's ``links`` table; the clusters
of the link components that hold a changed document are rebuilt (``tasks.lake.components``) with
the rules of :func:`tasks.dedupe.find_duplicates` (a test checks both give the same clusters),
the others keep their rows. Memory follows a batch of candidates, not the corpus: links and
clusters are DuckDB temp tables, and DuckDB does the joins under its memory limit.
"""
from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import duckdb
import pyarrow as pa

from tasks.dedupe import (_STRENGTH, MIN_AGREEMENT, DEFAULT_THRESHOLD, Links,
                          _file_key, _name, add_link, band_keys, canonical_words, conflict, content_hash,
                          match_cross_source, minhash, shingle_hashes, verified_pairs)
from tasks.canonical import tier_sql
from tasks.lake import apart, components, duck, staging
from tasks.lake.components import heads_docs as _docs
from tasks.lake.catalog import ALIAS, Lake, Staged
from tasks.lake.schema import DUPLICATES, LINKS

EMPTY_HASH = content_hash("")
# The documents a run changes from which its near candidates are verified, and its clusters
# made, in processes of their own (the verification and the clustering are Python bound: a
# first ingest of 50 copies of the corpus spent 14 s in one, 6 s in the other, on one core);
# and the documents whose texts one query reads for the verification.
POOL_FROM = 20_000
POOL_MAX = 4
VERIFY_KEYS = 2_000


def deduplicate(lake: Lake, changed: Iterable[str], staged: list[Staged], run_id: str, out: Path,
                threshold: float = DEFAULT_THRESHOLD) -> str:
    """Write the ``links`` and ``duplicates`` tables of the state about to be committed to
    ``out/links.parquet`` and ``out/duplicates.parquet``; returns a one-line summary.

    Args:
        lake: the lake (committed state).
        changed: URIs of items whose rows this run replaces or withdraws.
        staged: the new rows of the run's new and changed items.
        run_id: stamped on new links and on the rows of the clusters it rebuilds.
        out: an existing folder.

    Links and clusters stay in DuckDB temp tables (under its memory limit, spilled when
    needed); Python holds one batch of candidates or of link components at a time (a big run:
    one more a verifying process, :func:`_processes`), so a first ingest of the whole series
    costs what a few batches cost.
    """
    # (staged in the store, by workers elsewhere: the documents are read many times, from here)
    staged = [Staged(s.entry, staging.local_copy(s.folder, out / "staged", ("documents",))) for s in staged]
    with lake.connect(read_only=True, memory_limit=duck.DEDUPE_MEMORY_LIMIT) as con:
        _pool(con, sorted(set(changed)), staged)
        con.execute(f"CREATE TEMP TABLE changed_keys AS SELECT doc_key FROM {ALIAS}.documents "
                    "WHERE source_uri IN (SELECT uri FROM changed_uris) UNION SELECT doc_key FROM staged_docs")
        con.execute("CREATE TEMP TABLE new_links (doc_a VARCHAR, doc_b VARCHAR, method VARCHAR, similarity DOUBLE)")
        files = {s.entry.uri: staging.file(s.folder, "documents") for s in staged}
        (n_changed,) = con.execute("SELECT count(*) FROM changed_keys").fetchone()
        with apart.Offload(_processes(n_changed)) as work:
            if n_changed:
                _exact(con)
                _near(con, files, threshold, work)
            _cross_source(con, files, threshold)  # every page, whenever anything changed
            _all_links(con, run_id)
            components.rebuild(con, run_id, work)
        con.execute(f"COPY (SELECT {', '.join(LINKS.names)} FROM all_links ORDER BY doc_a, doc_b) "
                    f"TO {duck.sql_str(out / 'links.parquet')} (FORMAT parquet)")
        con.execute(f"COPY (SELECT {', '.join(DUPLICATES.names)} FROM all_duplicates ORDER BY cluster_id, doc_key) "
                    f"TO {duck.sql_str(out / 'duplicates.parquet')} (FORMAT parquet)")
        n_links = con.execute("SELECT count(*) FROM all_links").fetchone()[0]
        n_dups = con.execute("SELECT count(*) FROM all_duplicates").fetchone()[0]
    return f"{n_links} links, {n_dups} duplicate rows"


def _all_links(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """``all_links``: the stored links that no changed document touches (cross-source ones are
    recomputed for every page) and this run's, the strongest of several for one pair; a kept
    pair keeps the run that first made it."""
    strength = " ".join(f"WHEN '{m}' THEN {s}" for m, s in _STRENGTH.items())
    con.execute(f"""
        CREATE TEMP TABLE all_links AS
        WITH kept AS (
            SELECT doc_a, doc_b, method, similarity, run_id FROM {ALIAS}.links
            WHERE method <> 'cross-source'
              AND doc_a NOT IN (SELECT doc_key FROM changed_keys) AND doc_b NOT IN (SELECT doc_key FROM changed_keys)
              AND doc_a IN (SELECT doc_key FROM heads) AND doc_b IN (SELECT doc_key FROM heads)),
        candidates AS (SELECT *, true AS old FROM kept
                       UNION ALL SELECT *, ? AS run_id, false AS old FROM new_links)
        SELECT doc_a, doc_b, method, similarity,
               coalesce(max(CASE WHEN old THEN run_id END) OVER (PARTITION BY doc_a, doc_b), run_id) AS run_id
        FROM candidates
        QUALIFY row_number() OVER (PARTITION BY doc_a, doc_b
                                   ORDER BY CASE method {strength} END, similarity DESC) = 1""", [run_id])


def _flush(con: duckdb.DuckDBPyConnection, links: Links) -> None:
    """Move ``links`` (found by this run) into the temp table ``new_links``, and empty it."""
    pairs = list(links)
    duck.temp_table(con, "_links_batch", pa.table({
        "doc_a": pa.array([a for a, _ in pairs], pa.string()), "doc_b": pa.array([b for _, b in pairs], pa.string()),
        "method": pa.array([links[p][0] for p in pairs], pa.string()),
        "similarity": pa.array([links[p][1] for p in pairs], pa.float64())}))
    con.execute("INSERT INTO new_links SELECT * FROM _links_batch")
    con.execute("DROP TABLE _links_batch")
    links.clear()


def _pool(con: duckdb.DuckDBPyConnection, changed: list[str], staged: list[Staged]) -> None:
    """``heads``: the preferred current version of every document key, as of the new state:
    the warehouse's rule (``tasks.canonical``): the best source, then the newest run's, then
    the first source URI."""
    duck.temp_column(con, "changed_uris", changed, "uri")
    duck.temp_table(con, "staged_times", pa.table({"uri": pa.array([s.entry.uri for s in staged], pa.string()),
                                                   "ingested": pa.array([s.entry.ingested_at for s in staged], pa.string())}))
    con.execute("CREATE TEMP TABLE staged_items AS SELECT uri, ingested::TIMESTAMPTZ AS ingested FROM staged_times")
    columns = "doc_key, format, reviewed, file_number, date_min, sender, recipient, content_hash, source_uri"
    # (a view takes no parameters: the staged files are a literal list)
    files = "[" + ", ".join(duck.sql_str(staging.file(s.folder, "documents")) for s in staged) + "]"
    source = f"read_parquet({files})" if staged else f"{ALIAS}.documents WHERE false"
    con.execute(f"CREATE TEMP VIEW staged_docs AS SELECT d.*, i.ingested FROM "
                f"(SELECT {columns}, lsh_bands, text FROM {source}) d JOIN staged_items i ON i.uri = d.source_uri")
    con.execute(f"""
        CREATE TEMP TABLE heads AS
        WITH pool AS (
            SELECT {', '.join('d.' + c.strip() for c in columns.split(','))}, i.ingested_at::TIMESTAMPTZ AS ingested
            FROM {ALIAS}.documents d JOIN {ALIAS}.items i ON i.uri = d.source_uri
            WHERE i.withdrawn_run IS NULL AND d.source_uri NOT IN (SELECT uri FROM changed_uris)
            UNION ALL BY NAME SELECT * EXCLUDE (text, lsh_bands) FROM staged_docs)
        SELECT * EXCLUDE (ingested), epoch_us(ingested) AS rank FROM pool
        QUALIFY row_number() OVER (PARTITION BY doc_key ORDER BY {tier_sql()}, ingested DESC, source_uri) = 1""")
    # The heads' LSH band keys, read where they are stored when needed, not held with the
    # heads: at the series' size they are 160 MB, which a copy in each table held twice.
    con.execute(f"""
        CREATE TEMP VIEW head_bands AS
        SELECT h.doc_key, b.lsh_bands FROM heads h JOIN (
            SELECT doc_key, source_uri, lsh_bands FROM {ALIAS}.documents
            WHERE source_uri NOT IN (SELECT uri FROM changed_uris)
            UNION ALL SELECT doc_key, source_uri, lsh_bands FROM staged_docs) b USING (doc_key, source_uri)""")
    # hid: a small number for each head, for the band join
    con.execute("CREATE TEMP TABLE head_ids AS SELECT doc_key, row_number() OVER ()::INTEGER AS hid FROM heads")


def _items_of(con: duckdb.DuckDBPyConnection, keys: set[str]) -> dict[str, str]:
    """The source item (URI) of the head of each of ``keys``."""
    duck.temp_column(con, "wanted", keys)
    return dict(con.execute("SELECT doc_key, source_uri FROM heads WHERE doc_key IN (SELECT doc_key FROM wanted)").fetchall())


def _texts(con: duckdb.DuckDBPyConnection, keys: set[str], staged: dict[str, str],
           uri_of: dict[str, str] | None = None) -> dict[str, str]:
    """The texts of the heads of ``keys``: from the run's staged files in one query, and from
    the lake item by item, with a constant ``source_uri`` filter (DuckLake then reads that
    item's files only). ``uri_of``: their items, when known (:func:`_items_of`)."""
    uri_of = uri_of if uri_of is not None else _items_of(con, keys)
    # (the head's item too: another item may hold a version of the same document)
    listed = list(keys)
    duck.temp_table(con, "wanted", pa.table({"doc_key": pa.array(listed, pa.string()),
                                             "source_uri": pa.array([uri_of[k] for k in listed], pa.string())}))
    uris = sorted({uri_of[k] for k in listed})
    # (one query over all the staged files: a query an item cost 26 ms, most of it fixed;
    # at 50 copies, 745 of them were a third of a first ingest's dedupe)
    files = [str(staged[uri]) for uri in uris if uri in staged]
    out: dict[str, str] = {}
    if files:
        out.update((k, t or "") for k, t in con.execute(
            "SELECT doc_key, text FROM read_parquet(?) SEMI JOIN wanted USING (doc_key, source_uri)",
            [files]).fetchall())
    for uri in uris:
        if uri not in staged:
            out.update((k, t or "") for k, t in con.execute(
                f"SELECT doc_key, text FROM {ALIAS}.documents WHERE source_uri = ? "
                "AND doc_key IN (SELECT doc_key FROM wanted WHERE source_uri = ?)", [uri, uri]).fetchall())
    return out


def _exact(con: duckdb.DuckDBPyConnection, batch: int = 20_000) -> None:
    """Exact links (one content hash, no conflict) that touch a changed document."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE exact_pairs AS
        SELECT a.doc_key AS a, b.doc_key AS b FROM heads a JOIN heads b
          ON a.content_hash = b.content_hash AND a.doc_key < b.doc_key
        WHERE a.content_hash <> ? AND (a.doc_key IN (SELECT doc_key FROM changed_keys)
                                       OR b.doc_key IN (SELECT doc_key FROM changed_keys))""",
                [EMPTY_HASH])
    links: Links = {}
    for pairs in _chunks(con, "exact_pairs", batch):  # Python holds one batch's documents
        docs = _docs(con, {k for p in pairs for k in p})
        for a, b in pairs:
            if not conflict(docs[a], docs[b]):
                add_link(links, a, b, "exact", 1.0)
        _flush(con, links)
    con.execute("DROP TABLE exact_pairs")


def _chunks(con: duckdb.DuckDBPyConnection, table: str, size: int):
    """The (a, b) rows of the temp table ``table``, ``size`` at a time in rowid order."""
    (total,) = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    for start in range(0, total, size):
        yield con.execute(f"SELECT a, b FROM {table} WHERE rowid >= ? AND rowid < ? ORDER BY rowid",
                          [start, start + size]).fetchall()


def _near(con: duckdb.DuckDBPyConnection, staged: dict[str, str], threshold: float, work: apart.Offload,
          batch: int = 20_000) -> None:
    """Near links: a shared (band, key) pair touching a changed document, verified on the texts."""
    # A band at a time: each join holds one key per head (the whole series' 10 M band keys in
    # one join took DuckDB's whole memory limit). Heads are small numbers (hid), their content
    # hashes too (hash_id: exact duplicates are not near candidates).
    con.execute("""
        CREATE OR REPLACE TEMP TABLE band_heads AS
        WITH ids AS (  -- (numbered apart from the band lists: a window sorts every column it carries)
            SELECT h.doc_key, n.hid, dense_rank() OVER (ORDER BY h.content_hash)::INTEGER AS hash_id,
                   h.doc_key IN (SELECT doc_key FROM changed_keys) AS mine
            FROM heads h JOIN head_ids n USING (doc_key))
        SELECT ids.hid, ids.hash_id, ids.mine, b.lsh_bands FROM ids JOIN head_bands b USING (doc_key)
        WHERE len(b.lsh_bands) > 0""")
    con.execute("CREATE OR REPLACE TEMP TABLE band_pairs (a INTEGER, b INTEGER)")
    (bands,) = con.execute("SELECT coalesce(max(len(lsh_bands)), 0) FROM band_heads").fetchone()
    for band in range(1, bands + 1):
        con.execute("""
            INSERT INTO band_pairs
            SELECT DISTINCT least(m.hid, o.hid), greatest(m.hid, o.hid)
            FROM (SELECT hid, hash_id, lsh_bands[$1] AS key FROM band_heads WHERE mine) m
            JOIN (SELECT hid, hash_id, lsh_bands[$1] AS key FROM band_heads) o USING (key)
            WHERE m.hid <> o.hid AND m.hash_id <> o.hash_id""", [band])
    # Then, as tasks.dedupe.banded_agreement, only pairs whose banded values (two 32-bit
    # values a key) agree in MIN_AGREEMENT places or more; sorted, so that a batch of
    # candidates is mostly one volume's documents and theirs.
    con.execute("""
        CREATE OR REPLACE TEMP TABLE near_pairs AS
        WITH agreed AS (
            SELECT c.a, c.b FROM (SELECT DISTINCT a, b FROM band_pairs) c
            JOIN band_heads x ON x.hid = c.a JOIN band_heads y ON y.hid = c.b
            WHERE list_sum(list_transform(range(1, len(x.lsh_bands) + 1), i ->
                      ((x.lsh_bands[i] >> 32) = (y.lsh_bands[i] >> 32))::INTEGER
                      + ((x.lsh_bands[i] & 4294967295) = (y.lsh_bands[i] & 4294967295))::INTEGER)) >= ?)
        SELECT least(na.doc_key, nb.doc_key) AS a, greatest(na.doc_key, nb.doc_key) AS b FROM agreed c
        JOIN head_ids na ON na.hid = c.a JOIN head_ids nb ON nb.hid = c.b
        ORDER BY a, b""", [MIN_AGREEMENT])
    con.execute("DROP TABLE band_pairs")
    con.execute("DROP TABLE band_heads")
    links: Links = {}
    for pairs in _chunks(con, "near_pairs", batch):
        docs = _docs(con, {k for p in pairs for k in p})
        pairs = [(a, b) for a, b in pairs if not conflict(docs[a], docs[b])]
        uri_of = _items_of(con, {k for p in pairs for k in p})
        # Verified VERIFY_KEYS documents' texts at a time, read in one query (a volume's
        # candidates' texts a query were one volume's and a few of each volume they point
        # to: at 50 copies, 745 queries read 5,794 files for 25,003 texts, 10 of 54 s).
        for part in _parts(pairs, VERIFY_KEYS):
            work(verified_pairs, _texts(con, {k for p in part for k in p}, staged, uri_of), part, threshold)
            for a, b, sim in itertools.chain.from_iterable(work.ready()):
                add_link(links, a, b, "near", sim)
        _flush(con, links)  # (the parts still at work go on while the next chunk is read)
    for a, b, sim in itertools.chain.from_iterable(work.results()):
        add_link(links, a, b, "near", sim)
    _flush(con, links)
    con.execute("DROP TABLE near_pairs")


def _parts(pairs: list[tuple[str, str]], keys: int) -> Iterable[list[tuple[str, str]]]:
    """``pairs`` in runs of consecutive pairs that name about ``keys`` documents at most."""
    part: list[tuple[str, str]] = []
    seen: set[str] = set()
    for a, b in pairs:
        if part and len(seen) + (a not in seen) + (b not in seen) > keys:
            yield part
            part, seen = [], set()
        part.append((a, b))
        seen.update((a, b))
    if part:
        yield part


def _processes(changed: int) -> int:
    """How many processes verify and cluster for a run that changes ``changed`` documents
    (1: this one): from ``POOL_FROM`` on, one a core this process may use, ``POOL_MAX`` at
    most (each holds its imports, about 160 MB, and its part or batch)."""
    return min(_cores(), POOL_MAX) if changed >= POOL_FROM else 1


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _cross_source(con: duckdb.DuckDBPyConnection, staged: dict[str, str], threshold: float) -> None:
    """Page texts without URL (``hsg-text/…``) to their TEI documents: every page against
    every TEI document at each commit, as a whole run would (pages are few; their blocks are
    queries on the heads)."""
    pages = con.execute("SELECT doc_key FROM heads WHERE doc_key LIKE 'hsg-text/%'").fetchall()
    if not pages:
        return
    links: Links = {}
    page_docs = _docs(con, {p for (p,) in pages})
    texts = _texts(con, set(page_docs), staged)
    for (key,) in pages:
        p = replace(page_docs[key], text=texts.get(key, ""))
        conds, params = [], []
        if p.file_number:
            conds.append("regexp_replace(lower(file_number), '\\s+', '', 'g') = ?")
            params.append(_file_key(p.file_number))
        if p.date_min:
            conds.append("date_min::DATE = ?::DATE")
            params.append(p.date_min.date())
        if (n := _name(p.sender)):
            conds.append("strip_accents(lower(sender)) LIKE ?")
            params.append(f"%{n.split()[-1]}%")
        cands: set[str] = set()
        if conds:
            cands = {r[0] for r in con.execute(
                f"SELECT doc_key FROM heads WHERE format = 'tei' AND ({' OR '.join(conds)})",
                params).fetchall()}
        if not cands:  # no key, or none matched: the LSH bands of the page (short ones too)
            words = canonical_words(p.text)
            bands = band_keys(minhash(shingle_hashes(words)).hashvalues)
            cands = {r[0] for r in con.execute(
                """WITH b AS (SELECT doc_key, unnest(lsh_bands) AS key, generate_subscripts(lsh_bands, 1) AS band
                              FROM head_bands JOIN heads USING (doc_key) WHERE format = 'tei')
                    SELECT DISTINCT doc_key FROM b JOIN (SELECT unnest(?::BIGINT[]) AS key,
                                                         generate_subscripts(?::BIGINT[], 1) AS band) q
                    USING (band, key)""", [bands, bands]).fetchall()}
        if not cands:
            continue
        tdocs, ttexts = _docs(con, cands), _texts(con, cands, staged)
        teis = [replace(tdocs[k], text=ttexts.get(k, "")) for k in sorted(cands)]
        for m in match_cross_source([p], teis, threshold):
            add_link(links, m.page_key, m.tei_key, "cross-source", max(m.jaccard, m.containment))
    _flush(con, links)


