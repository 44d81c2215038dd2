-- The terms the batch's new index entries (scratch.batch_terms) brought, numbered after the
-- stored ones in their order: a term keeps its id, and a batch's rows of doc_terms, sorted by
-- id, hold a term's entries together (a term whose last entry went stays: it finds nothing).
INSERT INTO terms
SELECT (SELECT coalesce(max(term_id), 0) FROM terms) + row_number() OVER (ORDER BY term),
       term, left(term, 1)
FROM (SELECT DISTINCT term FROM scratch.batch_terms) n
ANTI JOIN terms t USING (term)
ORDER BY term;  -- (a word's initial is a few row groups of each batch)
