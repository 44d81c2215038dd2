-- The analyst's warehouse: views over the Parquet lake, and the mentions() macro.
-- {files:<table>} is replaced by the list of committed Parquet files of that table
-- (from lake/_manifest.json) when `frus refresh` or an ingest rebuilds this database;
-- {files:runs} by a glob of lake/runs/, since every run adds a row, commit or not.

CREATE OR REPLACE VIEW volumes AS
SELECT * FROM read_parquet({files:volumes}, union_by_name := true);
COMMENT ON VIEW volumes IS 'One row per FRUS volume: titles, publication year, editors, document count, lineage.';

CREATE OR REPLACE VIEW duplicates AS
SELECT * FROM read_parquet({files:duplicates}, union_by_name := true);
COMMENT ON VIEW duplicates IS 'Members of duplicate clusters (exact content hash, near-duplicate MinHash+Jaccard, cross-source page text to TEI): cluster_id, doc_key, canonical_key, method, similarity.';

CREATE OR REPLACE VIEW document_versions AS
SELECT d.*, i.withdrawn_run, i.ingested_at AS item_ingested_at,
       -- 1 = the version `documents` shows: current before withdrawn, reviewed TEI before
       -- TEI before page text, then the newest item
       row_number() OVER (
           PARTITION BY d.doc_key
           ORDER BY i.withdrawn_run IS NOT NULL,
                    CASE WHEN d.format = 'tei' AND d.reviewed THEN 0 WHEN d.format = 'tei' THEN 1 ELSE 2 END,
                    i.ingested_at DESC, d.source_uri) AS version_rank
FROM read_parquet({files:documents}, union_by_name := true) d
LEFT JOIN lake_items i ON i.uri = d.source_uri;
COMMENT ON VIEW document_versions IS 'Every stored version of every document, from every source item (withdrawn ones included); version_rank 1 is the version documents shows.';

CREATE OR REPLACE VIEW documents AS
SELECT * EXCLUDE (version_rank) FROM document_versions
WHERE version_rank = 1
  AND doc_key NOT IN (SELECT doc_key FROM duplicates WHERE doc_key <> canonical_key);
COMMENT ON VIEW documents IS 'One row per canonical document (doc_key = volume_id/doc_id): of several versions of a key, reviewed TEI before TEI before page text, then the newest; members of a duplicate cluster are represented by its canonical document. Metadata from the head, source note and dateline; text = the body as plain text, footnotes out; withdrawn_run = the run that saw its source item removed upstream (NULL while current).';

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

CREATE OR REPLACE VIEW parts AS
SELECT * FROM read_parquet({files:parts}, union_by_name := true);
COMMENT ON VIEW parts IS 'The blocks of each document in reading order (seq): heading, dateline, paragraph, item (label, path), quote, row, closer, signature, salute, postscript, attachment, figure; page as printed; attachment = enclosure number.';

CREATE OR REPLACE VIEW footnotes AS
SELECT * FROM read_parquet({files:footnotes}, union_by_name := true);
COMMENT ON VIEW footnotes IS 'Footnotes keyed by note_id (xml:id); n as printed; part_seq = the part holding the marker.';

CREATE OR REPLACE VIEW rejects AS
SELECT * FROM read_parquet({files:rejects}, union_by_name := true);
COMMENT ON VIEW rejects IS 'Documents or files that could not be normalised: source_uri, place and reason.';

CREATE OR REPLACE VIEW runs AS
SELECT * FROM read_parquet({files:runs}, union_by_name := true);
COMMENT ON VIEW runs IS 'One row per ingest run (including runs that found nothing to do, or were skipped because another run held the lake): counts of items and documents, status.';

-- mentions(phrase [, include_notes := true]): documents whose title or body contain the
-- phrase, case-insensitive, across line breaks and runs of white space; one row per document.
-- An empty phrase matches nothing.
CREATE OR REPLACE MACRO frus_phrase_regex(phrase) AS
    '(?i)' || array_to_string(
        list_transform(string_split_regex(trim(phrase), '\s+'), w -> regexp_escape(w)), '\s+');

CREATE OR REPLACE MACRO mentions(phrase, include_notes := false) AS TABLE
WITH rx AS (SELECT frus_phrase_regex(phrase) AS rx),
notes AS (
    SELECT f.doc_key, count(*) AS note_hits
    FROM footnotes f, rx
    WHERE include_notes AND regexp_matches(f.text, rx.rx)
    GROUP BY f.doc_key
),
hits AS (
    SELECT d.doc_key, d.volume_id, d.date_min, d.title, d.sender, d.recipient, d.text,
           len(regexp_extract_all(coalesce(d.title, ''), rx.rx))
             + len(regexp_extract_all(coalesce(d.text, ''), rx.rx)) AS hits,
           regexp_extract(coalesce(d.text, ''), rx.rx) AS first_hit,
           coalesce(n.note_hits, 0) AS note_hits
    FROM documents d CROSS JOIN rx LEFT JOIN notes n USING (doc_key)
    WHERE trim(phrase) <> '' AND d.withdrawn_run IS NULL AND (regexp_matches(coalesce(d.title, '') || chr(10) || coalesce(d.text, ''), rx.rx)
       OR n.note_hits > 0)
)
SELECT doc_key, volume_id, date_min, title, sender, recipient, hits, note_hits,
       CASE WHEN first_hit = '' THEN NULL ELSE
           regexp_replace(substr(text, greatest(1, strpos(text, first_hit) - 80),
                                 length(first_hit) + 160), '\s+', ' ', 'g')
       END AS snippet
FROM hits
ORDER BY date_min NULLS LAST, doc_key;
