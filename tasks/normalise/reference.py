"""An authority list (a CSV of the reference folder: pocom, hsg people, gsh) → its rows.

The lists are read as the volumes are: a source item (``reference/pocom_people.csv``) landed,
parsed here into :class:`~tasks.records.ReferenceRow` records (the row as JSON), staged and
committed to the lake's ``reference_rows`` table. The warehouse types them (``people.sql``).
A file is refused whole, naming it and the reason, when it is not UTF-8, names no known list,
lacks a column, has a row of another width, or an empty or repeated id.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path, PurePosixPath

from tasks.errors import AuthorityListError
from tasks.records import ReferenceRow

# list name (the file's stem) → (its id column, unique, or None, the columns the warehouse reads);
# pocom repeats a few appointment ids (bz-1983-barn-01): those lists have none
LISTS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "pocom_people": ("person_id", ("person_id", "surname", "forename", "genname", "altname",
                                   "birth", "death", "career_type")),
    "pocom_chiefs_of_mission": (None, ("appointment_id", "person_id", "role_title",
                                   "contemporary_territory_id", "started", "ended")),
    "pocom_principal_officers": (None, ("position_id", "position_title", "appointment_id",
                                    "person_id", "started", "ended")),
    "hsg_people": ("person_id", ("person_id", "preferred_name", "all_names", "birth_year",
                                 "death_year", "frus_volumes")),
    "gsh_territories": ("territory_id", ("territory_id", "short_name", "long_name", "type",
                                         "valid_since", "valid_until")),
    "gsh_locales": ("locale_id", ("locale_id", "name", "current_territory", "latitude", "longitude",
                                  "alternate_names")),
}


def list_name(name: str) -> str:
    """The list an item holds: its file stem (``reference/hsg_people.csv`` → ``hsg_people``)."""
    return PurePosixPath(name).stem


def parse_reference(path: Path, name: str, uri: str) -> list[ReferenceRow]:
    """The rows of the authority list at ``path`` (the item ``name``, lineage ``uri``).

    Raises:
        AuthorityListError: naming ``uri`` and the reason (the line, for a bad row).
    """
    which = list_name(name)
    if which not in LISTS:
        raise AuthorityListError(uri, f"not a known authority list ({', '.join(sorted(LISTS))})")
    key, needed = LISTS[which]
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AuthorityListError(uri, f"not UTF-8 (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if not header:
            raise AuthorityListError(uri, "empty: no header line")
        missing = [c for c in needed if c not in header]
        if missing:
            raise AuthorityListError(uri, f"missing column(s) {', '.join(missing)}", "line 1")
        rows, seen = [], set()
        for cells in reader:
            line = reader.line_num
            if len(cells) != len(header):
                raise AuthorityListError(uri, f"{len(cells)} fields, the header has {len(header)}",
                                         f"line {line}")
            record = dict(zip(header, cells))
            if key is not None:
                ident = record[key]
                if not ident or ident in seen:
                    raise AuthorityListError(uri, f"{'empty' if not ident else 'repeated'} {key} "
                                             f"{ident!r}", f"line {line}")
                seen.add(ident)
            rows.append(ReferenceRow(len(rows) + 1, json.dumps(record, ensure_ascii=False)))
    except csv.Error as exc:
        raise AuthorityListError(uri, f"not CSV: {exc}", f"line {reader.line_num}") from None
    if not rows:
        raise AuthorityListError(uri, "no rows")
    return rows
