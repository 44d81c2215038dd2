"""Link a document's correspondents (sender, recipient, signer) to `people`: pure functions.

Evidence, in this order: the name as printed (surname, then given names or initials, Jr./Sr.),
the signature (it completes a sender's name), the document's date (a position held then: chief
of mission at a post, principal officer), and the post (the correspondent's role or the place
written from). A name the evidence cannot tell apart stays unlinked: an unlinked name is
better than a wrong one. Offices without a name link only where one person held the office at
the date ("Secretary of State"); an acting secretary known only by his office stays unlinked.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

# How far a position's dates stretch: pocom's rows end when relations broke or a successor was
# named, while the official often still signed (David R. Francis's Russia row ends 1917-11-07;
# he cabled from Vologda and Archangel until late 1918). Open-ended rows end after OPEN_ENDED.
BEFORE = timedelta(days=120)
AFTER = timedelta(days=500)
OPEN_ENDED = timedelta(days=6 * 365)
CAREER_AHEAD = timedelta(days=10 * 365)
SECRETARY = "secretary"  # pocom's position id of the Secretary of State
_SUFFIX = {"jr": "Jr.", "junior": "Jr.", "sr": "Sr.", "senior": "Sr.", "2d": "II", "ii": "II", "iii": "III"}
_ADDRESS = {"mr", "mrs", "sir", "señor", "senor", "dr", "hon", "honorable", "general", "gen", "col",
            "colonel", "admiral", "judge", "the", "m", "baron", "count", "signor", "herr"}
_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*\.?", re.UNICODE)


@lru_cache(maxsize=1 << 16)  # (names, places and roles repeat: a build folds each a few times a document)
def fold(text: str) -> str:
    """Lower case, accents and apostrophes off: the form names are compared in."""
    if not text:
        return ""
    if not text.isascii():  # (NFKD leaves ASCII as it is, and it has no combining marks)
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text.casefold().replace("’", "").replace("'", "")


@dataclass(frozen=True, slots=True)
class Name:
    """A name as printed, split: given names or initials, surname tokens, generation."""

    given: tuple[str, ...]
    surname: tuple[str, ...]
    generation: str | None = None


@lru_cache(maxsize=1 << 16)  # (a Name is frozen: one for every document that prints it)
def parse_name(printed: str | None) -> Name | None:
    """``'FRED’K T. FRELINGHUYSEN.'`` → Name(('fredk', 't'), ('frelinghuysen',)); None when no
    surname is left (an office, a bracket only)."""
    if not printed:
        return None
    head = re.split(r",(?!\s*(?:jr|sr|junior|senior)\b)", printed.strip("[] "), maxsplit=1, flags=re.I)[0]
    tokens = [fold(t).rstrip(".") for t in _TOKEN.findall(head)]
    generation = None
    while tokens and tokens[-1] in _SUFFIX:
        generation = _SUFFIX[tokens.pop()]
    while tokens and tokens[0] in _ADDRESS and len(tokens) > 1:
        tokens.pop(0)
    if not tokens or len(tokens[-1]) < 2:
        return None
    return Name(tuple(tokens[:-1]), (tokens[-1],), generation)


@dataclass(slots=True)
class Person:
    """What the linker knows of a person: surname, given names, generation, positions."""

    person_id: str
    surname: str
    given: tuple[str, ...]
    generation: str | None
    positions: list[tuple[str, str | None, str, date, date]] = field(default_factory=list)
    # (kind: mission | office, post: territory or position id, role, start, end)
    birth: int | None = None
    death: int | None = None
    career: bool = False  # a Foreign Service career officer (pocom's career_type 'career')


def given_matches(printed: tuple[str, ...], forenames: tuple[str, ...]) -> bool:
    """Printed given names or initials match a person's forenames in order, any skipped
    (``Joseph H.`` ~ Joseph Hodges; ``Wm.`` ~ William; ``Fred'k`` ~ Frederick)."""
    i = 0
    for token in printed:
        while i < len(forenames) and not _abbreviates(token, forenames[i]):
            i += 1
        if i == len(forenames):
            return False
        i += 1
    return True


def _abbreviates(token: str, name: str) -> bool:
    if not token or token[0] != name[0]:
        return False
    rest = iter(name[1:])
    return all(c in rest for c in token[1:])


def held_at(person: Person, when: date) -> list[tuple[str, str | None, str, date, date]]:
    """The positions ``person`` held around ``when`` (the margins above)."""
    return [p for p in person.positions if p[3] - BEFORE <= when <= p[4] + AFTER]


@dataclass(frozen=True, slots=True)
class Evidence:
    """One correspondent of a document: name as printed, office, date, post, acting or not."""

    printed: str | None
    office: str | None
    when: date | None
    posts: frozenset[str] = frozenset()
    signature: str | None = None
    own_post: str | None = None  # the post the correspondent's own role names (Chargé in Honduras)


def candidates(index: dict[str, list[Person]], name: Name) -> list[Person]:
    """People of ``index`` (by folded surname) whose names the printed name fits."""
    found = []
    for person in index.get(name.surname[-1], ()):
        if name.generation and person.generation != name.generation:
            continue
        if given_matches(name.given, person.given):
            found.append(person)
    return found


def choose(found: list[Person], ev: Evidence) -> tuple[Person, str, float] | None:
    """The one person the evidence points to, with the method and a score; None if none or
    several remain."""
    if ev.when is None:
        return None
    acting = "acting" in fold(ev.office or "") or "acting" in fold(ev.signature or "")
    dated = []
    for person in found:
        held = held_at(person, ev.when)
        if acting:  # an acting secretary is not the Secretary of that date
            held = [p for p in held if p[1] != SECRETARY]
        if held:
            dated.append((person, held))
    if not dated:
        return _rising(found, ev)
    if ev.own_post:  # a chief of mission elsewhere at the date is not the one named here
        dated = [(p, h) for p, h in dated
                 if any(x[0] != "mission" or x[1] == ev.own_post for x in h)] or []
        if not dated:
            return None
    if len(dated) == 1:
        person, held = dated[0]
        posted = any(p[1] in ev.posts for p in held)
        return person, "name+date+post" if posted else "name+date", 1.0 if posted else 0.9
    posted = [(p, h) for p, h in dated if any(x[1] in ev.posts for x in h)]
    if len(posted) == 1:
        return posted[0][0], "name+date+post", 0.95
    secretaries = [(p, h) for p, h in dated if any(x[1] == SECRETARY for x in h)]
    if len(secretaries) == 1 and not acting and not ev.posts - {SECRETARY}:
        return secretaries[0][0], "name+date+office", 0.85
    return None


def _rising(found: list[Person], ev: Evidence) -> tuple[Person, str, float] | None:
    """A U.S. officer below pocom's ranks (a chargé, a consul: ``Chargé in the Soviet Union``)
    is the one career officer of that name, of age then, whose first listed post came within
    CAREER_AHEAD of the document (Loy W. Henderson, chargé in Moscow 1938, minister 1943)."""
    if not ev.office or not re.search(r" (in|at) ", ev.office) or "acting" in fold(ev.office):
        return None
    year = ev.when.year
    rising = [p for p in found if p.career and p.positions and p.birth and p.birth + 22 <= year
              and (p.death is None or p.death >= year)
              and ev.when < min(x[3] for x in p.positions) <= ev.when + CAREER_AHEAD]
    return (rising[0], "name+career", 0.7) if len(rising) == 1 else None


def office_holder(holders: list[tuple[str, date, date]], when: date | None) -> str | None:
    """The one person who held an office at ``when`` (exact dates: no margin), else None."""
    if when is None:
        return None
    at = {pid for pid, start, end in holders if start <= when <= end}
    return at.pop() if len(at) == 1 else None
