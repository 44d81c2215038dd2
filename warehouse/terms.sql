-- The terms the new versions brought (a term whose last entry went stays: it finds nothing).
-- Sorted by term within each update: a word's initial is a few row groups of each.
INSERT INTO terms
SELECT term, left(term, 1) AS initial FROM (
    SELECT DISTINCT term FROM doc_terms
    WHERE version_id IN (SELECT version_id FROM new_versions)
    EXCEPT SELECT term FROM terms)
ORDER BY term;
