-- The items whose rows differ between the lake's snapshot $1 (= $2: the one the warehouse was
-- built for) and the attached one, with their current number of documents (0: gone). An
-- update brings these items' rows up to date (forget.sql, items.sql), in batches.
WITH diff AS (
    (SELECT uri, sha256, parser_version, run_id FROM lake.items
     EXCEPT SELECT uri, sha256, parser_version, run_id FROM lake.items AT (VERSION => $1))
    UNION
    (SELECT uri, sha256, parser_version, run_id FROM lake.items AT (VERSION => $2)
     EXCEPT SELECT uri, sha256, parser_version, run_id FROM lake.items))
SELECT DISTINCT d.uri, coalesce(i.documents, 0) FROM diff d LEFT JOIN lake.items i USING (uri)
ORDER BY d.uri
