-- The links of the versions of the items in the temp table `changed`, deleted before
-- forget.sql deletes the versions (items.sql reads them again; people.link_new links them).
DELETE FROM person_link_rows WHERE version_id IN
    (SELECT version_id FROM document_versions WHERE source_uri IN (SELECT uri FROM changed));
DELETE FROM place_link_rows WHERE version_id IN
    (SELECT version_id FROM document_versions WHERE source_uri IN (SELECT uri FROM changed));
