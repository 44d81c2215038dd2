-- The analyst's warehouse: documented views and macros over the native tables (tables.sql),
-- which each ingest updates with what its run changed (items.sql, state.sql). Plain SQL: the duckdb
-- 1.5.5 shell needs no extension to use any of it.

COMMENT ON TABLE document_versions IS 'Every stored version of every document, from every source item (withdrawn ones included); version_id = its key in this warehouse; version_rank 1 is the version documents shows; shown = that version of a canonical document.';
COMMENT ON TABLE part_rows IS 'The parts of every stored version (the parts view shows the canonical ones).';
COMMENT ON TABLE footnote_rows IS 'The footnotes of every stored version (the footnotes view shows the canonical ones).';
COMMENT ON TABLE volume_rows IS 'One row per volume and source item (the volumes view shows one per volume).';
COMMENT ON TABLE duplicates IS 'Members of duplicate clusters (exact content hash, near-duplicate MinHash+Jaccard, cross-source page text to TEI): cluster_id, doc_key, canonical_key, method, similarity.';
COMMENT ON TABLE rejects IS 'Documents or files that could not be normalised: source_uri, place and reason.';
COMMENT ON TABLE lake_items IS 'Source items in the lake: version, hash, the run that ingested each, and the run that saw it withdrawn.';
COMMENT ON TABLE terms IS 'Every term of the index once: its term_id (doc_terms), the term, its initial: where mentions() expands a word to the terms it begins.';
COMMENT ON TABLE doc_terms IS 'The search index: one row per term (term_id, the terms table''s) and document version (field 0: title and text, 1: footnotes), tf = occurrences; read by mentions() and search_documents().';
COMMENT ON TABLE warehouse_meta IS 'Which lake snapshot this warehouse reflects, and when it was built and last updated.';

-- {runs_file}: DATA/lake/runs.parquet, which every run rewrites (commit or not)
CREATE OR REPLACE VIEW runs AS SELECT * FROM read_parquet({runs_file});
COMMENT ON VIEW runs IS 'One row per ingest run (including runs that found nothing to do, or were skipped because another run held the lake): counts of items and documents, status.';

CREATE OR REPLACE VIEW documents AS
SELECT * EXCLUDE (version_rank, shown) FROM document_versions WHERE shown;
COMMENT ON VIEW documents IS 'One row per canonical document (doc_key = volume_id/doc_id): of several versions of a key, reviewed TEI before TEI before page text, then the newest; members of a duplicate cluster are represented by its canonical document. Metadata from the head, source note and dateline; text = the body as plain text, footnotes out; withdrawn_run = the run that saw its source item removed upstream (NULL while current).';

CREATE OR REPLACE VIEW parts AS
SELECT * EXCLUDE (version_id) FROM part_rows
WHERE version_id IN (SELECT version_id FROM document_versions WHERE shown);
COMMENT ON VIEW parts IS 'The blocks of each canonical document in reading order (seq): heading, dateline, paragraph, item (label, path), quote, row, closer, signature, salute, postscript, attachment, figure; page as printed; attachment = enclosure number.';

CREATE OR REPLACE VIEW footnotes AS
SELECT * EXCLUDE (version_id) FROM footnote_rows
WHERE version_id IN (SELECT version_id FROM document_versions WHERE shown);
COMMENT ON VIEW footnotes IS 'Footnotes of each canonical document, keyed by note_id (xml:id); n as printed; part_seq = the part holding the marker.';

CREATE OR REPLACE VIEW volumes AS
SELECT v.* FROM volume_rows v LEFT JOIN lake_items i ON i.uri = v.source_uri
QUALIFY row_number() OVER (PARTITION BY v.volume_id
                           ORDER BY i.withdrawn_run IS NOT NULL, i.ingested_at DESC, v.source_uri) = 1;
COMMENT ON VIEW volumes IS 'One row per FRUS volume (from its current, newest source item): titles, publication year, editors, document count, lineage.';

