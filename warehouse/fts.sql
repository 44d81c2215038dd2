-- The BM25 full-text index over parts (built by `frus refresh` after views.sql).
-- Querying it needs the FTS extension: `frus shell` loads it by path; a plain duckdb shell, `LOAD fts;`.

CREATE OR REPLACE TABLE part_text AS
SELECT doc_key || '#' || seq AS part_id, doc_key, seq, kind, text
FROM parts
WHERE text <> '';
COMMENT ON TABLE part_text IS 'Copy of parts.text that the BM25 index (schema fts_main_part_text) is built on.';

PRAGMA create_fts_index('part_text', 'part_id', 'text', stemmer = 'english', overwrite = 1);

-- search_parts(query): parts ranked by BM25, best first, with their document.
CREATE OR REPLACE MACRO search_parts(query) AS TABLE
SELECT p.doc_key, p.seq, p.kind, score, p.text
FROM (SELECT *, fts_main_part_text.match_bm25(part_id, query) AS score FROM part_text) p
WHERE score IS NOT NULL
ORDER BY score DESC;
