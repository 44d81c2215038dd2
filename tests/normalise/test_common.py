"""The rules both normalisers share (tasks.normalise.common) and the error kinds."""
from __future__ import annotations

import pickle

import pytest

from tasks.errors import FrusError, NormaliseError, PageTextError, VolumeError
from tasks.normalise.common import (
    canonical_url,
    correspondents,
    despatch_paragraph,
    page_before,
    person,
    plausible_year,
    unspace_parens,
)


@pytest.mark.parametrize(
    "title, expected",
    [
        ("Mr. Seward to Mr. Dayton", ("Seward", None, "Dayton", None)),
        ("No. 5. Earl Granville to Sir E. Thornton.", ("Granville", None, "E. Thornton", None)),
        ("Mr. Black (Secretary of State) to all the ministers of the United States.",
         ("Black", "Secretary of State", "ministers of the United States", "ministers of the United States")),
        ("Mr. Martin, consul at Nanking, to Mr. Rockhill.", ("Martin", "consul at Nanking", "Rockhill", None)),
        ("The Commission to Negotiate Peace to the Acting Secretary of State",
         ("Commission to Negotiate Peace", "Commission to Negotiate Peace",
          "Acting Secretary of State", "Acting Secretary of State")),
        ("The Ambassador in Japan (Morris), temporarily at Vladivostok, to the Secretary of State",
         ("Morris", "Ambassador in Japan", "Secretary of State", "Secretary of State")),
        ("Memorandum by the Chief of the Division of Near Eastern Affairs (Murray) to the Secretary of State",
         ("Murray", "Chief of the Division of Near Eastern Affairs", "Secretary of State", "Secretary of State")),
        ("[332] *Mr. John Slidell to Mr. J. P. Benjamin.", ("John Slidell", None, "J. P. Benjamin", None)),
        ("Commandant Givertoss to Mr. Chase", ("Givertoss", None, "Chase", None)),
        ("Mr. Seward to Mr. Schurz, with accompaniments.", ("Seward", None, "Schurz", None)),
        ("Memorandum in response to Mr. Wu’s communication, September 17, 1900.", (None, None, None, None)),
        ("No. 22. Mr. Stewart to Earl Granville.—(Received August 31.)", ("Stewart", None, "Granville", None)),
        ("Earl of Clarendon to Lord Lyons, G. C. B.", ("Earl of Clarendon", None, "Lyons, G. C. B", None)),
        ("Mr. Hay to Señor del Viso, Chargé d’Affaires", ("Hay", None, "del Viso", "Chargé d’Affaires")),
        ("The Russian Financial Delegate (Novitsky) to Mr. Miles of the Division of Near Eastern Affairs",
         ("Novitsky", "Russian Financial Delegate", "Miles", "Division of Near Eastern Affairs")),
        ("Messrs. Hecht, Held and Kayser to Mr. E. B. Washburne.", ("Hecht, Held and Kayser", None, "E. B. Washburne", None)),
        ("Editorial Note", (None, None, None, None)),
    ],
)
def test_correspondents(title, expected):
    got = correspondents(title)
    assert (got["sender"], got["sender_role"], got["recipient"], got["recipient_role"]) == expected


def test_person_drops_forms_of_address_only():
    assert person("Mr. E. B. Washburne") == "E. B. Washburne"
    assert person("M. Drouyn de l’Huys") == "Drouyn de l’Huys"
    assert person("Baron Gerolt.") == "Gerolt"
    assert person("Duke de Soulé") == "Duke de Soulé"


def test_plausible_years():
    assert plausible_year(1750) and plausible_year(2100) and plausible_year(1938)
    assert not plausible_year(1670) and not plausible_year(201) and not plausible_year(2101)


def test_pages_urls_and_spacing():
    assert page_before("71") == "70"
    assert page_before("1") is None and page_before("xii") is None and page_before(None) is None
    assert page_before("²") is None  # a digit that is not a decimal number
    assert canonical_url("frus1938v03", "d83") == "https://history.state.gov/historicaldocuments/frus1938v03/d83"
    assert unspace_parens("The Ambassador in Turkey ( Bell ) to ( Hull)") == "The Ambassador in Turkey (Bell) to (Hull)"


def test_despatch_paragraph_after_editorial_lines():
    assert despatch_paragraph(["[For inclosure, see No. 12.]", "No. 350.]", "Sir: …"])["despatch_number"] == "350"
    assert despatch_paragraph(["Sir: I have the honor", "No. 350.]"]) == {}
    assert despatch_paragraph([None, "No. 350.]"]) == {}  # a list before it: not the first paragraph


def test_errors_name_the_file_and_place_and_pickle():
    error = VolumeError("file:///v.xml", "not well-formed XML: boom", "line 3")
    assert str(error) == "file:///v.xml: line 3: not well-formed XML: boom"
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.file, copy.place, copy.reason) == (VolumeError, "file:///v.xml", "line 3",
                                                                "not well-formed XML: boom")
    whole = NormaliseError("file:///v.xml: no documents")  # as the flow re-raises a worker's message
    assert (whole.file, whole.reason, str(whole)) == ("file:///v.xml", "no documents", "file:///v.xml: no documents")
    assert isinstance(PageTextError("p.txt", "empty page text"), (FrusError, ValueError))
