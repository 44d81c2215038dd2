-- The terms the new versions whose version_id is in [$1, $2) brought (a term whose last entry
-- went stays: it finds nothing). A range, not a join to new_versions: the zone maps then skip
-- every row group of doc_terms but the new ones. An anti join, not EXCEPT: EXCEPT hashes
-- every stored term (half a GB at 6 M terms), the anti join only the batch's and scans the
-- rest. Sorted by term within each update: a word's initial is a few row groups of each.
INSERT INTO terms
SELECT term, left(term, 1) AS initial FROM (
    SELECT DISTINCT term FROM doc_terms
    WHERE version_id >= $1 AND version_id < $2) n
ANTI JOIN terms t USING (term)
ORDER BY term;
