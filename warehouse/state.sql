-- After the changed items' rows (items.sql): the small tables, replaced whole, and the state of
-- every version (withdrawn, rank, shown), written where it changed.

DELETE FROM lake_items;
INSERT INTO lake_items BY NAME SELECT * REPLACE (ingested_at::TIMESTAMPTZ AS ingested_at) FROM lake.items;
DELETE FROM duplicates;
INSERT INTO duplicates BY NAME SELECT * FROM lake.duplicates;
DELETE FROM rejects;
INSERT INTO rejects BY NAME SELECT * FROM lake.rejects;

-- withdrawal is a change of the item alone: its versions say so
UPDATE document_versions d SET withdrawn_run = i.withdrawn_run, item_ingested_at = i.ingested_at
FROM lake_items i
WHERE i.uri = d.source_uri
  AND (d.withdrawn_run IS DISTINCT FROM i.withdrawn_run OR d.item_ingested_at IS DISTINCT FROM i.ingested_at);

-- version_rank 1 = the version `documents` shows: current before withdrawn, then by source
-- (reviewed TEI, TEI, page text: the rule of tasks/canonical.py), then the newest item;
-- shown = that version, unless the document is a duplicate folded into another. Only rows
-- whose values change are written.
UPDATE document_versions d SET version_rank = r.version_rank, shown = r.shown
FROM (
    SELECT version_id, version_rank,
           version_rank = 1 AND doc_key NOT IN
               (SELECT doc_key FROM duplicates WHERE doc_key <> canonical_key) AS shown
    FROM (SELECT version_id, doc_key, row_number() OVER (
              PARTITION BY doc_key
              ORDER BY withdrawn_run IS NOT NULL,
                       {source_tier},
                       item_ingested_at DESC, source_uri) AS version_rank
          FROM document_versions)) r
WHERE d.version_id = r.version_id AND (d.version_rank <> r.version_rank OR d.shown <> r.shown);
