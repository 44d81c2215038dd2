"""TEI normaliser on the shared corpus: every document found, no words lost, the seed document exact.

Expected values are computed here independently with lxml (document divs, words of the text,
footnote words, machine-readable dates), not taken from the normaliser.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pytest
from lxml import etree

from tasks.normalise.common import FRUS as F
from tasks.normalise.common import TEI as T
from tasks.normalise.common import ParsedVolume, plausible_year

pytestmark = pytest.mark.slow  # corpus-wide

NS = {"t": T.strip("{}"), "f": F.strip("{}")}

# The 19 volumes of corpus/README.md with their document counts as published there.
VOLUMES = {
    "frus1861.xml": 350, "frus1864p3.xml": 885, "frus1864p4.xml": 556, "frus1870.xml": 541,
    "frus1872p2v2.xml": 282, "frus1872p2v4.xml": 34, "frus1872p2v5.xml": 149, "frus1873p2v3.xml": 23,
    "frus1882.xml": 416, "frus1884.xml": 481, "frus1894Nicaragua.xml": 138, "frus1897.xml": 621,
    "frus1901.xml": 526, "frus1901China.xml": 312, "frus1902app1.xml": 34, "frus1918Russiav03.xml": 478,
    "frus1919Parisv01.xml": 409, "frus1919Parisv11.xml": 409, "frus1936v03.xml": 586,
}
EXCERPTS = ["frus1938v03-d83.xml", "frus1964-68v30-d10.xml"]
ALL = [f"volumes/{v}" for v in VOLUMES] + [f"excerpts/{e}" for e in EXCERPTS]
NO_FOOTNOTES = {"volumes/frus1861.xml"}  # checked below: the TEI really has no footnote

# Inline elements do not separate words ("Gov<hi>ern</hi>ment", "Fl<gap/>urs"); every other
# element does.
_INLINE = {
    T + t
    for t in (
        "hi persName gloss placeName date ref pb orgName name term foreign emph rs num unclear "
        "sic corr abbr expan add del measure geogName roleName surname forename title time gap supplied"
    ).split()
}
_WORD = re.compile(r"\w+")
_ISO = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?)?)?$"
)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _flat(el, out: list[str]) -> None:
    """Text of ``el`` without notes; non-inline elements separate words."""
    if el.text:
        out.append(el.text)
    for child in el:
        if isinstance(child.tag, str) and child.tag != T + "note":
            gap = "" if child.tag in _INLINE else " "
            out.append(gap)
            _flat(child, out)
            out.append(gap)
        if child.tail:
            out.append(child.tail)


def _text(el) -> str:
    out: list[str] = []
    _flat(el, out)
    return "".join(out)


def _machine_date(value: str | None) -> bool:
    m = _ISO.match((value or "").strip())
    if not m:
        return False
    y, mo, d = m.groups()
    try:
        date(int(y), int(mo or 1), int(d or 1))
    except ValueError:
        return False
    return plausible_year(int(y))  # other years are TEI typos, ignored


@dataclass
class Expected:
    """Per document (in reading order): its div and the stray attachments printed after it."""

    blocks: list[list]  # [div, attachment, …] per document


def _expected(path: Path) -> Expected:
    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True))
    text = tree.getroot().find(T + "text")
    blocks: list[list] = []
    for el in text.iter(T + "div", F + "attachment"):
        if any(a.tag == T + "div" and a.get("type") == "document" for a in el.iterancestors()):
            continue  # inside a document: part of it
        if el.tag == T + "div" and el.get("type") == "document":
            blocks.append([el])
        elif el.tag == F + "attachment" and blocks:
            if el.find(f".//{T}div[@type='document']") is None and not any(
                a.tag == F + "attachment" for a in el.iterancestors()
            ):
                blocks[-1].append(el)
    return Expected(blocks)


@pytest.fixture(scope="session")
def parsed(corpus: Path, parsed_volume):
    """Each corpus file parsed once per session: (ParsedVolume, Expected)."""
    cache: dict[str, tuple[ParsedVolume, Expected]] = {}

    def get(rel: str) -> tuple[ParsedVolume, Expected]:
        if rel not in cache:
            path = corpus / "frus" / rel
            cache[rel] = (parsed_volume(path), _expected(path))
        return cache[rel]

    return get


def _coverage(expected: Counter, got: Counter) -> float:
    total = sum(expected.values())
    return sum(min(n, got[w]) for w, n in expected.items()) / total


# -- document counts ------------------------------------------------------------------------


def test_corpus_holds_the_documented_volumes(volumes_dir: Path):
    assert sorted(p.name for p in volumes_dir.glob("*.xml")) == sorted(VOLUMES)


@pytest.mark.parametrize("rel", ALL)
def test_documents_equal_top_level_document_divs(parsed, rel):
    pv, exp = parsed(rel)
    assert pv.rejects == [] or all("attachment" in r.reason for r in pv.rejects)
    assert len(pv.documents) == len(exp.blocks) == pv.volume.document_count
    ids = [b[0].get("{http://www.w3.org/XML/1998/namespace}id") for b in exp.blocks]
    assert [d.doc_id for d in pv.documents if not d.doc_id.startswith("pos")] == [i for i in ids if i]
    assert len({d.doc_key for d in pv.documents}) == len(pv.documents)


def test_total_documents_over_the_corpus(parsed):
    counts = {rel: len(parsed(rel)[0].documents) for rel in ALL}
    assert sum(counts.values()) == 7232 == sum(VOLUMES.values()) + len(EXCERPTS)
    assert {rel: n for rel, n in counts.items() if rel.startswith("volumes/")} == {
        f"volumes/{v}": n for v, n in VOLUMES.items()
    }


def test_frus1861_id_less_document_is_kept(parsed):
    pv, exp = parsed("volumes/frus1861.xml")
    positions = [i for i, b in enumerate(exp.blocks) if b[0].get("{http://www.w3.org/XML/1998/namespace}id") is None]
    assert len(positions) == 1
    doc = pv.documents[positions[0]]
    assert doc.doc_id not in {b[0].get("{http://www.w3.org/XML/1998/namespace}id") for b in exp.blocks}
    stored = Counter(_words(" ".join(p.text for p in doc.parts)))
    assert doc.parts and _coverage(Counter(_words(_text(exp.blocks[positions[0]][0]))), stored) >= 0.995


# -- no words lost ------------------------------------------------------------------------


def text_coverage(pv: ParsedVolume, exp: Expected) -> float:
    expected, got = Counter(), Counter()
    for blocks, doc in zip(exp.blocks, pv.documents):
        for el in blocks:
            expected.update(_words(_text(el)))
        for p in doc.parts:
            got.update(_words(" ".join(x for x in (p.text, p.label, p.path) if x)))
    return _coverage(expected, got)


def footnote_words(pv: ParsedVolume, exp: Expected) -> tuple[Counter, Counter]:
    expected, got = Counter(), Counter()
    for blocks, doc in zip(exp.blocks, pv.documents):
        for el in blocks:
            for note in el.iter(T + "note"):
                if note.get("type") != "source":
                    expected.update(_words(_text(note)))
        for fn in doc.footnotes:
            got.update(_words(fn.text))
    return expected, got


@pytest.mark.parametrize("rel", ALL)
def test_document_words_are_in_parts(parsed, rel):
    pv, exp = parsed(rel)
    assert text_coverage(pv, exp) >= 0.995


@pytest.mark.parametrize("rel", ALL)
def test_footnote_words_are_in_footnotes(parsed, rel):
    pv, exp = parsed(rel)
    expected, got = footnote_words(pv, exp)
    if rel in NO_FOOTNOTES:  # nothing to cover: and nothing invented either
        assert not expected and not got
        return
    assert expected
    assert _coverage(expected, got) >= 0.99


# -- dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", ALL)
def test_machine_readable_dates_give_date_min(parsed, rel):
    pv, exp = parsed(rel)
    missing = []
    for blocks, doc in zip(exp.blocks, pv.documents):
        div = blocks[0]
        values = [div.get(F + "doc-dateTime-min")] + [
            d.get(a) for d in div.iter(T + "date") for a in ("when", "from", "to", "notBefore", "notAfter")
        ]
        if any(_machine_date(v) for v in values) and doc.date_min is None:
            missing.append(doc.doc_key)
    assert missing == []


# -- the seed document and the modern excerpt --------------------------------------------


def test_d83_of_frus1938v03(parsed):
    pv, _ = parsed("excerpts/frus1938v03-d83.xml")
    [d] = pv.documents
    assert d.doc_key == "frus1938v03/d83"
    assert (d.file_number, d.doc_type) == ("793.94/12357", "Telegram")
    assert (d.sender, d.sender_role) == ("Henderson", "Chargé in the Soviet Union")
    assert d.recipient == "Secretary of State"
    assert d.place == "Moscow"
    assert d.date_min == datetime(1938, 2, 5, 17, 0)
    assert d.signature == "Henderson"
    # no page break before d83; <pb n="71"/> stands mid-list, so the document starts on page 70
    assert (d.page_start, d.page_end) == ("70", "71")
    notes = {f.note_id: f for f in d.footnotes}
    assert {k: f.text for k, f in notes.items()} == {
        "d83fn6": "Not printed.",
        "d83fn7": "President of the Chinese Legislative Yuan.",
        "d83fn8": "Secretary General of the Communist Party of the Soviet Union.",
    }
    assert d.parts[notes["d83fn6"].part_seq].text.startswith("35. Reference to my telegram No. 5, January 8, 7 p.m. Yui")
    assert "Sun Fo has obtained" in d.parts[notes["d83fn7"].part_seq].text
    assert "contact had been established with Stalin is not clear" in d.parts[notes["d83fn8"].part_seq].text
    items = [(p.path, p.label) for p in d.parts if p.kind == "item" and p.label]
    assert [path for path, _ in items] == [
        "1.(a)", "1.(b)", "1.(c)", "1.(d)", "2.", "3.(a)", "3.(b)", "3.(c)", "3.(d)", "3.(e)", "4.", "5.",
    ]
    assert all(path.endswith(label) for path, label in items)


def test_d10_of_frus1964_68v30(parsed):
    pv, _ = parsed("excerpts/frus1964-68v30-d10.xml")
    [d] = pv.documents
    assert d.classification == "Confidential"
    assert d.archive_citation == "Department of State, Central Files, POL CHICOM-US"
    assert d.subtype == "historical-document"
    assert (d.place, d.date_min_iso) == ("Warsaw", "1964-01-29T11:00:00-05:00")
    assert d.signature == "Cabot"
    assert [p.label for p in d.parts if p.kind == "item"] == ["(1)", "(2)", "(3)", "(4)", "(5)", "(6)"]


# -- fields the review found wrong ------------------------------------------------------------


def test_place_and_date_keep_spaces_at_element_edges(parsed):
    pv, _ = parsed("volumes/frus1864p4.xml")
    assert {d.doc_id: d for d in pv.documents}["d258"].place == "Legation of the United States, Brussels"
    pv, _ = parsed("volumes/frus1870.xml")
    assert {d.doc_id: d for d in pv.documents}["d126"].date_text == "le 8 Septembre, 1870—4 p. m."
    # no place glues a word to the comma before it ("States,London")
    assert [d.place for d in pv.documents if d.place and re.search(r",\w", d.place)] == []


def test_despatch_number_printed_as_first_paragraph(parsed):
    pv, _ = parsed("volumes/frus1882.xml")
    assert {d.doc_id: d for d in pv.documents}["d1"].despatch_number == "350"
    pv, _ = parsed("volumes/frus1918Russiav03.xml")
    assert {d.doc_id: d for d in pv.documents}["d49"].despatch_number == "1027"


def test_list_items_print_their_own_labels(parsed):
    pv, _ = parsed("volumes/frus1919Parisv01.xml")
    lines = {d.doc_id: d for d in pv.documents}["d37"].text.splitlines()
    assert lines.index("I) The Western Theater.") + 1 == lines.index("A) Belgium.")
    pv, _ = parsed("volumes/frus1872p2v4.xml")
    lines = {d.doc_id: d for d in pv.documents}["d11"].text.splitlines()
    assert "II. Le Nashville:" in lines and "B. Le Nashville:" not in lines


def test_source_notes_the_review_found_misparsed(parsed):
    by_id = {d.doc_id: d for d in parsed("volumes/frus1919Parisv01.xml")[0].documents}
    assert by_id["d25"].archive_citation == "Inquiry Document No. 893"
    assert by_id["d181"].file_number == "Paris Peace Conf. 184.1–Helms, Birch"
    assert by_id["d110"].file_number == "Paris peace Conf. 184.44/1"
    by_id = {d.doc_id: d for d in parsed("volumes/frus1870.xml")[0].documents}
    assert by_id["d146"].despatch_number == "302"
    assert by_id["d231"].doc_type == "Cablegram"
    by_id = {d.doc_id: d for d in parsed("volumes/frus1872p2v5.xml")[0].documents}
    assert by_id["d23"].classification == by_id["d31"].classification == "Confidential"
