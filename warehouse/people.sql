-- The authority lists (the lake's reference_rows: pocom, hsg people, gsh) as typed tables, and
-- `people`: one row per person of pocom and hsg_people, merged where both name the same person
-- (same "surname, forename" and no conflicting birth year). Run whole when a list changes (a
-- few MB; the lists are not the corpus). The linker (warehouse/link.py) reads these tables.

CREATE OR REPLACE TABLE ref_pocom_people AS
SELECT r->>'person_id' AS pocom_id, r->>'surname' AS surname, r->>'forename' AS forename,
       nullif(r->>'genname', '') AS genname, nullif(r->>'altname', '') AS altname,
       TRY_CAST(nullif(r->>'birth', '') AS INTEGER) AS birth_year,
       TRY_CAST(nullif(r->>'death', '') AS INTEGER) AS death_year,
       r->>'career_type' = 'career' AS career
FROM (SELECT record::JSON AS r FROM lake.reference_rows WHERE volume_id = 'pocom_people');

CREATE OR REPLACE TABLE ref_hsg_people AS
SELECT r->>'person_id' AS hsg_id, r->>'preferred_name' AS preferred_name,
       list_filter(string_split(r->>'all_names', '|'), n -> n <> '') AS all_names,
       TRY_CAST(nullif(r->>'birth_year', '') AS INTEGER) AS birth_year,
       TRY_CAST(nullif(r->>'death_year', '') AS INTEGER) AS death_year,
       TRY_CAST(nullif(r->>'n_source_urls', '') AS INTEGER) AS n_source_urls
FROM (SELECT record::JSON AS r FROM lake.reference_rows WHERE volume_id = 'hsg_people');

-- Positions with dates: a chief of mission at a post (the territory of its day), a principal
-- officer (Secretary of State, Assistant Secretary…). start: started, else appointed.
CREATE OR REPLACE TABLE ref_positions AS
SELECT r->>'person_id' AS pocom_id, 'mission' AS kind, r->>'role_title' AS role,
       coalesce(nullif(r->>'contemporary_territory_id', ''), r->>'mission_id') AS post,
       TRY_CAST(coalesce(nullif(r->>'started', ''), nullif(r->>'appointed', '')) AS DATE) AS start,
       TRY_CAST(nullif(r->>'ended', '') AS DATE) AS "end"
FROM (SELECT record::JSON AS r FROM lake.reference_rows WHERE volume_id = 'pocom_chiefs_of_mission')
UNION ALL
SELECT r->>'person_id', 'office', r->>'position_title', r->>'position_id',
       TRY_CAST(coalesce(nullif(r->>'started', ''), nullif(r->>'appointed', '')) AS DATE),
       TRY_CAST(nullif(r->>'ended', '') AS DATE)
FROM (SELECT record::JSON AS r FROM lake.reference_rows WHERE volume_id = 'pocom_principal_officers');

CREATE OR REPLACE TABLE ref_territories AS
SELECT r->>'territory_id' AS territory_id, r->>'short_name' AS short_name,
       nullif(r->>'long_name', '') AS long_name, r->>'type' AS type,
       TRY_CAST(nullif(r->>'valid_since', '') AS INTEGER) AS valid_since,
       TRY_CAST(nullif(r->>'valid_until', '') AS INTEGER) AS valid_until,
       list_filter(string_split(coalesce(r->>'predecessors', ''), '|'), n -> n <> '') AS predecessors
FROM (SELECT record::JSON AS r FROM lake.reference_rows WHERE volume_id = 'gsh_territories');

CREATE OR REPLACE TABLE ref_locales AS
SELECT r->>'locale_id' AS locale_id, r->>'name' AS name, r->>'current_territory' AS territory_id,
       TRY_CAST(nullif(r->>'latitude', '') AS DOUBLE) AS latitude,
       TRY_CAST(nullif(r->>'longitude', '') AS DOUBLE) AS longitude,
       list_filter(string_split(coalesce(r->>'alternate_names', ''), '|'), n -> n <> '') AS alternate_names
FROM (SELECT record::JSON AS r FROM lake.reference_rows WHERE volume_id = 'gsh_locales');

-- pocom ↔ hsg: the same "Surname, Forename[, Jr.]" among the hsg record's names, birth years
-- not in conflict; of several hsg records (duplicates) the most cited one is the hsg_id; an
-- hsg record that two pocom people fit (a father and son of no birth year) merges with neither.
CREATE OR REPLACE TABLE ref_person_merge AS
SELECT pocom_id, hsg_id FROM (
    SELECT p.pocom_id, h.hsg_id,
           row_number() OVER (PARTITION BY p.pocom_id ORDER BY h.n_source_urls DESC NULLS LAST, h.hsg_id) AS k
    FROM ref_pocom_people p
    JOIN ref_hsg_people h
      ON list_contains(h.all_names, p.surname || ', ' || p.forename
                                    || coalesce(', ' || p.genname, ''))
     AND (p.birth_year IS NULL OR h.birth_year IS NULL OR p.birth_year = h.birth_year))
WHERE k = 1
QUALIFY count(*) OVER (PARTITION BY hsg_id) = 1;

CREATE OR REPLACE TABLE people AS
WITH pos AS (
    SELECT pocom_id, list({'role': role, 'post': post, 'start': start, 'end': "end"}
                          ORDER BY start NULLS LAST, role) AS positions
    FROM ref_positions GROUP BY pocom_id
)
SELECT p.pocom_id AS person_id, p.pocom_id, m.hsg_id,
       trim(p.forename || ' ' || p.surname || coalesce(' ' || p.genname, '')) AS name,
       list_distinct(list_filter(
           [p.surname || ', ' || p.forename || coalesce(', ' || p.genname, ''), p.altname]
           || coalesce(h.all_names, []), n -> n IS NOT NULL)) AS variants,
       coalesce(p.birth_year, h.birth_year) AS birth_year,
       coalesce(p.death_year, h.death_year) AS death_year,
       coalesce(pos.positions, []) AS positions
FROM ref_pocom_people p
LEFT JOIN ref_person_merge m USING (pocom_id)
LEFT JOIN ref_hsg_people h ON h.hsg_id = m.hsg_id
LEFT JOIN pos USING (pocom_id)
UNION ALL
SELECT 'hsg-' || h.hsg_id, NULL, h.hsg_id, h.preferred_name, h.all_names, h.birth_year,
       h.death_year, []
FROM ref_hsg_people h
WHERE h.hsg_id NOT IN (SELECT hsg_id FROM ref_person_merge);
