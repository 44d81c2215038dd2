"""TEI normaliser on small hand-written fixtures: one fixture per trap of frus-formats.md §1/§3."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tasks.errors import VolumeError
from tasks.normalise.common import plausible_year
from tasks.normalise.tei import parse_volume

TEI_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "tei"


def parse(name: str):
    return parse_volume(TEI_DIR / name)


def docs(name: str) -> dict:
    return {d.doc_id: d for d in parse(name).documents}


def texts(doc) -> list[tuple[str, str]]:
    return [(p.kind, p.text) for p in doc.parts]


# -- volume id and namespaces -----------------------------------------------------------


def test_volume_id_comes_from_tei_xml_id_not_the_file_name():
    pv = parse("renamed-volume-file.xml")  # prefixed tei: namespace
    assert pv.volume.volume_id == "frus1999v01"
    assert pv.volume.title == "Foreign Relations, 1999, Volume I"
    assert pv.volume.volume_title == "Testing"
    assert pv.volume.publication_year == 2001
    assert pv.volume.editors == ["Jane Roe"]
    [doc] = pv.documents
    assert doc.doc_key == "frus1999v01/d1"
    assert doc.url == "https://history.state.gov/historicaldocuments/frus1999v01/d1"
    assert texts(doc) == [("heading", "First document"), ("paragraph", "Body text.")]


def test_volume_id_falls_back_to_idno():
    assert parse("idno-only.xml").volume.volume_id == "frus1888"


def test_tei_without_namespace_is_refused():
    with pytest.raises(VolumeError, match="no-namespace.xml.*not a TEI document"):
        parse("no-namespace.xml")


# -- finding documents ------------------------------------------------------------------


def test_documents_in_front_body_back_with_chapter_paths():
    pv = parse("structure.xml")
    assert [d.doc_id for d in pv.documents] == ["d0", "d1", "pos0003", "d3", "d4"]
    assert pv.volume.document_count == 5
    by_id = {d.doc_id: d for d in pv.documents}
    assert by_id["d0"].chapter_path == []
    assert by_id["d1"].chapter_path == ["Great Britain", "Relations with Canada:"]  # head notes left out
    assert by_id["d3"].chapter_path == ["Spain"]
    assert by_id["d4"].chapter_path == []
    assert by_id["d4"].text == "Echo words."
    assert pv.rejects == []


def test_document_without_xml_id_is_kept_with_a_stable_positional_key():
    first = {d.doc_id: d for d in parse("structure.xml").documents}
    again = {d.doc_id: d for d in parse("structure.xml").documents}
    doc = first["pos0003"]
    assert doc.doc_key == "frus1900/pos0003" == again["pos0003"].doc_key
    assert doc.doc_number == "2"
    assert doc.url is None  # no page on history.state.gov to point at
    assert doc.text == "Charlie words."


def test_nested_document_in_attachment_is_part_of_the_parent():
    d1 = docs("structure.xml")["d1"]
    assert "Enclosure words alpha." in d1.text
    enclosed = [p for p in d1.parts if p.attachment == 1]
    assert [(p.kind, p.label, p.text) for p in enclosed] == [
        ("attachment", "[Inclosure in No. 1.]", ""),
        ("heading", None, "Enclosed letter"),
        ("paragraph", None, "Enclosure words alpha."),
    ]
    # the enclosed letter's head is not the document's title
    assert d1.title == "Mr. Seward to Mr. Adams." and d1.sender == "Seward" and d1.recipient == "Adams"


def test_attachment_between_documents_belongs_to_the_one_before():
    by_id = docs("structure.xml")
    second = [p for p in by_id["d1"].parts if p.attachment == 2]
    assert [(p.kind, p.label, p.text) for p in second] == [
        ("attachment", "[Inclosure 2 in No. 1.]", ""),
        ("paragraph", None, "Stray enclosure words bravo."),
    ]
    assert "bravo" not in by_id["pos0003"].text


def test_attachment_before_any_document_is_reported_not_lost_silently():
    pv = parse("attachment-first.xml")
    assert [d.doc_id for d in pv.documents] == ["d1"]
    [reject] = pv.rejects
    assert reject.source_uri.endswith("attachment-first.xml")
    assert "line 6" in reject.place and "attachment" in reject.reason


# -- source notes -------------------------------------------------------------------------


def test_source_note_before_and_after_head():
    by_id = docs("source-notes.xml")
    assert by_id["d1"].source_notes == ["No. 378.]"]
    assert by_id["d1"].despatch_number == "378"
    assert by_id["d1"].title == "Before the head"
    assert by_id["d2"].file_number == "763.72119/2590" and by_id["d2"].doc_type == "Telegram"
    assert by_id["d2"].title == "After the head"
    for d in by_id.values():  # a source note is metadata, not body text
        assert "No. 378" not in d.text and "763.72119" not in d.text


def test_two_source_notes_are_merged():
    d3 = docs("source-notes.xml")["d3"]
    assert d3.source_notes == ["File No. 861.51/131", "[Telegram.—Paraphrase.]"]
    assert (d3.file_number, d3.doc_type, d3.is_paraphrase) == ("861.51/131", "Telegram", True)


def test_modern_source_footnote_in_head_gives_classification_and_archive():
    d4 = docs("source-notes.xml")["d4"]
    assert d4.classification == "Secret"
    assert d4.archive_citation == "Department of State, Central Files, POL CHICOM-US"
    assert d4.title == "4. Telegram From the Embassy in Poland to the Department of State"
    assert [(f.note_id, f.part_seq) for f in d4.footnotes] == [("d4fn1", 0), ("d4fn2", 1)]
    assert d4.footnotes[0].text.startswith("Source: Department of State")


def test_enclosure_source_notes_label_the_attachment_and_keep_their_footnote():
    d5 = docs("source-notes.xml")["d5"]
    assert d5.despatch_number == "61"
    [att] = [p for p in d5.parts if p.kind == "attachment"]
    assert att.label == "[Inclosure 2 in No. 61.—Translation.] [Second note of the enclosure.]"
    [fn] = d5.footnotes
    assert (fn.note_id, fn.n, fn.text, fn.part_seq) == ("d5fn1", "*", "See inclosure in No. 73.", att.seq)


# -- heads: correspondents ----------------------------------------------------------------


def test_persname_and_gloss_from_to():
    d1 = docs("heads.xml")["d1"]
    assert d1.title == "The Chargé in the Soviet Union (Henderson) to the Secretary of State"
    assert (d1.sender, d1.sender_role) == ("Henderson", "Chargé in the Soviet Union")
    assert (d1.recipient, d1.recipient_role) == ("Secretary of State", "Secretary of State")


def test_spaced_names_in_heads():
    d2 = docs("heads.xml")["d2"]
    assert d2.title == "The Ambassador in Turkey (Bell) to the Secretary of State (Hull)"
    assert (d2.sender, d2.sender_role) == ("Bell", "Ambassador in Turkey")
    assert (d2.recipient, d2.recipient_role) == ("Hull", "Secretary of State")


def test_nineteenth_century_head_and_names_in_head_notes_ignored():
    by_id = docs("heads.xml")
    d3, d4 = by_id["d3"], by_id["d4"]
    assert (d3.sender, d3.recipient, d3.sender_role) == ("Edward Thornton", "Fish", None)
    assert (d4.sender, d4.recipient) == ("Embassy in Poland", "Department of State")  # not "Someone Else"
    assert d4.title == "10. Telegram From the Embassy in Poland to the Department of State"


# -- place and date ------------------------------------------------------------------------


def test_dateline_in_opener_and_1938_z_is_wall_clock():
    d = docs("dates.xml")["opener"]
    assert (d.place, d.date_text) == ("Moscow", "February 5, 1938—5 p.m.")
    assert d.date_min == d.date_max == datetime(1938, 2, 5, 17, 0)
    assert d.date_min_iso == "1938-02-05T17:00:00Z"
    assert ("dateline", "Moscow, February 5, 1938—5 p.m. [Received 5:44 p.m.]") in texts(d)


def test_dateline_directly_under_div_with_offset_and_note_left_out():
    d = docs("dates.xml")["direct"]
    assert (d.place, d.date_text) == ("Warsaw", "January 29, 1964, 5 p.m.")
    assert d.date_min == datetime(1964, 1, 29, 17, 0)  # offset kept in the iso value only
    assert d.date_min_iso == "1964-01-29T17:00:00+01:00"
    assert [(f.note_id, f.part_seq) for f in d.footnotes] == [("directfn3", 1)]


def test_dateline_in_closer():
    d = docs("dates.xml")["closer"]
    assert (d.place, d.date_text, d.date_min) == ("Washington", "August 22, 1870", datetime(1870, 8, 22))
    assert d.signature == "Fish"


@pytest.mark.parametrize(
    "doc_id, lo, hi",
    [
        ("range", datetime(1919, 1, 1), datetime(1919, 2, 28)),
        ("year", datetime(1861, 1, 1), datetime(1862, 12, 31)),
        ("fallback", datetime(1901, 5, 1), datetime(1901, 5, 1)),
        ("textdate", datetime(1872, 3, 1), datetime(1872, 3, 1)),  # text date before a footnote's
        ("maxbroken", datetime(1936, 7, 1), datetime(1936, 7, 1)),
    ],
)
def test_date_ranges(doc_id, lo, hi):
    d = docs("dates.xml")[doc_id]
    assert (d.date_min, d.date_max) == (lo, hi)


@pytest.mark.parametrize(
    "doc_id, lo, hi",
    [
        ("typo", None, None),  # no plausible date left: the printed text only
        ("textdate", datetime(1870, 10, 30), datetime(1870, 10, 30)),  # the next date
        ("badmax", datetime(1870, 3, 1), datetime(1870, 3, 1)),  # the min for both
        ("range", datetime(1870, 2, 1), datetime(1870, 2, 28)),  # @to alone
        ("edges", datetime(1750, 1, 1), datetime(2100, 12, 31)),
    ],
)
def test_implausible_years_are_ignored(doc_id, lo, hi):
    d = docs("implausible-dates.xml")[doc_id]
    assert (d.date_min, d.date_max) == (lo, hi)
    assert d.date_min_iso is None if lo is None else d.date_min_iso.startswith(f"{lo.year}-")


def test_implausible_year_keeps_place_and_printed_date():
    d = docs("implausible-dates.xml")["typo"]
    assert (d.place, d.date_text) == ("Washington", "June 5–17, 1864.")
    assert d.date_min is None and d.date_max is None and d.date_max_iso is None


@pytest.mark.slow  # corpus-wide
def test_corpus_has_no_date_before_1750(corpus, parsed_volume):
    """Eight corpus documents carry years like 0201 or 1670 in their TEI dates."""
    early = {}
    for path in sorted((corpus / "frus" / "volumes").glob("*.xml")):
        for d in parsed_volume(path).documents:
            if d.date_min is not None and not (plausible_year(d.date_min.year) and plausible_year(d.date_max.year)):
                early[d.doc_key] = d.date_min_iso
            if d.doc_key == "frus1864p3/d512":  # "June 5–17, 1864." with @when="0201-06-05"
                assert (d.date_text, d.date_min) == ("June 5–17, 1864.", None)
    assert early == {}


def test_date_not_machine_readable_keeps_text_only():
    d = docs("dates.xml")["unreadable"]
    assert (d.place, d.date_text) == ("Lima", "the 5th of February")
    assert d.date_min is None and d.date_max is None and d.date_min_iso is None


# -- lists ------------------------------------------------------------------------------------


def test_list_labels_empty_label_continuation_and_lettered_sub_items():
    d1 = docs("lists.xml")["d1"]
    items = [(p.label, p.path, p.text, p.page) for p in d1.parts if p.kind == "item"]
    assert items == [
        ("(a)", "1.(a)", "(a) Alpha one.", "11"),  # before <pb n="12"/>: on the page before
        ("(b)", "1.(b)", "(b) Alpha two.", "11"),
        ("2.", "2.", "Bravo.", "12"),
        ("(a)", "3.(a)", "(a) Charlie one.", "12"),
        ("(b)", "3.(b)", "(b) Charlie two.", "12"),
    ]
    assert d1.text.splitlines()[0] == "1. (a) Alpha one."


def test_items_made_of_paragraphs_and_sub_lists_keep_labels_order_and_notes():
    d2 = docs("lists.xml")["d2"]
    rows = [(p.kind, p.label, p.path, p.text) for p in d2.parts[1:]]
    assert rows == [
        ("item", "1.", "1.", "First paragraph of one."),
        ("paragraph", None, None, "[Editorial comment on one.]"),
        ("item", "2.", "2.", "Two opens"),
        ("item", "(a)", "2.(a)", "Two a."),
        ("item", "(b)", "2.(b)", "Two b."),
        ("item", None, None, "and two closes after the sub-list."),
        ("item", "(a)", "3.(a)", "Three a only."),
    ]
    [fn] = d2.footnotes
    assert d2.parts[fn.part_seq].text == "and two closes after the sub-list."


# -- footnotes and pages -------------------------------------------------------------------


def test_footnotes_keyed_by_xml_id_with_repeating_n_and_anchored():
    d = docs("footnotes.xml")["d83"]
    got = [(f.note_id, f.n, f.text, d.parts[f.part_seq].text, f.page) for f in d.footnotes]
    assert got == [
        ("d83fn98", "98", "On the head.", "Head with a note", "70"),
        ("d83fn99", "99", "Ninety-nine.", "First paragraph.", "70"),
        ("d83fn100", "1", "One after the wrap.", "Second paragraph has the wrapped number.", "71"),
        ("d83fn101", "1", "Another one.", "Third paragraph with a repeated n.", "71"),
    ]
    assert d.title == "Head with a note"
    assert "Ninety-nine" not in d.text and "On the head" not in d.text


def test_page_break_mid_word_and_sentence_and_pages_on_parts():
    by_id = docs("pages.xml")
    d1, d2 = by_id["d1"], by_id["d2"]
    assert [(p.kind, p.text, p.page) for p in d1.parts] == [
        ("heading", "Starts on page four", "4"),
        ("paragraph", "The Government will consider the matter.", "4"),
        ("paragraph", "On six.", "6"),
        ("attachment", "", "7"),  # the <pb n="7"/> stands between the document and its enclosure
        ("paragraph", "Enclosure on seven.", "7"),
    ]
    assert (d1.page_start, d1.page_end) == ("4", "7")
    assert (d2.page_start, d2.page_end) == ("8", "8")  # its own first <pb/>, not page 7


# -- mixed content and text conventions ----------------------------------------------------


def test_mixed_content_words_neither_glued_nor_split():
    d = docs("mixed.xml")["d1"]
    assert d.parts[1].text == (
        "Sir: I have the honor to inform you that Mr. Bancroft's note of the 5th instant was "
        "received by the Government [garble] and that he [said?] nothing."
    )


def test_smallcaps_signature_and_closer():
    d = docs("mixed.xml")["d1"]
    assert d.signature == "Hamilton Fish."
    assert d.parts[-1].kind == "signature"
    assert d.word_count == len(d.text.split())


def test_tables_quotes_salutes_postscript():
    d = docs("blocks.xml")["d1"]
    assert texts(d)[1:] == [
        ("salute", "Sir:"),
        ("paragraph", "He said “we shall see” and left."),
        ("quote", "A quoted paragraph."),
        ("heading", "Imports"),
        ("row", "Article | Value"),
        ("row", "Flour | $2.25"),
        ("salute", "I have the honor to be, sir, your obedient servant,"),
        ("signature", "John Hay."),
        ("postscript", "P. S. A postscript line."),
    ]
    [fn] = d.footnotes
    assert (fn.note_id, d.parts[fn.part_seq].text) == ("d1fn1", "Flour | $2.25")
    assert d.signature == "John Hay."


# -- security -------------------------------------------------------------------------------


def _all_text(pv) -> str:
    return " ".join([pv.volume.title or ""] + [d.text + " ".join(f.text for f in d.footnotes) for d in pv.documents])


def test_entity_declarations_are_refused_unresolved():
    """No FRUS volume declares entities: a file that does (XXE, billion laughs) is refused,
    naming the file, without resolving any."""
    with pytest.raises(VolumeError) as info:
        parse("xxe.xml")
    message = str(info.value)
    assert "xxe.xml" in message and "declares XML entities" in message and "\n" not in message
    assert "root:" not in message and "SECRET-TOKEN" not in message


def test_external_dtd_is_not_loaded():
    pv = parse("external-dtd.xml")
    assert pv.documents[0].text == "before after"
    assert "DTD-WAS-LOADED" not in _all_text(pv)


def test_xinclude_is_not_resolved():
    pv = parse("xinclude.xml")
    assert pv.documents[0].text == "before after"
    assert "SECRET-TOKEN" not in _all_text(pv)


def test_billion_laughs_does_not_blow_up():
    try:
        pv = parse("billion-laughs.xml")
    except VolumeError as exc:
        assert "billion-laughs.xml" in str(exc)
    else:
        assert len(_all_text(pv)) < 1000  # entities left unexpanded


def test_not_well_formed_raises_volume_error_with_file_and_parser_message():
    with pytest.raises(VolumeError) as info:
        parse("not-well-formed.xml")
    message = str(info.value)
    assert "not-well-formed.xml" in message
    assert "Opening and ending tag mismatch" in message  # libxml2's own words
    assert isinstance(info.value.__cause__, Exception)


# -- despatch number printed as a paragraph ------------------------------------------------


def test_leading_despatch_paragraph_sets_despatch_number_and_stays_a_part():
    by_id = docs("despatch-paragraph.xml")
    assert by_id["d1"].despatch_number == "350"
    assert ("paragraph", "No. 350.]") in texts(by_id["d1"])  # printed text: kept
    assert "1882.\nNo. 350.]\nSir: I have the honor." in by_id["d1"].text
    assert (by_id["d2"].despatch_number, by_id["d2"].file_number) == ("1027", "861.51/295")
    d3 = by_id["d3"]
    assert (d3.despatch_number, d3.classification, d3.is_extract) == ("224", "Confidential", True)
    assert by_id["d4"].despatch_number == "61"  # the source note comes first
    assert by_id["d5"].despatch_number is None  # body text and enclosures are not the despatch's number


def test_spaces_at_element_edges_are_kept_in_place_date_title_and_chapter():
    [doc] = parse("edge-spaces.xml").documents
    assert doc.place == "Legation of the United States, London"
    assert doc.date_text == "le 8 Septembre, 1870."
    assert doc.title == "Mr. Charles Adams to Mr. Seward"
    assert (doc.sender, doc.recipient) == ("Charles Adams", "Seward")
    assert doc.chapter_path == ["Great Britain"]


def test_every_item_prints_its_own_label_at_every_level():
    [doc] = parse("nested-lists.xml").documents
    items = [(p.label, p.path) for p in doc.parts if p.kind == "item"]
    assert items == [("I)", "I)"), ("A)", "I)A)"), ("B)", "I)B)"), ("1.", "I)B)1."), ("2.", "I)B)2."),
                     ("A)", "II)A)"), ("I)", "I)")]
    assert doc.text.splitlines() == [
        "I) The Western Theater.",
        "A) Belgium.",
        "B) Luxemburg.",
        "1. Lower.",
        "2. Upper.",
        "II) A) Trentino.",  # item II opens with its sub-list: both labels on the line
        "Between the lists.",
        "I) Again one.",  # a new list numbers again
    ]


def test_document_before_any_page_break_starts_on_the_page_before_the_first():
    d1, d2 = parse("first-page.xml").documents
    assert (d1.page_start, d1.page_end) == ("70", "71")  # like d83: <pb n="71"/> mid-document
    assert [p.page for p in d1.parts] == ["70", "70", "71"]
    assert [f.page for f in d1.footnotes] == ["70"]
    assert (d2.page_start, d2.page_end) == ("71", "71")
    [front] = parse("first-page-roman.xml").documents
    assert front.page_start is None  # "xi" is not inferred from "xii"
    assert [p.page for p in front.parts] == [None, None, "xii"]


def test_a_failing_document_is_a_reject_with_its_reason_and_a_logged_traceback(monkeypatch, caplog):
    """One document that raises (a fault injected into the document parser) is rejected with
    the exception's type and message at its place, on one bounded line; the rest of the volume
    is parsed. The warning is that one line; the traceback goes to debug."""
    from tasks.normalise.tei import document, volume

    real, whole = document.parse_document, docs("heads.xml")

    def failing(entry, volume_id, index):
        if index == 2:
            raise KeyError("no such thing")
        if index == 3:
            raise ValueError("two\nlines " + "x" * 500)
        return real(entry, volume_id, index)

    monkeypatch.setattr(volume, "parse_document", failing)
    with caplog.at_level("DEBUG", logger="tasks.normalise.tei.volume"):
        parsed = parse_volume(TEI_DIR / "heads.xml")
    second, third = parsed.rejects
    assert second.place.startswith(f"{parsed.volume.volume_id} document 2 (line ")
    assert second.reason == "KeyError: 'no such thing'"
    assert third.reason.startswith("ValueError: two\\nlines xxx") and len(third.reason) == 200
    assert [d.doc_id for d in parsed.documents] == [k for i, k in enumerate(whole, 1) if i not in (2, 3)]
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    debugs = [r for r in caplog.records if r.levelname == "DEBUG"]
    assert len(warnings) == 2 and not any(r.exc_info for r in warnings)
    assert "document 2" in warnings[0].getMessage() and "\n" not in warnings[1].getMessage()
    assert [r.exc_info[0] for r in debugs] == [KeyError, ValueError]