CREATE OR REPLACE VIEW document_sources AS
SELECT coalesce(x.canonical_key, v.doc_key) AS doc_key, v.doc_key AS source_doc_key, v.source_uri,
       v.format, v.content_hash, v.run_id, v.item_ingested_at, v.withdrawn_run,
       CASE WHEN x.doc_key IS NOT NULL AND x.doc_key <> x.canonical_key AND v.version_rank = 1
                THEN x.method
            WHEN v.version_rank = 1 THEN 'self'
            ELSE 'version' END AS method,
       CASE WHEN x.doc_key <> x.canonical_key AND v.version_rank = 1 THEN x.similarity END AS similarity
FROM document_versions v
LEFT JOIN duplicates x ON x.doc_key = v.doc_key;
COMMENT ON VIEW document_sources IS 'Every source version of each canonical document: the source item (source_uri), format, content hash and run; method = how it is linked: self (the version shown), version (another version of the same key: older, withdrawn, or from another source), exact, near or cross-source (a duplicate document folded into the canonical one, with its similarity).';

-- Terms as the index stores them: lower case, runs of letters and digits (matched: a third
-- faster than splitting on what lies between and dropping the empty pieces).
CREATE OR REPLACE MACRO frus_terms(s) AS
    regexp_extract_all(lower(coalesce(s, '')), '[\pL\pN]+');

-- The ids (doc_terms.term_id) of a list of terms, those the index has.
CREATE OR REPLACE MACRO frus_term_ids(words) AS
    (SELECT list(term_id) FROM terms WHERE term IN (SELECT unnest(words)));

CREATE OR REPLACE MACRO frus_phrase_regex(phrase) AS
    '(?i)' || array_to_string(
        list_transform(string_split_regex(trim(phrase), '\s+'), w -> regexp_escape(w)), '\s+');

-- mentions(phrase [, include_notes := false]): documents whose title or body (or footnotes)
-- contain the phrase, case-insensitive, across line breaks and runs of white space; one row
-- per canonical document. The index gives the candidates (a phrase matches inside words, so
-- its first term may end a longer term and its last may begin one): with one term, every
-- document holding a term that contains it; with two, a term that starts with the second;
-- with more, all the inner terms; with none (punctuation only), every document. The regular
-- expression then decides. An empty phrase matches nothing. (Lists unnested in joins let DuckDB read only the matching rows.)
CREATE OR REPLACE MACRO mentions(phrase, include_notes := false) AS TABLE
WITH q AS MATERIALIZED (
    SELECT frus_terms(phrase) AS toks, len(frus_terms(phrase)) AS n,
           list_distinct(frus_terms(phrase)[2:-2]) AS inner_toks, frus_phrase_regex(phrase) AS rx
),
matched AS (  -- the index terms each candidate document must hold
    SELECT t.term FROM terms t JOIN (SELECT left(toks[-1], 1) AS initial FROM q WHERE n = 2) USING (initial), q
    WHERE starts_with(t.term, q.toks[2])
    UNION ALL
    SELECT t.term FROM terms t, q WHERE q.n = 1 AND contains(t.term, q.toks[1])
    UNION ALL
    SELECT unnest(inner_toks) FROM q WHERE n > 2
),
cand AS (
    SELECT version_id FROM (
        SELECT version_id, count(DISTINCT term_id) AS held FROM doc_terms
        WHERE term_id IN (SELECT unnest(frus_term_ids((SELECT list(term) FROM matched))))
          AND (field = 0 OR include_notes)
        GROUP BY version_id), q
    WHERE held = CASE WHEN q.n > 2 THEN len(q.inner_toks) ELSE 1 END OR q.n <= 2
    UNION ALL
    SELECT version_id FROM document_versions, q WHERE q.n = 0  -- no letter or digit: every one
),
notes AS (
    SELECT f.version_id, count(*) AS note_hits
    FROM (SELECT * FROM footnote_rows
          WHERE version_id IN (SELECT unnest((SELECT list(version_id) FROM cand)))) f, q
    WHERE include_notes AND regexp_matches(f.text, q.rx)
    GROUP BY f.version_id
),
hits AS (
    SELECT d.doc_key, d.volume_id, d.date_min, d.title, d.sender, d.recipient, d.text,
           len(regexp_extract_all(coalesce(d.title, ''), q.rx))
             + len(regexp_extract_all(coalesce(d.text, ''), q.rx)) AS hits,
           regexp_extract(coalesce(d.text, ''), q.rx) AS first_hit,
           coalesce(n.note_hits, 0) AS note_hits
    FROM (SELECT * FROM document_versions
          WHERE version_id IN (SELECT unnest((SELECT list(version_id) FROM cand)))) d
    LEFT JOIN notes n USING (version_id), q
    WHERE d.shown AND trim(phrase) <> '' AND d.withdrawn_run IS NULL
      AND (regexp_matches(coalesce(d.title, '') || chr(10) || coalesce(d.text, ''), q.rx)
           OR n.note_hits > 0)
)
SELECT doc_key, volume_id, date_min, title, sender, recipient, hits, note_hits,
       CASE WHEN first_hit = '' THEN NULL ELSE
           regexp_replace(substr(text, greatest(1, strpos(text, first_hit) - 80),
                                 length(first_hit) + 160), '\s+', ' ', 'g')
       END AS snippet
