-- The rows of the source items listed in the temp table `changed` (uri), deleted before
-- items.sql reads them again from the lake. An update runs this for each batch of changed
-- items; a whole build, on an empty file, does not (each DELETE would scan its table).

DELETE FROM doc_terms WHERE version_id IN
    (SELECT version_id FROM document_versions WHERE source_uri IN (SELECT uri FROM changed));
DELETE FROM part_rows WHERE source_uri IN (SELECT uri FROM changed);
DELETE FROM footnote_rows WHERE source_uri IN (SELECT uri FROM changed);
DELETE FROM volume_rows WHERE source_uri IN (SELECT uri FROM changed);
DELETE FROM document_versions WHERE source_uri IN (SELECT uri FROM changed);
