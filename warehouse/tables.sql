-- The warehouse's native tables, created empty with the lake's columns (attached as `lake`).
-- Every stored version of every document is kept (version_id: the warehouse's key of a
-- version); `shown` marks the one version each canonical document shows.

CREATE TABLE document_versions AS
SELECT 0::INTEGER AS version_id, d.* EXCLUDE (lsh_bands),
       NULL::VARCHAR AS withdrawn_run, NULL::TIMESTAMPTZ AS item_ingested_at,
       0::INTEGER AS version_rank, false AS shown
FROM lake.documents d WHERE false;

CREATE TABLE part_rows AS SELECT 0::INTEGER AS version_id, * FROM lake.parts WHERE false;
CREATE TABLE footnote_rows AS SELECT 0::INTEGER AS version_id, * FROM lake.footnotes WHERE false;
CREATE TABLE volume_rows AS SELECT * FROM lake.volumes WHERE false;
CREATE TABLE duplicates AS SELECT * FROM lake.duplicates WHERE false;
CREATE TABLE rejects AS SELECT * FROM lake.rejects WHERE false;
CREATE TABLE lake_items AS SELECT * EXCLUDE (ingested_at), NULL::TIMESTAMPTZ AS ingested_at FROM lake.items WHERE false;

-- The search index: distinct (term, version) pairs with their count, field 0 = title and
-- text, 1 = footnotes; a term by its id in `terms`. Sorted by term id within each batch, so a
-- term's rows are a few row groups.
CREATE TABLE doc_terms (term_id INTEGER, version_id INTEGER, field UTINYINT, tf INTEGER);
CREATE TABLE terms (term_id INTEGER, term VARCHAR, initial VARCHAR);

CREATE TABLE warehouse_meta (lake_snapshot BIGINT, sql_fingerprint VARCHAR, catalog VARCHAR,
                             built_at TIMESTAMPTZ, updated_at TIMESTAMPTZ);
