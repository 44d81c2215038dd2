-- The rows of the source items listed in the temp table `changed` (uri), read from the lake's
-- snapshot (attached as `lake`), after forget.sql deleted their old ones. An update runs
-- forget.sql and this for a batch of changed items at a time, each in a session of its own
-- (warehouse/db.py says why), then index.sql and terms.sql for the batch's new versions, then
-- state.sql once. A whole build runs the same (without forget.sql) with every item changed.

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
