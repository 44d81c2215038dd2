-- Bring the warehouse to the lake's current snapshot: the rows of the source items listed in
-- the temp table `changed` (uri) are deleted and read again from the lake (attached as `lake`);
-- the small tables are replaced whole. A full build runs the same with every item changed.

DELETE FROM doc_terms WHERE version_id IN
    (SELECT version_id FROM document_versions WHERE source_uri IN (SELECT uri FROM changed));
DELETE FROM part_rows WHERE source_uri IN (SELECT uri FROM changed);
DELETE FROM footnote_rows WHERE source_uri IN (SELECT uri FROM changed);
DELETE FROM volume_rows WHERE source_uri IN (SELECT uri FROM changed);
DELETE FROM document_versions WHERE source_uri IN (SELECT uri FROM changed);

-- The new versions, unsorted (a sort would carry every text), then numbered in the order
-- they were stored: version_id follows the rows, so a few versions are a few row groups.
INSERT INTO document_versions BY NAME
SELECT NULL::INTEGER AS version_id, d.* EXCLUDE (lsh_bands), i.withdrawn_run,
       i.ingested_at::TIMESTAMPTZ AS item_ingested_at, 0 AS version_rank, false AS shown
FROM lake.documents d
JOIN lake.items i ON i.uri = d.source_uri
WHERE d.source_uri IN (SELECT uri FROM changed);

UPDATE document_versions
SET version_id = (SELECT coalesce(max(version_id), 0) FROM document_versions) + 1
                 + rowid - (SELECT min(rowid) FROM document_versions WHERE version_id IS NULL)
WHERE version_id IS NULL;

CREATE OR REPLACE TEMP TABLE new_versions AS
SELECT version_id, doc_key, source_uri FROM document_versions
WHERE source_uri IN (SELECT uri FROM changed);

INSERT INTO part_rows BY NAME
SELECT v.version_id, p.* FROM lake.parts p JOIN new_versions v USING (source_uri, doc_key)
WHERE p.source_uri IN (SELECT uri FROM changed);

INSERT INTO footnote_rows BY NAME
SELECT v.version_id, f.* FROM lake.footnotes f JOIN new_versions v USING (source_uri, doc_key)
WHERE f.source_uri IN (SELECT uri FROM changed);

INSERT INTO volume_rows BY NAME
SELECT * FROM lake.volumes WHERE source_uri IN (SELECT uri FROM changed);

-- (the index entries of the new versions: index.sql, a range of versions at a time, then
-- their new terms: terms.sql)

-- the small tables, whole
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

-- version_rank 1 = the version `documents` shows: current before withdrawn, reviewed TEI
-- before TEI before page text, then the newest item; shown = that version, unless the
-- document is a duplicate folded into another. Only rows whose values change are written.
UPDATE document_versions d SET version_rank = r.version_rank, shown = r.shown
FROM (
    SELECT version_id, version_rank,
           version_rank = 1 AND doc_key NOT IN
               (SELECT doc_key FROM duplicates WHERE doc_key <> canonical_key) AS shown
    FROM (SELECT version_id, doc_key, row_number() OVER (
              PARTITION BY doc_key
              ORDER BY withdrawn_run IS NOT NULL,
                       CASE WHEN format = 'tei' AND reviewed THEN 0 WHEN format = 'tei' THEN 1 ELSE 2 END,
                       item_ingested_at DESC, source_uri) AS version_rank
          FROM document_versions)) r
WHERE d.version_id = r.version_id AND (d.version_rank <> r.version_rank OR d.shown <> r.shown);