FROM hits
ORDER BY date_min NULLS LAST, doc_key;

-- search_documents(query): canonical documents ranked by BM25 (k1 = 1.2, b = 0.75) over
-- title and text, any query term counting (no stemming, no stop words); best first.
CREATE OR REPLACE MACRO search_documents(query) AS TABLE
WITH live AS (SELECT version_id, word_count FROM document_versions WHERE shown AND withdrawn_run IS NULL),
stats AS (SELECT count(*) AS n, greatest(avg(word_count), 1) AS avgdl FROM live),
postings AS (
    SELECT p.term_id AS term, p.version_id, p.tf, l.word_count FROM doc_terms p JOIN live l USING (version_id)
    WHERE p.field = 0 AND p.term_id IN (SELECT unnest(frus_term_ids(list_distinct(frus_terms(query)))))
),
df AS (SELECT term, count(*) AS df FROM postings GROUP BY term),
scored AS (
    SELECT p.version_id, count(*) AS terms_matched,
           sum(ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5))
               * p.tf * 2.2 / (p.tf + 1.2 * (0.25 + 0.75 * p.word_count / s.avgdl))) AS score
    FROM postings p JOIN df USING (term) CROSS JOIN stats s
    GROUP BY p.version_id
)
SELECT d.doc_key, d.volume_id, d.date_min, d.title, d.sender, d.recipient,
       round(s.score, 4) AS score, s.terms_matched, d.url, d.version_id
FROM scored s
JOIN document_versions d ON d.version_id = s.version_id
    AND d.version_id IN (SELECT unnest((SELECT list(version_id) FROM scored)))
ORDER BY s.score DESC, d.doc_key;

-- search_parts(query): the parts of the 100 best documents (search_documents) that hold a
-- query term; score = the document's BM25 times the part's term saturation, best first.
CREATE OR REPLACE MACRO search_parts(query) AS TABLE
WITH top AS MATERIALIZED (SELECT version_id, score AS doc_score FROM search_documents(query) LIMIT 100),
q AS MATERIALIZED (SELECT list_distinct(frus_terms(query)) AS terms),
p AS (
    SELECT p.doc_key, p.seq, p.kind, p.text, t.doc_score,
           len(list_filter(frus_terms(p.text), w -> list_contains(q.terms, w))) AS hits
    FROM part_rows p JOIN top t USING (version_id), q
    WHERE p.version_id IN (SELECT unnest((SELECT list(version_id) FROM top)))
)
SELECT doc_key, seq, kind, round(doc_score * hits / (hits + 1.2), 4) AS score, text
FROM p WHERE hits > 0
ORDER BY score DESC, doc_key, seq;

