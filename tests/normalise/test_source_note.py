"""Source notes: file number, document type, despatch number, flags, archive, classification."""
from __future__ import annotations

import pytest

from tasks.normalise.source_note import FIELDS, merge_source_notes, parse_source_note


def fields(text: str) -> dict:
    """Only the fields the note sets (non-empty, non-False)."""
    return {k: v for k, v in parse_source_note(text).items() if v}


def test_always_returns_every_field():
    for text in ["", "793.94/12357: Telegram", "Source: X. Secret.", "AMERICA."]:
        assert tuple(parse_source_note(text)) == FIELDS


@pytest.mark.parametrize(
    "text, expected",
    [
        ("793.94/12357: Telegram", {"file_number": "793.94/12357", "doc_type": "Telegram"}),
        ("763.72119/2590: Telegram", {"file_number": "763.72119/2590", "doc_type": "Telegram"}),
        ("No. 378.]", {"despatch_number": "378"}),
        ("No. 1.", {"despatch_number": "1"}),
        ("*No. 4.", {"despatch_number": "4"}),
        ("No. 108½.]", {"despatch_number": "108½"}),
        ("No. IV.", {"despatch_number": "IV"}),
        ("[No. 68.]", {"despatch_number": "68"}),
        ("File No. 861.51/131", {"file_number": "861.51/131"}),
        ("File No. 812.00/17321a", {"file_number": "812.00/17321a"}),
        ("[Telegram]", {"doc_type": "Telegram"}),
        ("[Telegram.]", {"doc_type": "Telegram"}),
        ("[Translation.]", {"is_translation": True}),
        ("(Translation.)", {"is_translation": True}),
        ("[Extract.]", {"is_extract": True}),
        ("[Extracts]", {"is_extract": True}),
        ("Paris Peace Conf. 185.001/9", {"file_number": "Paris Peace Conf. 185.001/9"}),
        (
            "Paris Peace Conf. 185.1 Polk, Frank L.: Telegram",
            {"file_number": "Paris Peace Conf. 185.1 Polk, Frank L.", "doc_type": "Telegram"},
        ),
        ("[Telegram.—Paraphrase.]", {"doc_type": "Telegram", "is_paraphrase": True}),
        ("[Telegram—Extract]", {"doc_type": "Telegram", "is_extract": True}),
        ("[Circular.—Translation.]", {"doc_type": "Circular", "is_translation": True}),
        (
            "763.72119 P 43/906: Telegram",
            {"file_number": "763.72119 P 43/906", "doc_type": "Telegram"},
        ),
        ("Woodrow Wilson Papers", {"archive_citation": "Woodrow Wilson Papers"}),
        (
            "Edward M. House Papers: Telegram",
            {"archive_citation": "Edward M. House Papers", "doc_type": "Telegram"},
        ),
        (
            "883.0513/137: Telegram (part air)",
            {"file_number": "883.0513/137", "doc_type": "Telegram"},
        ),
        ("893.01 Provisional/41", {"file_number": "893.01 Provisional/41"}),
        (
            "123 Bacon, Leonard Lee: Telegram",
            {"file_number": "123 Bacon, Leonard Lee", "doc_type": "Telegram"},
        ),
        ("[Confidential.]", {"classification": "Confidential"}),
        ("[Inclosure 1 in No. 378.]", {}),  # the despatch number is the covering despatch's
        ("[Inclosure 2 in No. 12.—Translation.]", {"is_translation": True}),
        ("AMERICA.", {}),  # vendor volumes misuse the element; nothing is invented
        ("Inquiry Document No. 893", {"archive_citation": "Inquiry Document No. 893"}),
        ("Paris Peace Conf. 184.1–Helms, Birch", {"file_number": "Paris Peace Conf. 184.1–Helms, Birch"}),
        ("Paris peace Conf. 184.44/1", {"file_number": "Paris peace Conf. 184.44/1"}),  # as printed
        ("No. 302.|", {"despatch_number": "302"}),  # "]" misprinted as "|"
        ("[By cable telegram.]", {"doc_type": "Cablegram"}),
        ("[By cable.]", {"doc_type": "Cablegram"}),
        ("[Private and confidential.]", {"classification": "Confidential"}),
        ("[Strictly confidential.]", {"classification": "Confidential"}),
        ("", {}),
    ],
)
def test_shapes(text, expected):
    assert fields(text) == expected


def test_modern_source_note():
    text = (
        "Source: Department of State, Central Files, POL CHICOM-US. Confidential; Priority; "
        "Limit Distribution. Repeated to Taipei, Hong Kong, Stockholm, Moscow, and Geneva."
    )
    assert fields(text) == {
        "archive_citation": "Department of State, Central Files, POL CHICOM-US",
        "classification": "Confidential",
    }


@pytest.mark.parametrize(
    "text, citation, classification",
    [
        (
            "Source: National Archives, RG 59, Central Files 1964–66, POL 1 CHICOM–US. Secret. "
            "Drafted by Jones.",
            "National Archives, RG 59, Central Files 1964–66, POL 1 CHICOM–US",
            "Secret",
        ),
        (
            "Source: Johnson Library, National Security File, Secret Memos, Vol. I. Top Secret; "
            "Eyes Only.",
            "Johnson Library, National Security File, Secret Memos, Vol. I",
            "Top Secret",
        ),
        (
            "Source: Department of State, Central Files, POL 27 VIET S. No classification marking.",
            "Department of State, Central Files, POL 27 VIET S",
            "No classification marking",
        ),
        (
            "Source: Department of State, S/S Files: Lot 72 D 316. Limited Official Use.",
            "Department of State, S/S Files: Lot 72 D 316",
            "Limited Official Use",
        ),
        (
            "Source: Department of State, Central Files, POL 1 US. Drafted by Smith.",
            "Department of State, Central Files, POL 1 US",
            None,
        ),
        (
            "Source: Johnson Library, Vol. II. Drafted by Smith.",
            "Johnson Library, Vol. II",
            None,
        ),
    ],
)
def test_modern_citation_and_classification(text, citation, classification):
    got = parse_source_note(text)
    assert got["archive_citation"] == citation
    assert got["classification"] == classification


def test_white_space_from_markup_is_collapsed():
    got = parse_source_note("  793.94/12357:\n   Telegram ")
    assert got["file_number"] == "793.94/12357"
    assert got["doc_type"] == "Telegram"


def test_merge_two_notes_of_one_document():
    got = merge_source_notes(["File No. 861.51/131", "[Telegram]"])
    assert got["file_number"] == "861.51/131"
    assert got["doc_type"] == "Telegram"
    got = merge_source_notes(["No. 12.]", "[Translation.]"])
    assert got["despatch_number"] == "12" and got["is_translation"] is True


def test_bracketed_despatch_number_wins_over_a_bare_serial_number():
    # frus1870/d146 prints "No. 91." (its place in the correspondence) then "No. 302.|"
    assert merge_source_notes(["No. 91.", "No. 302.|"])["despatch_number"] == "302"
    assert merge_source_notes(["No. 18.]", "No. 1."])["despatch_number"] == "18"
    assert merge_source_notes(["No. 1.", "[Telegram]"])["despatch_number"] == "1"
