"""People and places of the warehouse: the hooks warehouse/build.py calls.

- :func:`prepare` (first session): the link tables, and the authority tables and `people`
  (people.sql) when the lake's lists changed or the warehouse is built whole.
- :func:`link_new` (each batch): the links of the batch's new versions (``new_versions``,
  items.sql), so an update's cost follows the changed documents.
- :func:`relink_all` (after the batches): every version again, a batch at a time, when the
  lists changed under an existing warehouse (rare: the lists are not the corpus).
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import duckdb

from tasks.lake import duck
from warehouse import people_link as pl
from warehouse import places_link

SQL_DIR = Path(__file__).resolve().parent
# (with the linkers: a change of their rules rebuilds the warehouse, as a change of its SQL does)
SQL_FILES = ("people.sql", "people_tables.sql", "people_views.sql", "people_forget.sql", "people_link.py",
             "places_link.py")
_LISTS = (".csv",)
_DOCS = """SELECT v.version_id, v.doc_key, v.sender, v.sender_role, v.recipient, v.recipient_role,
                  v.signature, v.place, v.date_min::DATE AS day, v.title
           FROM document_versions v WHERE v.version_id IN (SELECT version_id FROM {})"""
_SEVERAL = re.compile(r",| and ")
_BODY = re.compile(r"\b(Commission|Embassy|Legation|Delegation|Council|Department|Consulate|Mission|"
                   r"Government|Committee)\b", re.I)
_COLUMNS = ("version_id", "doc_key", "person_id", "role", "name", "method", "score")
_ALIASES = {"great britain": "united-kingdom", "england": "united-kingdom", "the united kingdom": "united-kingdom",
            "the soviet union": "russia", "soviet union": "russia", "persia": "iran", "siam": "thailand",
            "the netherlands": "netherlands", "abyssinia": "ethiopia", "turkey": "turkey"}


def _script(con: duckdb.DuckDBPyConnection, name: str) -> None:
    for statement in con.extract_statements((SQL_DIR / name).read_text()):
        con.execute(statement)


def lists_changed(changed: list[tuple[str, int]]) -> bool:
    """Whether an update's changed items hold an authority list (a ``.csv`` item)."""
    return any(uri.lower().endswith(_LISTS) for uri, _ in changed)


def prepare(con: duckdb.DuckDBPyConnection, changed: list[tuple[str, int]], whole: bool) -> bool:
    """Create the link tables and views (``whole``: an update's file has them); rebuild the
    authority tables when needed. Returns True when every stored version must be linked
    again (the lists changed under links)."""
    if whole:
        _script(con, "people_tables.sql")
    rebuild = whole or lists_changed(changed)
    if rebuild:
        _script(con, "people.sql")
    if whole:
        _script(con, "people_views.sql")
    return rebuild and not whole


def link_new(con: duckdb.DuckDBPyConnection) -> None:
    """Link the versions of ``new_versions`` (the batch items.sql just read)."""
    _link(con, "new_versions")


def relink_all(con: duckdb.DuckDBPyConnection, batch: int = 20_000) -> None:
    """Link every stored version again, ``batch`` versions a statement."""
    con.execute("DELETE FROM person_link_rows")
    con.execute("DELETE FROM place_link_rows")
    top = con.execute("SELECT coalesce(max(version_id), 0) FROM document_versions").fetchone()[0]
    for start in range(0, top + 1, batch):
        con.execute("CREATE OR REPLACE TEMP TABLE relink AS SELECT version_id FROM document_versions "
                    "WHERE version_id BETWEEN ? AND ?", [start, start + batch - 1])
        _link(con, "relink")


def _link(con: duckdb.DuckDBPyConnection, versions: str) -> None:
    docs = con.execute(_DOCS.format(versions)).fetchall()
    if not docs:
        return
    index, secretaries, by_id = _people_index(con)
    places = places_link.PlaceIndex.load(con)
    people_rows, place_rows = [], []
    for row in docs:
        doc = dict(zip(("version_id", "doc_key", "sender", "sender_role", "recipient", "recipient_role",
                        "signature", "place", "day", "title"), row))
        posts = _posts(doc, places)
        found = _doc_people(doc, index, secretaries, posts)
        people_rows.extend(found)
        place_rows.extend(places.link(doc, _role_posts(doc) | _sender_posts(found, by_id, doc["day"])))
    duck.temp_table(con, "new_person_links", _arrow(people_rows, _COLUMNS))
    con.execute("INSERT INTO person_link_rows BY NAME SELECT * FROM new_person_links")
    duck.temp_table(con, "new_place_links", _arrow(place_rows, places_link.COLUMNS))
    con.execute("INSERT INTO place_link_rows BY NAME SELECT * FROM new_place_links")


