-- The search index entries of the new versions whose version_id is in [$1, $2): title and
-- text (field 0), then footnotes (field 1). Run a range at a time so that each aggregation
-- fits in memory; each range is sorted by term, so a term's entries are a row group or two
-- in each range and a lookup reads a few row groups of each.
INSERT INTO doc_terms
SELECT term, version_id, field, count(*)::INTEGER AS tf FROM (
    SELECT d.version_id, 0::UTINYINT AS field,
           unnest(frus_terms(coalesce(d.title, '') || chr(10) || coalesce(d.text, ''))) AS term
    FROM document_versions d JOIN new_versions v USING (version_id)
    WHERE d.version_id >= $1 AND d.version_id < $2
    UNION ALL
    SELECT f.version_id, 1::UTINYINT, unnest(frus_terms(f.text))
    FROM footnote_rows f JOIN new_versions v USING (version_id)
    WHERE f.version_id >= $1 AND f.version_id < $2)
GROUP BY ALL
ORDER BY term, version_id;
