"""Link a document's place (and its post) to gsh locales and the territory of its date: pure
functions over the authority tables (``ref_locales``, ``ref_territories``, people.sql).

A place as printed (``Legation of the United States, Peking, China``) is read segment by
segment, last first: a segment naming one locale (by name or alternate name) links it, with
its coordinates; a name two locales share (London, England or Ontario) links only when another
segment or the correspondent's post names the locale's country. The locale's present territory
is followed back through its predecessors to the one valid in the document's year.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

import duckdb

from warehouse.people_link import fold

_NOT_LETTER = re.compile(r"[^a-z]")


@lru_cache(maxsize=1 << 16)  # (places repeat: every document's is looked up)
def key(name: str) -> str:
    """A place name's form for lookups: folded, letters only (``Tien-tsin`` = ``Tientsin``)."""
    return _NOT_LETTER.sub("", fold(name))


COLUMNS = ("version_id", "doc_key", "place_id", "name", "kind", "latitude", "longitude", "method", "score")


@dataclass
class PlaceIndex:
    """Locales by folded name; territories by id and by folded short name."""

    locales: dict[str, list[tuple]]
    territories: dict[str, tuple]
    by_name: dict[str, list[str]]

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection) -> PlaceIndex:
        locales: dict[str, list[tuple]] = defaultdict(list)
        for row in con.execute("SELECT locale_id, name, territory_id, latitude, longitude, alternate_names "
                               "FROM ref_locales").fetchall():
            for name in {row[1], *row[5]}:
                locales[key(name)].append(row[:5])
        territories, by_name = {}, defaultdict(list)
        for row in con.execute("SELECT territory_id, short_name, valid_since, valid_until, predecessors "
                               "FROM ref_territories").fetchall():
            territories[row[0]] = row
            by_name[key(row[1])].append(row[0])
        return cls(dict(locales), territories, dict(by_name))

    def _segments(self, place: str | None) -> list[str]:
        return [key(s) for s in reversed((place or "").split(","))]

    def locale_of(self, place: str | None, posts: frozenset[str] = frozenset()) -> tuple | None:
        """The one locale a place names (see the module's rule; ``posts``: the present
        territories of the correspondents' posts), else None."""
        segments = self._segments(place)
        countries = {t for s in segments for t in self._present(s)} | posts
        for seg in segments:
            found = self.locales.get(seg, [])
            if len(found) > 1:
                found = [f for f in found if f[2] in countries]
            if len(found) == 1:
                return found[0]
        return None

    def territory_of(self, place: str | None) -> str | None:
        """The present territory id of the place's locale (pocom's posts use these ids)."""
        locale = self.locale_of(place)
        return locale[2] if locale else None

    def _present(self, segment: str) -> set[str]:
        return {t for t in self.by_name.get(segment, []) if self.territories[t][3] in (None, 9999)}

    def valid_in(self, territory: str | None, year: int | None) -> str | None:
        """``territory`` or its nearest predecessors valid in ``year``: one, else None (two
        valid at once, Canada East and West in 1864 for Montreal, tell nothing)."""
        level, seen = [territory] if territory else [], set()
        while level and year is not None:
            valid = {t for t in level if self._valid(t, year)}
            if valid:
                return valid.pop() if len(valid) == 1 else None
            seen.update(level)
            level = [p for t in level if t in self.territories for p in self.territories[t][4] if p not in seen]
        return None

    def _valid(self, tid: str, year: int) -> bool:
        if tid not in self.territories:
            return False
        since, until = self.territories[tid][2:4]
        return (since is None or since <= year) and (until is None or year <= until)

    def link(self, doc: dict, posts: frozenset[str] = frozenset()) -> list[tuple]:
        """The document's rows of ``place_link_rows``: its locale, the territory of its date."""
        locale = self.locale_of(doc["place"], posts)
        if locale is None:
            return []
        key, rows = (doc["version_id"], doc["doc_key"]), []
        rows.append((*key, locale[0], locale[1], "locale", locale[3], locale[4], "name", 0.9))
        year = doc["day"].year if doc["day"] else None
        tid = self.valid_in(locale[2], year)
        if tid:
            rows.append((*key, tid, self.territories[tid][1], "territory", None, None, "locale+date", 0.85))
        return rows