-- The analysts' search (frus search, frus export): search_hits, search and the filtered
-- mentions share one filter set and one row shape. Filters are NULL for "any": date_from and
-- date_to (DATE, on date_min), volume (a volume_id), doc_type, keys (a list of doc_keys, e.g.
-- (SELECT list(doc_key) FROM document_people WHERE person_id = '…'): frus search --person).
CREATE OR REPLACE MACRO frus_keep(d_key, d_date, d_volume, d_type, date_from, date_to, volume, doc_type, keys) AS
    (keys IS NULL OR d_key IN (SELECT unnest(keys))) AND
    (date_from IS NULL OR d_date >= CAST(date_from AS DATE))
    AND (date_to IS NULL OR d_date < CAST(date_to AS DATE) + INTERVAL 1 DAY)
    AND (volume IS NULL OR d_volume = volume)
    AND (doc_type IS NULL OR lower(d_type) = lower(doc_type));

-- A snippet of ~200 characters around the first match of regular expression rx in s.
CREATE OR REPLACE MACRO frus_snippet(s, rx) AS
    CASE WHEN regexp_matches(coalesce(s, ''), rx) THEN
        trim(regexp_replace(substr(s, greatest(1, strpos(s, regexp_extract(s, rx)) - 80),
                                   length(regexp_extract(s, rx)) + 160), '\s+', ' ', 'g'))
    END;

-- The same around the first occurrence of a term (lower case): a constant pattern, so cheap.
CREATE OR REPLACE MACRO frus_term_snippet(s, term) AS
    CASE WHEN strpos(lower(coalesce(s, '')), term) > 0 THEN
        trim(regexp_replace(substr(s, greatest(1, strpos(lower(s), term) - 80), length(term) + 160),
                            '\s+', ' ', 'g'))
    END;

-- search_hits(query, …filters): the documents search_documents' BM25 finds, footnotes counted
-- too (a footnote term weighs half a body term), filtered; no snippet (cheap: for facets).
CREATE OR REPLACE MACRO search_hits(query, date_from := NULL, date_to := NULL, volume := NULL,
                                    doc_type := NULL, keys := NULL) AS TABLE
WITH live AS (SELECT version_id, word_count FROM document_versions WHERE shown AND withdrawn_run IS NULL),
stats AS (SELECT count(*) AS n, greatest(avg(word_count), 1) AS avgdl FROM live),
query_terms AS MATERIALIZED (
    SELECT term_id, term FROM terms WHERE term IN (SELECT unnest((SELECT list_distinct(frus_terms(query)))))),
postings AS (
    SELECT t.term, p.version_id, sum(CASE WHEN p.field = 0 THEN p.tf ELSE 0.5 * p.tf END) AS tf,
           max(p.field = 0) AS in_body, max(p.field = 1) AS in_notes, any_value(l.word_count) AS word_count
    FROM doc_terms p JOIN live l USING (version_id) JOIN query_terms t USING (term_id)
    WHERE p.term_id IN (SELECT unnest((SELECT list(term_id) FROM query_terms)))
    GROUP BY t.term, p.version_id
),
df AS (SELECT term, count(*) AS df FROM postings GROUP BY term),
scored AS (
    SELECT p.version_id, count(*) FILTER (WHERE in_body) AS hits, count(*) FILTER (WHERE in_notes) AS note_hits,
           arg_min(p.term, (NOT p.in_body, df.df)) AS best_term,  -- the rarest, in the text if it can
           sum(ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5))
               * p.tf * 2.2 / (p.tf + 1.2 * (0.25 + 0.75 * p.word_count / s.avgdl))) AS score
    FROM postings p JOIN df USING (term) CROSS JOIN stats s
    GROUP BY p.version_id
)
SELECT d.doc_key, d.volume_id, d.date_min, d.doc_type, d.title, d.sender, d.recipient, d.url,
       round(s.score, 4) AS score, s.hits, s.note_hits, s.best_term, d.version_id
FROM scored s
JOIN document_versions d ON d.version_id = s.version_id
    AND d.version_id IN (SELECT unnest((SELECT list(version_id) FROM scored)))
