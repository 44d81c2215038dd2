"""``frus search`` and ``frus show``: ranked search with filters and facets, one document to read.

Both run parameterised SQL (the macros ``search``, ``search_hits`` and ``phrase_search`` of
warehouse/views.sql) on the read-only connection of ``warehouse.readonly``.
"""
from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from datetime import date

HIT_KEYS = ("doc_key", "volume_id", "date_min", "doc_type", "title", "sender", "recipient", "url",
            "score", "hits", "note_hits", "snippet")
FACETS = {"year": "CAST(year(date_min) AS VARCHAR)", "volume": "volume_id", "sender": "sender",
          "type": "doc_type"}
# --person and --place: the doc_keys of the people branch's views, by id or by name
PERSON_KEYS = ("(SELECT list(DISTINCT dp.doc_key) FROM document_people dp JOIN people p USING (person_id) "
               "WHERE p.person_id = $person OR p.pocom_id = $person OR p.hsg_id = $person "
               "OR lower(p.name) = lower($person) OR list_contains(list_transform(p.variants, v -> lower(v)), "
               "lower($person)))")
PLACE_KEYS = ("(SELECT list(DISTINCT doc_key) FROM document_places "
              "WHERE place_id = $place OR lower(name) = lower($place))")


def register(sub, command) -> None:
    """Add ``search`` and ``show`` to the ``frus`` subcommands (``command`` as in flows.cli)."""
    from flows.cli_shared import positive as _positive

    c = command("search", cmd_search, "Documents ranked by BM25 for a query (or holding an exact phrase).")
    c.add_argument("query")
    c.add_argument("--phrase", action="store_true",
                   help="exact phrase, case-insensitive, ordered by date (title, text and footnotes)")
    c.add_argument("--notes", action="store_true", help=argparse.SUPPRESS)  # (footnotes always count)
    add_filters(c)
    c.add_argument("--facets", action="store_true", help="also count the hits by year, volume, sender, type")
    c.add_argument("--limit", type=_positive, default=20, help="at most this many hits (default: 20)")
    c.add_argument("--format", choices=["table", "json", "csv"], default="table")
    c = command("show", cmd_show, "Read one document: metadata, text with items and footnotes, citation, "
                "sources, duplicates.")
    c.add_argument("doc_key", help="volume_id/doc_id, e.g. frus1938v03/d83")
    c.add_argument("--format", choices=["text", "json"], default="text")


def add_filters(c: argparse.ArgumentParser) -> None:
    c.add_argument("--from", dest="date_from", type=_date, help="on or after this date (YYYY[-MM[-DD]])")
    c.add_argument("--to", dest="date_to", type=_date_to,
                   help="on or before this date (YYYY[-MM[-DD]]: the end of that year or month)")
    c.add_argument("--volume", help="a volume id (frus1938v03)")
    c.add_argument("--type", dest="doc_type", help="a document type (telegram, despatch…)")
    c.add_argument("--person", help="a person id (pocom or hsg) or name: sender, recipient or signer")
    c.add_argument("--place", help="a place id or name")


@contextmanager
def connection(data: str):
    """The read-only connection of ``frus sql`` on the warehouse of ``data``."""
    from warehouse import db

    with db.readonly_connection(data) as con:
        yield con


def hits_sql(args, top: int | None) -> tuple[str, dict]:
    """The macro call of a search (``search`` or ``phrase_search``) and its named parameters."""
    params = {"q": args.query, "date_from": args.date_from, "date_to": args.date_to,
              "volume": args.volume, "doc_type": args.doc_type}
    keys = []
    if args.person:
        params["person"] = args.person
        keys.append(PERSON_KEYS)
    if args.place:
        params["place"] = args.place
        keys.append(PLACE_KEYS)
    keys_sql = "NULL" if not keys else keys[0] if len(keys) == 1 else f"list_intersect({keys[0]}, {keys[1]})"
    filters = (f"date_from := $date_from::DATE, date_to := $date_to::DATE, volume := $volume, "
               f"doc_type := $doc_type, keys := {keys_sql}")
    if args.phrase:
        return f"FROM phrase_search($q, {filters})", params
    params["top"] = top
    return f"FROM search($q, {filters}, top := $top::BIGINT)", params


