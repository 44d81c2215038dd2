-- The search index entries of the new versions whose version_id is in [$1, $2): title and
-- text (field 0), then footnotes (field 1), into the batch's table `scratch.batch_terms`
-- (a batch's new versions are numbered consecutively: the range holds only new ones). Run a
-- range at a time so that each aggregation fits in memory, several ranges at once on
-- connections of their own (build.py's _index); build.py then writes the batch's
-- entries to doc_terms by term id (terms.sql), sorted, so a term's entries are a row group or
-- two in each batch (sorted by range, they were in one row group of each range: 210 of 5,021 at 50
-- copies of the corpus) and a lookup reads a few row groups of each.
INSERT INTO scratch.batch_terms
SELECT term, version_id, field, count(*)::INTEGER AS tf FROM (
    SELECT d.version_id, 0::UTINYINT AS field,
           unnest(frus_terms(coalesce(d.title, '') || chr(10) || coalesce(d.text, ''))) AS term
    FROM document_versions d
    WHERE d.version_id >= $1 AND d.version_id < $2
    UNION ALL
    SELECT f.version_id, 1::UTINYINT, unnest(frus_terms(f.text))
    FROM footnote_rows f
    WHERE f.version_id >= $1 AND f.version_id < $2)
GROUP BY ALL;