WHERE frus_keep(d.doc_key, d.date_min, d.volume_id, d.doc_type, date_from, date_to, volume, doc_type, keys)
ORDER BY s.score DESC, d.doc_key;

-- search(query, …filters, top := 50): the best `top` of search_hits (NULL: all) with a
-- snippet around the rarest query word the text holds, else a footnote's ("[note N] …").
-- Columns: doc_key, volume_id, date_min, doc_type, title, sender, recipient, url, score,
-- hits (query terms in title or text), note_hits (in footnotes), snippet.
CREATE OR REPLACE MACRO search(query, date_from := NULL, date_to := NULL, volume := NULL,
                               doc_type := NULL, keys := NULL, top := 50) AS TABLE
WITH best AS MATERIALIZED (
    SELECT * FROM search_hits(query, date_from := date_from, date_to := date_to, volume := volume,
                              doc_type := doc_type, keys := keys)
    LIMIT coalesce(top, 9223372036854775807)
),
notes AS (
    SELECT f.version_id, arg_min('[note ' || coalesce(f.n, '?') || '] ' || frus_term_snippet(f.text, b.best_term),
                                 f.part_seq) AS snip
    FROM footnote_rows f JOIN best b USING (version_id)
    WHERE f.version_id IN (SELECT unnest((SELECT list(version_id) FROM best WHERE hits = 0)))
      AND contains(lower(f.text), b.best_term)
    GROUP BY f.version_id
)
SELECT b.doc_key, b.volume_id, b.date_min, b.doc_type, b.title, b.sender, b.recipient, b.url, b.score,
       b.hits, b.note_hits,
       coalesce(frus_term_snippet(d.text, b.best_term), n.snip, frus_term_snippet(d.title, b.best_term)) AS snippet
FROM best b
JOIN document_versions d ON d.version_id = b.version_id
    AND d.version_id IN (SELECT unnest((SELECT list(version_id) FROM best)))
LEFT JOIN notes n ON n.version_id = b.version_id
ORDER BY b.score DESC, b.doc_key;

-- phrase_search(phrase, …filters, include_notes := true): mentions() in search's row shape
-- (score NULL, ordered by date), the snippet from a footnote when only a footnote holds it.
CREATE OR REPLACE MACRO phrase_search(phrase, date_from := NULL, date_to := NULL, volume := NULL,
                                      doc_type := NULL, keys := NULL, include_notes := true) AS TABLE
WITH m AS MATERIALIZED (SELECT * FROM mentions(phrase, include_notes := include_notes)),
v AS MATERIALIZED (
    SELECT d.version_id, d.doc_key, d.doc_type AS d_type, d.url, d.date_min, d.volume_id FROM document_versions d
    WHERE d.shown AND d.doc_key IN (SELECT unnest((SELECT list(doc_key) FROM m)))
),
notes AS (
    SELECT f.doc_key, arg_min('[note ' || coalesce(f.n, '?') || '] '
                               || frus_snippet(f.text, frus_phrase_regex(phrase)), f.part_seq) AS snip
    FROM footnote_rows f
    WHERE f.version_id IN (SELECT unnest((SELECT list(version_id) FROM v JOIN m USING (doc_key)
                                          WHERE m.snippet IS NULL)))
      AND regexp_matches(f.text, frus_phrase_regex(phrase))
    GROUP BY f.doc_key
)
SELECT m.doc_key, m.volume_id, m.date_min, v.d_type AS doc_type, m.title, m.sender, m.recipient, v.url,
       NULL::DOUBLE AS score, m.hits, m.note_hits, coalesce(m.snippet, n.snip) AS snippet
FROM m JOIN v USING (doc_key) LEFT JOIN notes n USING (doc_key)
WHERE frus_keep(v.doc_key, v.date_min, v.volume_id, v.d_type, date_from, date_to, volume, doc_type, keys)
ORDER BY m.date_min NULLS LAST, m.doc_key;
