"""Analysts' commands on the shared corpus plus the seed: search (ranked, phrase, filters,
facets), show, export, plot."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from flows import cli, exports
from flows.analyst import HIT_KEYS, connection
from warehouse import db

pytestmark = pytest.mark.usefixtures("prefect_api")  # (every test reads a flow's ingest)


@pytest.fixture
def data(corpus_lake: Path) -> Path:
    """The shared corpus whole, with the seed and the authority lists (conftest's corpus_lake)."""
    return corpus_lake


def _search(capsys, data: Path, *args) -> dict:
    assert cli.main(["search", *args, "--data", str(data), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _sql(data: Path, sql: str, params=None) -> list[tuple]:
    return db.query(data, sql, params)[1]


def test_ranked_search_puts_d83_first_with_url_and_snippet(data: Path, capsys):
    out = _search(capsys, data, "Soviet troops Mongolia")
    assert out["mode"] == "bm25" and list(out) == ["query", "mode", "hits", "facets"]
    first = out["hits"][0]
    assert list(first) == list(HIT_KEYS)
    assert first["doc_key"] == "frus1938v03/d83"
    assert first["url"] == "https://history.state.gov/historicaldocuments/frus1938v03/d83"
    assert (first["sender"], first["recipient"]) == ("Henderson", "Secretary of State")
    assert "mongolia" in first["snippet"].lower()  # the rarest query word the text holds
    scores = [h["score"] for h in out["hits"]]
    assert scores == sorted(scores, reverse=True)
    # the table shows the URL whole
    assert cli.main(["search", "Soviet troops Mongolia", "--limit", "3", "--data", str(data)]) == 0
    assert "https://history.state.gov/historicaldocuments/frus1938v03/d83\n" in capsys.readouterr().out


def test_a_footnote_only_hit_has_a_footnote_snippet(data: Path, capsys):
    # "Legislative Yuan" is only in d83's footnote 7
    for args in (["Legislative Yuan", "--phrase"], ["Legislative Yuan", "--volume", "frus1938v03"]):
        [hit] = [h for h in _search(capsys, data, *args)["hits"] if h["doc_key"] == "frus1938v03/d83"]
        assert hit["note_hits"] >= 1
        assert hit["snippet"].startswith("[note 7]") and "Legislative" in hit["snippet"], hit


def test_filters_match_an_independent_selection(data: Path, capsys):
    q = "treaty commerce"
    every = _search(capsys, data, q, "--limit", "100000")["hits"]
    cases = [(["--volume", "frus1901China"], lambda h: h["volume_id"] == "frus1901China"),
             (["--from", "1870", "--to", "1884-06"],
              lambda h: h["date_min"] and "1870-01-01" <= h["date_min"][:10] <= "1884-06-30"),
             (["--type", "telegram"], lambda h: (h["doc_type"] or "").lower() == "telegram")]
    for args, keep in cases:
        got = _search(capsys, data, q, *args, "--limit", "100000")["hits"]
        expected = [h["doc_key"] for h in every if keep(h)]
        assert expected and [h["doc_key"] for h in got] == expected, args
    phrase = _search(capsys, data, "Outer Mongolia", "--phrase", "--from", "1938")["hits"]
    assert [h["doc_key"] for h in phrase] == ["frus1938v03/d83"]  # Paris d37 (1919) filtered out
    with pytest.raises(SystemExit) as stop:  # argparse: exit 2
        cli.main(["search", "x", "--from", "1938-13", "--data", str(data)])
    assert stop.value.code == 2 and "not a date" in capsys.readouterr().err


def test_person_and_place_filters_keep_the_linked_documents(data: Path, capsys):
    q = "Soviet Mongolia Japan"
    every = _search(capsys, data, q, "--limit", "100000")["hits"]
    henderson = {k for (k,) in _sql(data, "SELECT doc_key FROM document_people "
                                          "WHERE person_id = 'henderson-loy-wesley'")}
    assert "frus1938v03/d83" in henderson
    [(name,)] = _sql(data, "SELECT name FROM people WHERE person_id = 'henderson-loy-wesley'")
    for who in ("henderson-loy-wesley", name):
        got = _search(capsys, data, q, "--person", who, "--limit", "100000")["hits"]
        assert [h["doc_key"] for h in got] == [h["doc_key"] for h in every if h["doc_key"] in henderson], who
    [(place_id, place)] = _sql(data, "SELECT place_id, name FROM document_places WHERE doc_key = "
                                     "'frus1938v03/d83' AND kind = 'locale'")
    there = {k for (k,) in _sql(data, "SELECT doc_key FROM document_places WHERE place_id = ?", [place_id])}
    for where in (place_id, place):
        got = _search(capsys, data, q, "--place", where, "--limit", "100000")["hits"]
        assert [h["doc_key"] for h in got] == [h["doc_key"] for h in every if h["doc_key"] in there] != []
    both = _search(capsys, data, q, "--place", place_id, "--person", "henderson-loy-wesley")["hits"]
    assert {h["doc_key"] for h in both} <= henderson & there and "frus1938v03/d83" in {h["doc_key"] for h in both}


def test_facets_count_every_hit(data: Path, capsys):
    out = _search(capsys, data, "Bluefields", "--facets", "--limit", "1")
    assert len(out["hits"]) == 1
    total = _sql(data, "SELECT count(*) FROM search_hits('Bluefields')")[0][0]
    by_volume = {f["value"]: f["count"] for f in out["facets"]["volume"]}
    expected = dict(_sql(data, "SELECT volume_id, count(*) FROM search_hits('Bluefields') GROUP BY ALL"))
    assert by_volume == expected and sum(by_volume.values()) == total > 1
    years = _sql(data, "SELECT year(date_min), count(*) FROM documents WHERE doc_key IN "
                       "(SELECT doc_key FROM mentions('Bluefields', include_notes := true)) GROUP BY ALL")
    phrase = _search(capsys, data, "Bluefields", "--phrase", "--facets")["facets"]["year"]
    assert {f["value"]: f["count"] for f in phrase} == {(str(y) if y else None): n for y, n in years}
    assert set(out["facets"]) == {"year", "volume", "sender", "type"}


def test_sql_macros_share_columns_and_old_calls_still_work(data: Path):
    with connection(str(data)) as con:
        cols = [d[0] for d in con.execute("SELECT * FROM search('Mongolia') LIMIT 0").description]
        pcols = [d[0] for d in con.execute("SELECT * FROM phrase_search('Mongolia') LIMIT 0").description]
        assert cols == pcols == list(HIT_KEYS)
        old = {k for (k,) in con.execute("SELECT doc_key FROM mentions('Outer Mongolia')").fetchall()}
        assert old == {"frus1938v03/d83", "frus1919Parisv01/d37"}
        assert con.execute("SELECT doc_key FROM search_documents('Soviet troops Mongolia') LIMIT 1").fetchone() \
            == ("frus1938v03/d83",)


def test_show_d83_items_footnotes_in_place_and_sources(data: Path, capsys):
    assert cli.main(["show", "frus1938v03/d83", "--data", str(data)]) == 0
    text = capsys.readouterr().out
    labels = ["1.(a)", "1.(b)", "1.(c)", "1.(d)", "2.", "3.(a)", "3.(b)", "3.(c)", "3.(d)", "3.(e)", "4.", "5."]
    lines = text.splitlines()
    items = [ln.split()[0] for ln in lines if ln.startswith("    ") and ln.split()[0] in labels]
    assert items == labels
    notes = [i for i, ln in enumerate(lines) if ln.lstrip().startswith(("[6]", "[7]", "[8]"))]
    assert len(notes) == 3
    # in place: 6 after the first paragraph, 7 and 8 after item 1.(a), before 1.(b)
    at = {name: next(i for i, ln in enumerate(lines) if ln.lstrip().startswith(name))
          for name in ("35.", "1.(a)", "1.(b)", "[6]", "[7]", "[8]")}
    assert at["35."] < at["[6]"] < at["1.(a)"] < at["[7]"] < at["[8]"] < at["1.(b)"]
    assert "Sources (2):" in text and "Document 83" in text and "pp. 70–71" in text
    assert "https://history.state.gov/historicaldocuments/frus1938v03/d83" in text
    seed = _sql(data, "SELECT doc_key FROM duplicates WHERE canonical_key = 'frus1938v03/d83' "
                      "AND doc_key <> canonical_key")
    assert f"Duplicates (1):\n  {seed[0][0]}" in text
    # the seed's own key shows its canonical document
    assert cli.main(["show", seed[0][0], "--data", str(data), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["doc_key"] == "frus1938v03/d83" and len(doc["footnotes"]) == 3 and len(doc["sources"]) == 2
    assert cli.main(["show", "frus1938v03/d99999", "--data", str(data)]) == 1
    assert "no document 'frus1938v03/d99999'" in capsys.readouterr().err


QUERY = ("SELECT doc_key, volume_id, date_min, title, page_start, chapter_path FROM documents "
         "WHERE volume_id = 'frus1894Nicaragua' ORDER BY doc_key")


@pytest.mark.parametrize("ext", ["csv", "parquet", "json"])
def test_export_reads_back_with_duckdb(data: Path, tmp_path: Path, ext: str, capsys):
    out = tmp_path / f"nicaragua.{ext}"
    assert cli.main(["export", QUERY, "--out", str(out), "--data", str(data)]) == 0
    reader = {"csv": "read_csv", "parquet": "read_parquet", "json": "read_json"}[ext]
    with duckdb.connect() as con:
        back = con.execute(f"SELECT doc_key, volume_id, title FROM {reader}(?) ORDER BY doc_key",
                           [str(out)]).fetchall()
    expected = [(k, v, t) for k, v, _, t, *_ in _sql(data, QUERY)]
    assert back == expected and len(back) == 138
    if ext == "csv":
        assert b"\r" not in out.read_bytes() and out.read_bytes().count(b"\n") > len(back)
    assert f"{len(back)} rows written" in capsys.readouterr().err


def test_export_is_read_only_and_checks_its_file(data: Path, tmp_path: Path, capsys):
    target = tmp_path / "x.csv"
    assert cli.main(["export", f"COPY documents TO '{tmp_path / 'y.csv'}'", "--out", str(target),
                     "--data", str(data)]) == 1
    assert "COPY statements are refused" in capsys.readouterr().err
    assert cli.main(["export", "SELECT 1", "--out", str(tmp_path / "x.xlsx"), "--data", str(data)]) == 1
    assert "x.xlsx: unknown output format '.xlsx'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_plot_renders_each_format(data: Path, tmp_path: Path, capsys):
    import matplotlib.image

    for ext in ("png", "svg", "html"):
        out = tmp_path / f"plot.{ext}"
        assert cli.main(["plot", "Nicaragua", "--by", "sender", "--out", str(out), "--data", str(data)]) == 0
        assert out.stat().st_size > 1000
    img = matplotlib.image.imread(tmp_path / "plot.png")
    assert img.shape[0] > 400 and img.shape[1] > 1000 and img[..., :3].std() > 0.05  # not blank
    assert "<svg" in (tmp_path / "plot.html").read_text()
    with connection(str(data)) as con:
        rows = exports.mentions_per_year(con, "Nicaragua", "sender", False)
        countries = exports.mentions_per_year(con, "Nicaragua", "country", False)
        total = con.execute("SELECT count(*) FROM phrase_search('Nicaragua', include_notes := false) "
                            "WHERE date_min IS NOT NULL").fetchone()[0]
    fig = exports.figure(rows, "Nicaragua", "sender")
    heights = sum(bar.get_height() for bar in fig.axes[0].patches)
    assert heights == total == sum(n for _, _, n in rows) == sum(n for _, _, n in countries) > 50
    assert "Nicaragua" in {g for _, g, _ in countries}  # the territory of Managua and Bluefields
    top_sender = max({g for _, g, _ in rows}, key=lambda g: sum(n for _, s, n in rows if s == g))
    assert top_sender in (tmp_path / "plot.svg").read_text()