def _arrow(rows: list[tuple], columns: tuple[str, ...]):
    import pyarrow as pa

    return pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns)},
                    schema=pa.schema([(c, pa.float64() if c in ("score", "latitude", "longitude")
                                       else pa.int32() if c == "version_id" else pa.string())
                                      for c in columns]))


def _people_index(con: duckdb.DuckDBPyConnection):
    """Persons of pocom by folded surname, with their positions; the Secretaries' terms."""
    people: dict[str, pl.Person] = {}
    for pid, surname, forename, genname, birth, death, career in con.execute(
            "SELECT pocom_id, surname, forename, genname, birth_year, death_year, career FROM ref_pocom_people"
    ).fetchall():
        given = tuple(pl.fold(t).rstrip(".") for t in (forename or "").replace(".", ". ").split())
        people[pid] = pl.Person(pid, pl.fold(surname), tuple(g for g in given if g), genname,
                                birth=birth, death=death, career=career)
    secretaries = []
    for pid, kind, post, role, start, end in con.execute(
            "SELECT pocom_id, kind, post, role, start, coalesce(\"end\", start + INTERVAL (?) DAY)::DATE "
            "FROM ref_positions WHERE start IS NOT NULL", [pl.OPEN_ENDED.days]).fetchall():
        if pid in people:
            people[pid].positions.append((kind, post, role, start, end))
            if post == pl.SECRETARY:
                secretaries.append((pid, start, end))
    index: dict[str, list[pl.Person]] = defaultdict(list)
    for person in people.values():
        index[person.surname.split()[-1] if person.surname else ""].append(person)
    return index, secretaries, people


def _post_of(role: str | None) -> str | None:
    """The post a role names, as pocom's ids (``Ambassador in Great Britain`` → united-kingdom)."""
    for sep in (" in ", " at ", " to "):
        if role and sep in role:
            where = pl.fold(role.rsplit(sep, 1)[1]).strip()
            return _ALIASES.get(where, where.removeprefix("the ").replace(" ", "-"))
    return None


def _role_posts(doc: dict) -> frozenset[str]:
    return frozenset(p for p in (_post_of(doc["sender_role"]), _post_of(doc["recipient_role"])) if p)


def _sender_posts(found: list[tuple], by_id: dict[str, pl.Person], day) -> frozenset[str]:
    """The posts the linked sender held as chief of mission at the date (where he wrote from)."""
    people = [by_id[r[2]] for r in found if r[3] == "sender" and r[2] in by_id] if day else []
    return frozenset(x[1] for p in people for x in pl.held_at(p, day) if x[0] == "mission")


def _posts(doc: dict, places: places_link.PlaceIndex) -> frozenset[str]:
    """Posts a document's correspondents may hold: the countries of its roles and place."""
    posts = set(_role_posts(doc))
    territory = places.territory_of(doc["place"])
    if territory:
        posts.add(territory)
    return frozenset(posts)


def _doc_people(doc: dict, index, secretaries, posts) -> list[tuple]:
    rows = []
    signature = pl.parse_name(doc["signature"])
    for role in ("sender", "recipient"):
        printed, office = doc[role], doc[f"{role}_role"]
        is_office = printed is not None and printed == office
        secretary = is_office and pl.fold(office) == "secretary of state"
        # several names ("Lansing, Bliss, White, House") are no one person
        name = pl.parse_name(printed) if not is_office and not _SEVERAL.search(printed or "") else None
        if printed and f"President {printed}" in (doc["title"] or ""):
            name = None  # a President (Wilson in 1919) is in no list of posts: not a namesake at one
        if (role == "sender" and signature and not secretary and not (is_office and _BODY.search(office))
                and (is_office or (name and name.surname == signature.surname))):
            # the signature names the sender: an acting secretary, a minister; not a body
            # (a Commission's telegram signed by Lansing), nor the Secretary's signed for him
            name, printed = signature, doc["signature"] if is_office else printed
        ev = pl.Evidence(printed, office, doc["day"], posts, doc["signature"] if role == "sender" else None,
                         _post_of(office))
        hit = None
        if name is not None:
            hit = pl.choose(pl.candidates(index, name), ev)
        elif secretary:
            holder = pl.office_holder(secretaries, doc["day"])
            hit = (holder, "office+date", 0.8) if holder else None
        if hit:
            person = hit[0] if isinstance(hit[0], str) else hit[0].person_id
            rows.append((doc["version_id"], doc["doc_key"], person, role, doc[role], hit[1], hit[2]))
    if signature and not any(f"President {n}" in (doc["title"] or "") for n in (doc["sender"], doc["signature"]) if n):
        ev = pl.Evidence(doc["signature"], doc["sender_role"], doc["day"], posts, doc["signature"],
                         _post_of(doc["sender_role"]))
        hit = pl.choose(pl.candidates(index, signature), ev)
        if hit:
            rows.append((doc["version_id"], doc["doc_key"], hit[0].person_id, "signer", doc["signature"],
                         hit[1], hit[2]))
    return rows