def cmd_search(args) -> int:
    if not args.query.strip():
        raise ValueError("search for what? the phrase is empty")
    macro, params = hits_sql(args, args.limit)
    with connection(args.data) as con:
        cur = con.execute(f"SELECT {', '.join(HIT_KEYS)} {macro} LIMIT {int(args.limit)}", params)
        hits = [dict(zip(HIT_KEYS, r)) for r in cur.fetchall()]
        facets = _facets(con, args) if args.facets else None
    if args.format == "json":
        out = {"query": args.query, "mode": "phrase" if args.phrase else "bm25", "hits": hits, "facets": facets}
        json.dump(out, sys.stdout, indent=1, ensure_ascii=False, default=_iso)
        print()
    elif args.format == "csv":
        import csv

        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(HIT_KEYS)
        w.writerows([[_iso(h[k]) if isinstance(h[k], date) else h[k] for k in HIT_KEYS] for h in hits])
    else:
        print(render_hits(hits))
        if facets:
            print(render_facets(facets))
    return 0


def _facets(con, args) -> dict[str, list[dict]]:
    """Counts of every hit (not only those shown) by year, volume, sender and type."""
    if args.phrase:
        macro, params = hits_sql(args, None)
    else:  # search_hits: the same documents as search, without snippets
        macro, params = hits_sql(args, None)
        macro = macro.replace("FROM search(", "FROM search_hits(").replace(", top := $top::BIGINT", "")
        params.pop("top")
    unions = " UNION ALL ".join(
        f"(SELECT '{name}' AS facet, {expr} AS value, count(*) AS n FROM hits GROUP BY ALL "
        f"ORDER BY n DESC, value NULLS LAST LIMIT 15)" for name, expr in FACETS.items())
    rows = con.execute(f"WITH hits AS MATERIALIZED (SELECT * {macro}) {unions}", params).fetchall()
    out: dict[str, list[dict]] = {name: [] for name in FACETS}
    for facet, value, n in rows:
        out[facet].append({"value": value, "count": n})
    return out


def render_hits(hits: list[dict]) -> str:
    """Hits as blocks: rank, key, date, score; sender → recipient; title; URL (whole); snippet."""
    lines = []
    for i, h in enumerate(hits, 1):
        score = f"  score {h['score']:.2f}" if h["score"] is not None else ""
        notes = f"  ({h['note_hits']} in notes)" if h["note_hits"] else ""
        lines.append(f"{i:>3}. {h['doc_key']}  {_iso(h['date_min']) or 'undated'}{score}{notes}")
        lines.append(f"     {h['sender'] or '?'} -> {h['recipient'] or '?'}"
                     + (f"  [{h['doc_type']}]" if h["doc_type"] else ""))
        if h["title"]:
            lines.append(f"     {' '.join(h['title'].split())}")
        lines.append(f"     {h['url'] or '(no URL: page text)'}")
        if h["snippet"]:
            lines.append(f"     … {h['snippet']} …")
    lines.append(f"({len(hits)} hits)")
    return "\n".join(lines)


def render_facets(facets: dict[str, list[dict]]) -> str:
    lines = []
    for name, values in facets.items():
        lines.append(f"by {name}: " + ", ".join(f"{v['value'] if v['value'] is not None else '(none)'} "
                                               f"{v['count']}" for v in values))
    return "\n".join(lines)


def cmd_show(args) -> int:
    from flows import reader

    with connection(args.data) as con:
        doc = reader.load(con, args.doc_key)
    if args.format == "json":
        json.dump(doc, sys.stdout, indent=1, ensure_ascii=False, default=_iso)
        print()
    else:
        print(reader.render(doc))
    return 0


def _iso(v):
    return v.isoformat() if isinstance(v, date) else v


def _date(value: str) -> str:
    """YYYY, YYYY-MM or YYYY-MM-DD → an ISO date (the first day of a year or month)."""
    parts = value.split("-")
    try:
        full = date(int(parts[0]), int(parts[1]) if len(parts) > 1 else 1, int(parts[2]) if len(parts) > 2 else 1)
    except (ValueError, IndexError) as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY[-MM[-DD]]): {value!r}") from exc
    return full.isoformat()


def _date_to(value: str) -> str:
    """The last day of YYYY, YYYY-MM, or YYYY-MM-DD itself."""
    start = date.fromisoformat(_date(value))
    n = len(value.split("-"))
    if n == 1:
        return date(start.year, 12, 31).isoformat()
    if n == 2:
        nxt = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
        return date.fromordinal(nxt.toordinal() - 1).isoformat()
    return start.isoformat()
