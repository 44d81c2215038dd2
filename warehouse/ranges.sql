-- The batch's new versions (numbered consecutively) cut into ranges [start, end) of about $1
-- words each: what one index.sql statement tokenises and aggregates, so that its memory
-- follows the words, not the number of documents (a range of long despatches is short).
SELECT min(version_id), max(version_id) + 1 FROM (
    SELECT version_id, sum(coalesce(d.word_count, 0) + 1) OVER (ORDER BY version_id) AS words
    FROM new_versions JOIN document_versions d USING (version_id))
GROUP BY (words - 1) // $1
ORDER BY 1
