"""People and places on real data: the authority lists ingested through the flow, documents
linked by name, date and post (the traps of issue 11), per changed document; `quality`."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.links_eval import LABELS, QUERIES, evaluate
from flows.ingest import run_ingest
from warehouse import db

VOLUMES = ["frus1901.xml", "frus1918Russiav03.xml"]

pytestmark = pytest.mark.usefixtures("prefect_api")  # (every test reads a flow's ingest)


@pytest.fixture(scope="module")
def linked(tmp_path_factory, corpus: Path) -> tuple[Path, Path]:
    """Two volumes, the d83 excerpt and the authority lists, ingested once: (source, data)."""
    src = tmp_path_factory.mktemp("people-src")
    for name in VOLUMES:
        shutil.copy2(corpus / "frus" / "volumes" / name, src / name)
    shutil.copy2(corpus / "frus" / "excerpts" / "frus1938v03-d83.xml", src)
    shutil.copytree(corpus / "reference", src / "reference")
    data = tmp_path_factory.mktemp("people-data")
    summary = run_ingest(source=str(src), data_dir=str(data))
    assert summary["status"] == "completed", summary
    return src, data


def _rows(data: Path, sql: str, params=()) -> list[tuple]:
    with db.connect(db.warehouse_path(data), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_lists_reach_the_lake_and_people(linked):
    _, data = linked
    assert _rows(data, "SELECT count(*) FROM lake_items WHERE uri LIKE '%.csv'") == [(6,)]
    hay = _rows(data, "SELECT hsg_id, birth_year, [p.post FOR p IN positions] FROM people WHERE person_id = 'hay-john-milton'")
    # not hsg 105706, the later John Hay of no birth year; his posts in order of their start
    assert hay == [("105707", 1838, ["assistant-secretary", "united-kingdom", "secretary"])]
    assert _rows(data, "SELECT count(*) FROM people WHERE hsg_id = '105706'") == [(1,)]
    (n_people,), = _rows(data, "SELECT count(*) FROM people")
    (n_merged,), = _rows(data, "SELECT count(*) FROM people WHERE pocom_id IS NOT NULL AND hsg_id IS NOT NULL")
    assert n_people == 4261 + 16312 - n_merged and n_merged > 1000


def test_d83_henderson_and_hull(linked):
    _, data = linked
    rows = _rows(data, "SELECT role, person_id FROM document_people WHERE doc_key = 'frus1938v03/d83' ORDER BY role")
    assert rows == [("recipient", "hull-cordell"), ("sender", "henderson-loy-wesley"),
                    ("signer", "henderson-loy-wesley")]


def test_mr_hay_in_1901_is_the_secretary(linked):
    _, data = linked
    rows = _rows(data, "SELECT p.person_id, count(*) FROM documents d JOIN document_people p "
                       "ON p.doc_key = d.doc_key AND p.role = 'recipient' "
                       "WHERE d.volume_id = 'frus1901' AND d.recipient = 'Hay' AND year(d.date_min) = 1901 GROUP BY 1")
    assert len(rows) == 1 and rows[0][0] == "hay-john-milton" and rows[0][1] > 100


def test_the_francis_trap(linked):
    _, data = linked
    rows = dict(_rows(data, "SELECT person_id, count(*) FROM document_people p JOIN documents d USING (doc_key) "
                            "WHERE d.volume_id = 'frus1918Russiav03' AND p.name = 'Francis' GROUP BY 1"))
    assert set(rows) == {"francis-david-rowland"} and rows["francis-david-rowland"] > 200
    # after pocom's Russia row ends (1917-11-07) he still cabled: linked, not left to John M.
    late = _rows(data, "SELECT count(*) FROM document_people p JOIN documents d USING (doc_key) "
                       "WHERE p.person_id = 'francis-david-rowland' AND d.date_min > DATE '1918-01-01'")
    assert late[0][0] > 50
    assert _rows(data, "SELECT DISTINCT person_id FROM document_people p JOIN documents d USING (doc_key) "
                       "WHERE d.volume_id = 'frus1901' AND p.name = 'Francis'") == [("francis-charles-spencer",)]


def test_acting_secretary_is_not_the_secretary(linked):
    _, data = linked  # "Adee, Acting Secretary" in 1901, while Hay was Secretary
    rows = _rows(data, "SELECT DISTINCT p.person_id FROM document_people p JOIN documents d USING (doc_key) "
                       "WHERE d.signature ILIKE '%Acting Secretary%' AND d.volume_id = 'frus1901' AND p.role = 'sender'")
    assert ("hay-john-milton",) not in rows and ("adee-alvey-augustus",) in rows


def test_places_with_coordinates_and_the_territory_of_the_date(linked):
    _, data = linked
    rows = _rows(data, "SELECT kind, place_id, round(latitude, 1) FROM document_places "
                       "WHERE doc_key = 'frus1938v03/d83' ORDER BY kind")
    assert rows == [("locale", "moscow", 55.7), ("territory", "soviet-union-1991", None)]


def test_labelled_sets_on_these_volumes(linked):
    """The benchmark's measure, on the labels of the volumes ingested here."""
    import csv
    _, data = linked
    vols = {v.removesuffix(".xml") for v in VOLUMES} | {"frus1938v03"}
    for name, floor in (("people", 0.97), ("places", 0.97)):
        rows = [r for r in csv.DictReader((LABELS / f"{name}.csv").open(encoding="utf-8"))
                if r["doc_key"].split("/")[0] in vols]
        links = {(k, r): v for k, r, v in _rows(data, QUERIES[name])}
        m = evaluate(rows, links)
        assert m["links"] and m["precision"] >= floor, m["wrong"]


