-- The link tables (one row per link and document version; the views show the canonical
-- versions'), created once. warehouse/people.py fills them per changed document.
CREATE TABLE IF NOT EXISTS person_link_rows (version_id INTEGER, doc_key VARCHAR, person_id VARCHAR,
    role VARCHAR, name VARCHAR, method VARCHAR, score DOUBLE);
CREATE TABLE IF NOT EXISTS place_link_rows (version_id INTEGER, doc_key VARCHAR, place_id VARCHAR,
    name VARCHAR, kind VARCHAR, latitude DOUBLE, longitude DOUBLE, method VARCHAR, score DOUBLE);
