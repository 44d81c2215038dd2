"""Authority lists: the real lists parse whole; a bad file is refused naming it and the reason."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.errors import AuthorityListError
from tasks.normalise.reference import LISTS, parse_reference


@pytest.mark.parametrize("name", sorted(LISTS))
def test_real_lists_parse(corpus: Path, name: str):
    path = corpus / "reference" / f"{name}.csv"
    rows = parse_reference(path, f"reference/{name}.csv", path.as_uri())
    with path.open(encoding="utf-8") as f:
        assert len(rows) <= sum(1 for _ in f) - 1  # (cells may span lines)
    assert rows[0].row == 1 and rows[-1].row == len(rows)
    if name == "pocom_people":
        people = {json.loads(r.record)["person_id"]: json.loads(r.record) for r in rows}
        assert people["henderson-loy-wesley"]["altname"] == "Loy W. Henderson"
        assert len(people) == 4261


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / f"{name}.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


GOOD_HEADER = "locale_id,name,current_territory,latitude,longitude,alternate_names\n"


@pytest.mark.parametrize("name, text, reason", [
    ("places", GOOD_HEADER + "x,X,y,1,2,\n", "not a known authority list"),
    ("gsh_locales", "locale_id,name\nx,X\n", "missing column(s) current_territory"),
    ("gsh_locales", GOOD_HEADER + "x,X,y,1,2\n", "line 2: 5 fields, the header has 6"),
    ("gsh_locales", GOOD_HEADER + "x,X,y,1,2,\nx,Z,y,1,2,\n", "line 3: repeated locale_id 'x'"),
    ("gsh_locales", GOOD_HEADER + ",X,y,1,2,\n", "line 2: empty locale_id"),
    ("gsh_locales", GOOD_HEADER.encode() + b"x,\xff,y,1,2,\n", "not UTF-8"),
    ("gsh_locales", GOOD_HEADER, "no rows"),
    ("gsh_locales", "", "empty: no header line"),
])
def test_bad_list_refused(tmp_path: Path, name: str, text, reason: str):
    path = _write(tmp_path, name, text)
    with pytest.raises(AuthorityListError) as err:
        parse_reference(path, f"reference/{name}.csv", path.as_uri())
    assert str(err.value).startswith(path.as_uri() + ": ")
    assert reason in str(err.value)
