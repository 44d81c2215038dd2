"""TEI and page text name the same people: every corpus document rendered as its page text and
parsed back has the sender and recipient the TEI gave it."""
from __future__ import annotations

from pathlib import Path

import pytest

from tasks.normalise.page_text import parse_page_text
from tests.normalise.render import as_page_text


@pytest.mark.slow  # corpus-wide
def test_round_trip_keeps_sender_and_recipient(volumes_dir: Path, parsed_volume):
    same, differ, refused = 0, [], 0
    for path in sorted(volumes_dir.glob("*.xml")):
        for doc in parsed_volume(path).documents:
            try:
                page = parse_page_text(as_page_text(doc), name=doc.doc_key)
            except ValueError:
                refused += 1
                continue
            if (page.sender, page.recipient) == (doc.sender, doc.recipient):
                same += 1
            else:
                differ.append((doc.doc_key, doc.title, doc.sender, page.sender, doc.recipient, page.recipient))
    assert same + len(differ) > 7000 and refused < 40
    assert same >= 0.99 * (same + len(differ)), differ[:20]
