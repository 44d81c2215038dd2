-- Views over people.sql's tables and the link tables: what analysts read.
COMMENT ON TABLE people IS 'One row per person of pocom and hsg_people (merged where both name the same person): person_id (the pocom id, else hsg-<id>), pocom_id, hsg_id, name, variants, birth_year, death_year, positions (role, post, start, end: chief of mission at a post, principal officer).';

CREATE OR REPLACE VIEW document_people AS
SELECT l.doc_key, l.person_id, l.role, l.name, l.method, l.score
FROM person_link_rows l
WHERE l.version_id IN (SELECT version_id FROM document_versions WHERE shown);
COMMENT ON VIEW document_people IS 'Correspondents of each canonical document linked to people: role (sender, recipient, signer), name as printed, method (name+date, name+date+post, name+date+office, office+date), score. Unlinked names have no row.';

CREATE OR REPLACE VIEW document_places AS
SELECT l.doc_key, l.place_id, l.name, l.kind, l.latitude, l.longitude, l.method, l.score
FROM place_link_rows l
WHERE l.version_id IN (SELECT version_id FROM document_versions WHERE shown);
COMMENT ON VIEW document_places IS 'Places of each canonical document: kind locale (a gsh locale named by its place, with coordinates) or territory (the gsh territory of the document''s year holding that locale); method, score.';

CREATE OR REPLACE VIEW quality AS
WITH d AS (
    SELECT d.doc_key, d.volume_id, d.date_min IS NOT NULL AS has_date, d.sender IS NOT NULL AS has_sender,
           d.recipient IS NOT NULL AS has_recipient, d.doc_type IS NOT NULL AS has_type,
           d.doc_key IN (SELECT doc_key FROM document_people) AS has_person,
           d.doc_key IN (SELECT doc_key FROM document_places) AS has_place
    FROM documents d WHERE d.withdrawn_run IS NULL)
SELECT volume_id, count(*) AS documents,
       round(100 * avg(has_date::INT), 1) AS date_pct, round(100 * avg(has_sender::INT), 1) AS sender_pct,
       round(100 * avg(has_recipient::INT), 1) AS recipient_pct, round(100 * avg(has_type::INT), 1) AS type_pct,
       round(100 * avg(has_person::INT), 1) AS person_pct, round(100 * avg(has_place::INT), 1) AS place_pct
FROM d GROUP BY volume_id ORDER BY volume_id;
COMMENT ON VIEW quality IS 'Per volume: documents, and the share (percent) with a date, a sender, a recipient, a type, a linked person (document_people), a linked place (document_places).';
COMMENT ON TABLE ref_pocom_people IS 'pocom people (authority list, from the lake''s reference_rows): pocom_id, surname, forename, genname (Jr.), altname, birth_year, death_year, career (a Foreign Service career officer).';
COMMENT ON TABLE ref_positions IS 'pocom positions: kind mission (role_title at post = the territory of its day) or office (a principal officer: post = the position id, secretary for the Secretary of State), start (started, else appointed), end.';
COMMENT ON TABLE ref_hsg_people IS 'hsg_people (authority list): hsg_id, preferred_name, all_names, birth and death years, n_source_urls.';
COMMENT ON TABLE ref_territories IS 'gsh territories: territory_id, short and long names, type, valid_since, valid_until (years), predecessors.';
COMMENT ON TABLE ref_locales IS 'gsh locales: locale_id, name, territory_id (its present territory), latitude, longitude, alternate_names.';
COMMENT ON TABLE ref_person_merge IS 'Which hsg_people record is which pocom person (same name, birth years not in conflict, one each way).';
COMMENT ON TABLE person_link_rows IS 'The people links of every stored version (document_people shows the canonical ones).';
COMMENT ON TABLE place_link_rows IS 'The place links of every stored version (document_places shows the canonical ones).';
