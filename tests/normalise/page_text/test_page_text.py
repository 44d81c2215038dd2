"""history.state.gov page text (the seed's format) → Document.

The seed is read from the corpus; the files in tests/fixtures/hsg/ are small pages written for
these tests (invented text in the site's shapes: page markers, Received line, URL, sidecar).
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tasks.normalise.page_text import (
    document_text,
    find_markers,
    parse_page_file,
    parse_page_text,
    parse_title,
    parse_url,
)
from tasks.records import Part
from tests.normalise.render import as_page_text

SEED = "seed/000_06e3c999c372cd2d.txt"

ITEM_PATHS = [
    "1.(a)", "1.(b)", "1.(c)", "1.(d)", "2.",
    "3.(a)", "3.(b)", "3.(c)", "3.(d)", "3.(e)", "4.", "5.",
]


@pytest.fixture(scope="module")
def seed(corpus: Path):
    return parse_page_file(corpus / SEED)


def part_with(doc, needle):
    return next(p for p in doc.parts if needle in p.text)


# --------------------------------------------------------------------------- the seed


def test_seed_metadata(seed):
    assert seed.format == "hsg-text"
    assert seed.file_number == "793.94/12357"
    assert seed.doc_type == "Telegram"
    assert seed.source_notes == ["793.94/12357: Telegram"]
    assert seed.title == "The Chargé in the Soviet Union (Henderson) to the Secretary of State"
    assert seed.sender == "Henderson"
    assert seed.sender_role == "Chargé in the Soviet Union"
    assert seed.recipient == "Secretary of State"
    assert seed.recipient_role == "Secretary of State"
    assert seed.signature == "Henderson"


def test_seed_without_url_is_keyed_by_content(seed):
    assert seed.volume_id == "hsg-text"
    assert seed.doc_id == "000_06e3c999c372cd2d"
    assert seed.url is None
    prefix, digest = seed.doc_key.split("/")
    assert prefix == "hsg-text" and len(digest) == 16
    int(digest, 16)


def test_seed_parts(seed):
    kinds = [p.kind for p in seed.parts]
    assert kinds[0] == "heading" and seed.parts[0].text == seed.title
    assert kinds[1] == "paragraph" and seed.parts[1].text.startswith("35. Reference to my telegram")
    assert kinds[-1] == "signature" and seed.parts[-1].text == "Henderson"
    assert [p.seq for p in seed.parts] == list(range(len(seed.parts)))


def test_seed_has_twelve_labelled_items(seed):
    items = [p for p in seed.parts if p.kind == "item"]
    assert [p.path for p in items] == ITEM_PATHS
    assert [p.label for p in items] == [
        "(a)", "(b)", "(c)", "(d)", "2.", "(a)", "(b)", "(c)", "(d)", "(e)", "4.", "5.",
    ]
    first = items[0]
    assert first.text.startswith("(a) The mission of Sun Fo has obtained")
    two = items[4]
    assert two.text.startswith("Although I elaborated")


def test_seed_footnotes_keep_the_volume_numbers(seed):
    notes = seed.footnotes
    assert [f.n for f in notes] == ["6", "7", "8"]
    assert [f.note_id for f in notes] == ["fn6", "fn7", "fn8"]
    assert [f.text for f in notes] == [
        "Not printed.",
        "President of the Chinese Legislative Yuan.",
        "Secretary General of the Communist Party of the Soviet Union.",
    ]
    p_m = part_with(seed, "p.m.")
    sun_fo = part_with(seed, "Sun Fo")
    assert p_m.seq == 1 and p_m.kind == "paragraph"
    assert sun_fo.path == "1.(a)"
    assert [f.part_seq for f in notes] == [p_m.seq, sun_fo.seq, sun_fo.seq]
    assert all(f.doc_key == seed.doc_key for f in notes)


def test_seed_markers_removed_and_real_numbers_kept(seed):
    assert "7 p.m. Yui Ming" in seed.parts[1].text
    assert "Sun Fo has" in seed.text and "Stalin is not clear" in seed.text
    for marker in ("p.m.6", "Fo7", "Stalin8"):
        assert marker not in seed.text
    for real in ("No. 5", "January 8, 7 p.m.", "20 divisions", "350,000", "6 weeks", "35. "):
        assert real in seed.text


def test_seed_document_text(seed):
    lines = seed.text.split("\n")
    assert len(lines) == len(seed.parts) - 1  # every part but the heading
    assert lines[0].startswith("35. Reference")
    # The shared rule (tasks.normalise.common.document_text): an item opening a numbered item prints
    # its number ("1. (a) …"), the lettered items after it do not; "2." is printed before
    # its text.
    assert lines[1].startswith("1. (a) The mission of Sun Fo has")
    assert lines[2].startswith("(b) The negotiations")
    assert lines[5].startswith("2. Although I elaborated")
    assert lines[-1] == "Henderson"
    assert seed.word_count == len(seed.text.split())


def test_seed_with_url_gets_the_canonical_key(corpus):
    text = (corpus / SEED).read_text("utf-8")
    doc = parse_page_text(
        "URL: https://history.state.gov/historicaldocuments/frus1938v03/d83\n" + text,
        name="seed.txt",
    )
    assert doc.doc_key == "frus1938v03/d83"
    assert (doc.volume_id, doc.doc_id, doc.doc_number) == ("frus1938v03", "d83", "83")
    assert doc.url == "https://history.state.gov/historicaldocuments/frus1938v03/d83"
    assert [f.note_id for f in doc.footnotes] == ["d83fn6", "d83fn7", "d83fn8"]
    assert doc.file_number == "793.94/12357"  # the URL line is not taken for a source note
    # The content key does not depend on the URL line.
    assert parse_page_text(text, name="a.txt").doc_key == parse_page_text(
        "\ufeff" + text.replace("\n", "\r\n"), name="b.txt"
    ).doc_key


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def harbin():
    return parse_page_file(Path(__file__).resolve().parents[2] / "fixtures" / "hsg" / "pages_received.txt")


def test_url_line_with_trailing_dot_host(harbin):
    assert harbin.doc_key == "frus1918Russiav02/d50"
    assert harbin.url == "https://history.state.gov/historicaldocuments/frus1918Russiav02/d50"
    assert harbin.file_number == "861.00/1234"


def test_received_line_is_a_dateline(harbin):
    # After the place-and-date line it joins that dateline (the TEI holds both in one).
    assert [(p.kind, p.text) for p in harbin.parts[1:2]] == [
        ("dateline", "Harbin, March 3, 1918—11 p.m. [Received March 5, 2:10 a.m.]"),
    ]
    assert harbin.parts[2].kind == "paragraph"
    assert harbin.place == "Harbin"
    assert harbin.date_min == datetime(1918, 3, 3, 23, 0)


def test_repeated_to_is_a_paragraph_and_no_signature(harbin):
    assert harbin.parts[-1].kind == "paragraph"
    assert harbin.parts[-1].text == "Repeated to Peking."
    assert harbin.signature is None
    assert "signature" not in {p.kind for p in harbin.parts}


def test_page_markers(harbin):
    assert "[Page" not in harbin.text
    pages = {p.text[:12]: p.page for p in harbin.parts}
    # The first marker is inline: what stands before it is on the page before.
    assert pages["74. Referrin"] == "92"
    assert pages["The railway "] == "93"
    assert pages["Repeated to "] == "94"  # after a marker on a line of its own
    assert (harbin.page_start, harbin.page_end) == ("92", "94")
    assert "6 guns. Baron Ungern’s detachment" in harbin.text  # one space where the marker was


def test_markers_after_apostrophe_s_and_punctuation(harbin):
    notes = harbin.footnotes
    assert [f.n for f in notes] == ["49", "50", "51", "52"]
    assert [f.note_id for f in notes] == ["d50fn49", "d50fn50", "d50fn51", "d50fn52"]
    assert [f.part_seq for f in notes] == [2, 2, 3, 3]
    assert [f.page for f in notes] == ["92", "93", "93", "93"]
    text = harbin.text
    assert "Semenov has occupied" in text and "Ungern’s detachment" in text
    assert "protested. Stocks" in text and text.split("\n")[2].endswith("January 1918.")
    # Real numbers stay, including a glued one that is not part of the chain.
    for real in ("No. 5", "600 men", "6 guns", "20 officers", "A–51", "6 weeks", "350,000"):
        assert real in text


def test_sidecar_url(tmp_path):
    doc = parse_page_file(Path(__file__).resolve().parents[2] / "fixtures" / "hsg" / "sidecar.txt")
    assert doc.doc_key == "frus1938v03/d999"
    assert doc.doc_type == "Telegram" and doc.file_number is None
    assert (doc.sender, doc.sender_role) == ("Secretary of State", "Secretary of State")
    assert (doc.recipient, doc.recipient_role) == ("Grew", "Ambassador in Japan")
    assert doc.signature == "Hull"
    assert [(f.note_id, f.part_seq) for f in doc.footnotes] == [("d999fn1", 2)]
    assert "February 9, noon. The Department" in doc.text


def test_sidecar_named_after_the_full_file_name(tmp_path):
    page = tmp_path / "page.txt"
    page.write_text("Editorial Note\n\nThe Department took no action.\n", "utf-8")
    (tmp_path / "page.txt.url").write_text(
        "https://history.state.gov./historicaldocuments/frus1936v03/d12\n", "utf-8"
    )
    doc = parse_page_file(page)
    assert doc.doc_key == "frus1936v03/d12"
    assert doc.title == "Editorial Note" and doc.signature is None


# --------------------------------------------------------------------------- first lines


BODY = "\n\nThe Department has received your note.\n"


@pytest.mark.parametrize(
    "first, field, value",
    [
        ("793.94/12357: Telegram", "file_number", "793.94/12357"),
        ("File No. 861.51/131", "file_number", "861.51/131"),
        ("Paris Peace Conf. 185.001/9", "file_number", "Paris Peace Conf. 185.001/9"),
        ("123 Bacon, Leonard Lee: Telegram", "file_number", "123 Bacon, Leonard Lee"),
        ("[Telegram]", "doc_type", "Telegram"),
        ("No. 378", "despatch_number", "378"),
        ("No. 378.]", "despatch_number", "378"),
    ],
)
def test_first_line_source_note(first, field, value):
    doc = parse_page_text(f"{first}\n\nMr. Fish to Sir Edward Thornton.{BODY}", name="x.txt")
    assert getattr(doc, field) == value
    assert doc.source_notes == [first]
    assert doc.title == "Mr. Fish to Sir Edward Thornton."
    assert doc.parts[0].kind == "heading" and doc.parts[0].text == doc.title


def test_two_source_note_lines():
    doc = parse_page_text(f"File No. 861.51/131\n[Telegram]\n\nMr. Fish to Mr. Adams{BODY}", name="x")
    assert (doc.file_number, doc.doc_type) == ("861.51/131", "Telegram")
    assert doc.title == "Mr. Fish to Mr. Adams"


def test_no_source_note_line_first_line_is_the_title():
    doc = parse_page_text(f"Mr. Fish to Sir Edward Thornton.{BODY}", name="x.txt")
    assert doc.source_notes == [] and doc.file_number is None and doc.doc_type is None
    assert doc.title == "Mr. Fish to Sir Edward Thornton."
    assert (doc.sender, doc.recipient) == ("Fish", "Edward Thornton")
    assert (doc.sender_role, doc.recipient_role) == (None, None)
    assert [p.kind for p in doc.parts] == ["heading", "paragraph"]


def test_titles_that_look_like_notes_stay_titles():
    for title in ("Paraphrase of a Telegram From the Ambassador in Japan", "Memorandum by the Secretary of State"):
        doc = parse_page_text(f"{title}{BODY}", name="x")
        assert doc.title == title and doc.source_notes == []


def test_modern_page_source_footnote():
    text = (
        "10. Telegram From the Embassy in Poland to the Department of State1\n\n"
        "Warsaw, January 29, 1964, 5 p.m.\n\n"
        "1273. Cabot-Wang Talks. 119th meeting 1 hour 45 minutes.2 Deptel 1150.3\n"
        "Cabot\n"
        "  1. Source: Department of State, Central Files, POL CHICOM-US. Confidential; Priority; "
        "Limit Distribution. Repeated to Taipei.\n"
        "  2. Cabot commented on the meeting in telegram 1277.\n"
        "  3. Telegram 1150 to Warsaw, January 21.\n"
    )
    doc = parse_page_text(text, name="x", url="https://history.state.gov/historicaldocuments/frus1964-68v30/d10")
    assert doc.doc_number == "10"
    assert doc.title == "Telegram From the Embassy in Poland to the Department of State"
    assert (doc.sender_role, doc.recipient_role) == ("Embassy in Poland", "Department of State")
    assert doc.archive_citation == "Department of State, Central Files, POL CHICOM-US"
    assert doc.classification == "Confidential"
    assert [(f.note_id, f.part_seq) for f in doc.footnotes] == [("d10fn1", 0), ("d10fn2", 2), ("d10fn3", 2)]
    assert doc.parts[2].text == "1273. Cabot-Wang Talks. 119th meeting 1 hour 45 minutes. Deptel 1150."
    assert doc.date_min == datetime(1964, 1, 29, 17, 0)
    assert doc.signature == "Cabot"


# --------------------------------------------------------------------------- pieces


@pytest.mark.parametrize(
    "title, expected",
    [
        (
            "The Chargé in the Soviet Union (Henderson) to the Secretary of State",
            ("Henderson", "Chargé in the Soviet Union", None, "Secretary of State"),
        ),
        ("Mr. Fish to Sir Edward Thornton", ("Fish", None, "Edward Thornton", None)),
        (
            "Telegram From the Embassy in Poland to the Department of State",
            (None, "Embassy in Poland", None, "Department of State"),
        ),
        (
            "The Ambassador to France (Bullitt) to the Secretary of State",
            ("Bullitt", "Ambassador to France", None, "Secretary of State"),
        ),
        (
            "The Secretary of State to the Minister in China ( Johnson )",
            (None, "Secretary of State", "Johnson", "Minister in China"),
        ),
        ("Editorial Note", (None, None, None, None)),
    ],
)
def test_parse_title(title, expected):
    got = parse_title(title)
    sender, sender_role, recipient, recipient_role = expected
    # an office with no name stands as the correspondent (the TEI normaliser's rule)
    expected = (sender or sender_role, sender_role, recipient or recipient_role, recipient_role)
    assert (got["sender"], got["sender_role"], got["recipient"], got["recipient_role"]) == expected


def test_parse_url():
    assert parse_url("https://history.state.gov/historicaldocuments/frus1938v03/d83") == ("frus1938v03", "d83")
    assert parse_url("https://history.state.gov./historicaldocuments/frus1938v03/d83#fn1") == ("frus1938v03", "d83")
    assert parse_url("https://example.com/historicaldocuments/frus1938v03/d83") is None


def test_find_markers_needs_a_full_consecutive_chain():
    assert find_markers(["Stalin8 and 20 divisions, 350,000 men"], 2) is None
    assert find_markers(["a Fo7 b", "c Stalin8 d"], 2) == [(0, 4, 7), (1, 8, 8)]
    assert find_markers(["A–630 then note99 then Ungern’s1"], 2) == [(0, 15, 99), (0, 31, 1)]
    assert find_markers(["x"], 0) == []


def test_unanchored_footnotes_when_no_chain():
    doc = parse_page_text("Editorial Note\n\nNo markers in this text.\n  1. A note.\n", name="x")
    assert [(f.n, f.note_id, f.part_seq) for f in doc.footnotes] == [("1", "fn1", None)]
    assert doc.parts[-1].text == "No markers in this text."


def test_received_line_alone_is_its_own_dateline():
    doc = parse_page_text("Title\n[Received June 1.]\nBody text here.\n", name="x")
    assert [(p.kind, p.text) for p in doc.parts[1:]] == [
        ("dateline", "[Received June 1.]"),
        ("paragraph", "Body text here."),
    ]


def test_document_text_is_the_shared_rule():
    parts = [
        Part("k", 0, "heading", "Title"),
        Part("k", 1, "item", "Although I elaborated", label="2.", path="2."),
        Part("k", 2, "item", "(a) The mission", label="(a)", path="3.(a)"),
        Part("k", 3, "signature", "Henderson"),
    ]
    assert document_text(parts) == "2. Although I elaborated\n3. (a) The mission\nHenderson"


def test_same_records_as_the_tei_normaliser(corpus):
    """The seed page and the TEI of the same document give the same parts and footnotes."""
    from tasks.normalise import tei
    (t,) = tei.parse_volume(corpus / "frus/excerpts/frus1938v03-d83.xml").documents
    text = (corpus / SEED).read_text("utf-8")
    h = parse_page_text(
        "URL: https://history.state.gov/historicaldocuments/frus1938v03/d83\n" + text, name="seed"
    )
    assert h.doc_key == t.doc_key and h.title == t.title and h.signature == t.signature
    assert (h.file_number, h.doc_type, h.sender, h.sender_role, h.recipient_role) == (
        t.file_number, t.doc_type, t.sender, t.sender_role, t.recipient_role,
    )

    def shape(doc):  # the page lacks the dateline: compare the rest
        parts = [p for p in doc.parts if p.kind != "dateline"]
        seq = {p.seq: i for i, p in enumerate(parts)}
        return (
            [(p.kind, p.label, p.path, p.text) for p in parts],
            [(f.note_id, f.n, f.text, seq[f.part_seq]) for f in doc.footnotes],
        )

    assert shape(h) == shape(t)


# --------------------------------------------------------------------------- bad input


def test_empty_file_is_refused(tmp_path):
    page = tmp_path / "empty.txt"
    page.write_bytes(b"  \n\n")
    with pytest.raises(ValueError, match=r"empty\.txt.*empty"):
        parse_page_file(page)


def test_non_utf8_file_is_refused(tmp_path):
    page = tmp_path / "latin1.txt"
    page.write_bytes("Charg\u00e9 d\u2019Affaires".encode("cp1252"))
    with pytest.raises(ValueError, match=r"latin1\.txt.*not UTF-8"):
        parse_page_file(page)


def test_foreign_url_is_refused():
    with pytest.raises(ValueError, match=r"page\.txt.*history\.state\.gov"):
        parse_page_text("Title\n\nBody.\n", name="page.txt", url="https://example.com/x")


def test_unindented_footnote_list_needs_its_markers():
    notes = "Title\n\nThe Minister said so.4 And more.5\n1. Not printed.\n2. Not found.\n"
    doc = parse_page_text(notes, name="x")
    assert [(f.n, f.text) for f in doc.footnotes] == [("4", "Not printed."), ("5", "Not found.")]
    # Without markers, trailing numbered lines are paragraphs, not footnotes: no text is lost.
    paras = "Mr. Fish to Mr. Adams\n\nThe Minister made two points.\n1. Trade must go on.\n2. Talks resume.\n"
    doc = parse_page_text(paras, name="x")
    assert doc.footnotes == []
    assert doc.text.split("\n") == ["The Minister made two points.", "1. Trade must go on.", "2. Talks resume."]


def test_nineteenth_century_title_number_is_not_the_sender():
    assert parse_title("No. 3. Mr. Frelinghuysen to Mr. Osborn") == {
        "sender": "Frelinghuysen", "sender_role": None, "recipient": "Osborn", "recipient_role": None,
    }
    doc = parse_page_text(f"No. 3. Mr. Frelinghuysen to Mr. Osborn.{BODY}", name="x.txt")
    assert (doc.doc_number, doc.title, doc.sender) == ("3", "Mr. Frelinghuysen to Mr. Osborn.", "Frelinghuysen")
    assert doc.source_notes == [] and doc.despatch_number is None
    # with a URL the volume's numbering wins: the printed "No. 3." may differ from d4
    url = "https://history.state.gov/historicaldocuments/frus1882/d4"
    doc = parse_page_text(f"No. 3. Mr. Frelinghuysen to Mr. Osborn.{BODY}", name="x.txt", url=url)
    assert (doc.doc_number, doc.sender) == ("4", "Frelinghuysen")


def test_despatch_number_printed_as_the_first_paragraph():
    # frus1882/d1: heading, dateline, then "No. 350.]" as a paragraph (the TEI reads it too)
    text = ("No. 1. Mr. Osborn to Mr. Frelinghuysen\n\n"
            "Legation of the United States, Buenos Ayres, February 10, 1882.\n\n"
            "No. 350.]\n\nSir: Mr. John S. Rowe, a native of this country, was arrested.\n\n"
            "THOS. O. OSBORN.\n")
    doc = parse_page_text(text, name="x.txt")
    assert (doc.despatch_number, doc.doc_number, doc.sender) == ("350", "1", "Osborn")
    assert "No. 350.]" in [p.text for p in doc.parts]  # still printed
    # a "No. 12" deep in the body is not a despatch number
    doc = parse_page_text(text.replace("No. 350.]\n\n", "") + "\nNo. 12.\n", name="x.txt")
    assert doc.despatch_number is None


def test_signature_followed_by_the_addressee_line():
    # frus1864p3/d5: the addressee is printed under the signature
    text = (
        "No. 382.]\n\nMr. Dayton to Mr. Seward\n\nSir: Your despatches have been received.\n\n"
        "I am, sir, your obedient servant,\n\nWM. L. DAYTON.\n\n"
        "Hon. William H. Seward, Secretary of State, &c.\n"
    )
    doc = parse_page_text(text, name="x.txt")
    assert doc.signature == "WM. L. DAYTON."
    assert [p.kind for p in doc.parts[-3:]] == ["closer", "signature", "postscript"]
    assert doc.text.endswith("WM. L. DAYTON.\nHon. William H. Seward, Secretary of State, &c.")


def test_signature_ending_with_a_comma():
    body = "Mr. Lowell to Mr. Frelinghuysen.\n\nSir: I have the honor.\n\nI have, &c.,\n\n"
    assert parse_page_text(body + "LOWELL,\n", name="x").signature == "LOWELL,"
    doc = parse_page_text(body + "F. W. SEWARD,\n\nActing Secretary.\n", name="x")
    assert doc.signature == "F. W. SEWARD,"  # the comma says his office follows
    doc = parse_page_text(body + "JOHN P. STOCKTON,\n\nLate Minister at Rome.\n\nHon. William H. Seward.\n", name="x")
    assert doc.signature == "JOHN P. STOCKTON,"


def test_a_closing_line_is_not_taken_for_a_signature():
    doc = parse_page_text("Title\n\nBody text here.\n\nRespectfully,\n\nHULL\n", name="x")
    assert doc.signature == "HULL"
    doc = parse_page_text("Mr. Hull to Mr. Grew\n\nBody text.\n\nThe Secretary of State sends his regards.\n", name="x")
    assert doc.signature is None


# --------------------------------------------------------------------------- not a page text

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "hsg"
NOT_FRUS = "not a FRUS page text"


def test_milk_note_is_refused():
    with pytest.raises(ValueError, match=r"notes\.txt: no body text after the title"):
        parse_page_file(FIXTURES / "notes.txt")
    with pytest.raises(ValueError, match=rf"notes\.txt: {NOT_FRUS}"):
        parse_page_text("TODO: remember to buy milk\nAnd eggs, and bread.\n", name="notes.txt")


def test_giant_one_line_file_is_refused(tmp_path):
    page = tmp_path / "giant.txt"
    page.write_text(" ".join(["word"] * 300_000), "utf-8")
    with pytest.raises(ValueError, match=r"giant\.txt: title of 1,499,999 characters \(> 500\)"):
        parse_page_file(page)


@pytest.mark.parametrize("line", ["URL: not a url at all", "URL: https://example.com/frus1938v03/d83",
                                  "https://history.state.gov/milestones/1937-1945"])
def test_bad_url_line_is_refused(line):
    with pytest.raises(ValueError, match=r"x\.txt: URL line is not a history\.state\.gov document URL"):
        parse_page_text(f"{line}\nMr. Fish to Mr. Adams\n\nBody.\n", name="x.txt")


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty page text"),
        ("\n \n", "empty page text"),
        ("Mr. Fish to Mr. Adams\n", "no body text after the title"),
        ("Mr. Fish to Mr. Adams\n\nBody.\x00\x01\n", "control characters"),
        ("Project README\n\nThis project does things.\nInstall it with pip.\n", NOT_FRUS),
        ("How to install the tool\n\nRun make, then make test.\n", NOT_FRUS),
        ("I went to the Store\n\nBought milk.\n", NOT_FRUS),
    ],
)
def test_junk_text_is_refused_with_the_reason(text, reason):
    with pytest.raises(ValueError, match=rf"^junk\.txt: {reason}"):
        parse_page_text(text, name="junk.txt")


@pytest.mark.parametrize(
    "text",
    [
        "[Untitled]\n\nThe Department took no action.\n",  # a FRUS heading
        "Editorial Note\n\nThe Department took no action.\n",
        "memorandum.\n\nThe undersigned has the honor to state.\n",
        "No. 40.—Substitute.—Volunteer Enlistment.\n\nThe undersigned agrees.\n",
        "Mr. Seward to ministers of the United States.\n\nSir: The President directs.\n",  # correspondence
        "Schedule A.\n\nDepartment of State, Washington, May 1, 1901.\n\nThe list follows.\n",  # dated line
        "A Note on Trade\n\nThe Minister said so.4 And more.5\n  1. Not printed.\n  2. Not found.\n",  # footnotes
        "A Note on Trade\n\n[Page 93]\nThe Minister said so.\n",  # page marker
    ],
)
def test_genuine_shapes_are_accepted(text):
    assert parse_page_text(text, name="x.txt").parts[1].text


@pytest.mark.slow  # corpus-wide
def test_corpus_documents_as_page_text_are_accepted(corpus):
    """Nearly every real document, without its URL, still passes the acceptance rule."""
    from tasks.normalise.tei import parse_volume

    docs = [d for v in ("frus1864p3", "frus1901", "frus1936v03")
            for d in parse_volume(corpus / "frus" / "volumes" / f"{v}.xml").documents]
    refused = []
    for d in docs:
        try:
            parse_page_text(as_page_text(d), name=d.doc_key)
        except ValueError as exc:
            refused.append(str(exc)[:120])
    assert len(refused) <= len(docs) // 200, refused  # at most 0.5 %