def test_quality_view(linked):
    _, data = linked
    rows = {r[0]: r for r in _rows(data, "SELECT * FROM quality")}
    assert set(rows) == {"frus1901", "frus1918Russiav03", "frus1938v03"}
    assert rows["frus1938v03"][1:] == (1, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0)
    assert 90 < rows["frus1918Russiav03"][6] < 100  # linked person


def test_links_follow_the_changed_documents(linked, corpus: Path):
    """A new volume is linked; the links of the others are the rows they were."""
    src, data = linked
    before = _rows(data, "SELECT * FROM person_link_rows ORDER BY ALL")
    shutil.copy2(corpus / "frus" / "volumes" / "frus1936v03.xml", src)
    summary = run_ingest(source=str(src), data_dir=str(data))
    assert summary["items_new"] == 1 and summary["items_unchanged"] == 9
    after = _rows(data, "SELECT * FROM person_link_rows ORDER BY ALL")
    assert set(before) <= set(after)
    new = _rows(data, "SELECT count(*) FROM document_people WHERE doc_key LIKE 'frus1936v03/%'")
    assert new[0][0] > 500


def test_quality_drop_is_a_warning(linked, caplog):
    """The report's quality section: figures beside the previous run's; a fall > 5 points warns."""
    import json
    import logging

    from flows.report import quality_section
    from tasks.quality import QUALITY_FILE

    _, data = linked
    figures = json.loads((data / QUALITY_FILE).read_text())  # what the last run recorded
    assert figures["frus1901"]["person_pct"] > 80
    figures["frus1901"]["person_pct"] = 100.0  # as if the previous run had linked every one
    (data / QUALITY_FILE).write_text(json.dumps(figures))
    log = logging.getLogger("test-quality")
    with caplog.at_level(logging.WARNING, logger="test-quality"):
        section = quality_section(data, log)
    assert "| frus1901 |" in section and "(100.0)" in section
    warned = [r.getMessage() for r in caplog.records if r.name == "test-quality"]
    assert len(warned) == 1 and warned[0].startswith("quality dropped: frus1901: person 100.0% -> ")
    assert quality_section(data, log).count("(100.0)") < section.count("(100.0)")  # recorded anew
