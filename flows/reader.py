"""One document to read (``frus show``): metadata, parts with footnotes in place, citation,
sources and duplicates, from the warehouse's tables by version id (a few row groups each)."""
from __future__ import annotations

import textwrap

META = ("doc_key", "version_id", "volume_id", "doc_id", "doc_number", "title", "date_text", "date_min",
        "place", "sender", "sender_role", "recipient", "recipient_role", "doc_type", "file_number",
        "classification", "archive_citation", "source_notes", "chapter_path", "page_start", "page_end",
        "url", "format", "signature")


def load(con, doc_key: str) -> dict:
    """The document ``doc_key`` (or the canonical one a duplicate is folded into) as a dict.

    Raises:
        KeyError: (its message names the key) no document has that key.
    """
    key = con.execute("SELECT coalesce((SELECT canonical_key FROM duplicates WHERE doc_key = $k), $k)",
                      {"k": doc_key}).fetchone()[0]
    row = con.execute(f"SELECT {', '.join(META)} FROM document_versions WHERE doc_key = $k AND shown",
                      {"k": key}).fetchone()
    if row is None:
        raise KeyError(f"no document {doc_key!r} in the warehouse (keys look like frus1938v03/d83)")
    doc = dict(zip(META, row))
    doc["asked_for"] = doc_key
    vid = doc.pop("version_id")
    doc["volume_title"] = con.execute("SELECT title FROM volumes WHERE volume_id = $v",
                                      {"v": doc["volume_id"]}).fetchone()
    doc["volume_title"] = doc["volume_title"] and doc["volume_title"][0]
    doc["parts"] = _rows(con, "SELECT seq, kind, label, path, text, page, attachment FROM part_rows "
                              "WHERE version_id = $v ORDER BY seq", {"v": vid})
    doc["footnotes"] = _rows(con, "SELECT note_id, n, text, part_seq FROM footnote_rows "
                                  "WHERE version_id = $v ORDER BY part_seq NULLS LAST, note_id", {"v": vid})
    doc["sources"] = _rows(con, "SELECT source_doc_key, source_uri, format, method, similarity, run_id "
                                "FROM document_sources WHERE doc_key = $k ORDER BY method <> 'self', "
                                "source_uri", {"k": key})
    doc["duplicates"] = _rows(con, "SELECT doc_key, method, similarity FROM duplicates "
                                   "WHERE canonical_key = $k AND doc_key <> $k ORDER BY doc_key", {"k": key})
    doc["citation"] = citation(doc)
    return doc


def _rows(con, sql: str, params: dict) -> list[dict]:
    cur = con.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def citation(doc: dict) -> str:
    """``Foreign Relations of the United States, <volume>, Document 83, p. 57, <URL>``."""
    pages = doc["page_start"] and (f"p. {doc['page_start']}" if doc["page_end"] in (None, doc["page_start"])
                                   else f"pp. {doc['page_start']}–{doc['page_end']}")
    bits = [f"FRUS {doc['volume_id']}" + (f" ({doc['volume_title']})" if doc["volume_title"] else ""),
            doc["doc_number"] and f"Document {doc['doc_number']}", pages, doc["url"]]
    return ", ".join(b for b in bits if b)


def render(doc: dict) -> str:
    """The document as text: a header, the parts (items labelled, footnotes after the part that
    holds their marker), then citation, sources and duplicates."""
    out = [doc["doc_key"] + ("" if doc["asked_for"] == doc["doc_key"]
                             else f"  (canonical document of {doc['asked_for']})")]
    for label, key in (("Title", "title"), ("Date", "date_text"), ("Place", "place"),
                       ("From", "sender"), ("To", "recipient"), ("Type", "doc_type"),
                       ("File", "file_number"), ("Classification", "classification")):
        if doc.get(key):
            out.append(f"{label + ':':<16}{' '.join(str(doc[key]).split())}")
    out.append("")
    notes: dict[int | None, list[dict]] = {}
    for note in doc["footnotes"]:
        notes.setdefault(note["part_seq"], []).append(note)
    for part in doc["parts"]:
        out.append(_part(part))
        out.extend(_note(n) for n in notes.pop(part["seq"], []))
    for rest in notes.values():  # markers outside any part (a heading's note)
        out.extend(_note(n) for n in rest)
    out += ["", f"Citation: {doc['citation']}", f"Sources ({len(doc['sources'])}):"]
    out += [f"  {s['method']:<12} {s['format']:<9} {s['source_doc_key']}  {s['source_uri']}" for s in doc["sources"]]
    out.append(f"Duplicates ({len(doc['duplicates'])}):")
    out += [f"  {d['doc_key']}  {d['method']}" + (f" {d['similarity']:.2f}" if d["similarity"] else "")
            for d in doc["duplicates"]]
    return "\n".join(out)


def _part(part: dict) -> str:
    text = " ".join(part["text"].split())
    label = part["label"] if part["kind"] == "item" and part["label"] else None
    if label and not text.startswith(label):
        text = f"{label} {text}"
    if label and part["path"] and part["path"] != label:  # (a) of item 1: "1.(a)"
        text = part["path"] + text[len(label):]
    indent = "    " if part["kind"] in ("item", "quote") else ""
    if part["kind"] == "heading":
        return text.upper() if len(text) < 80 else text
    return textwrap.fill(text, width=96, initial_indent=indent, subsequent_indent=indent + "   ") or indent


def _note(note: dict) -> str:
    return textwrap.fill(" ".join(note["text"].split()), width=96, initial_indent=f"      [{note['n'] or '*'}] ",
                         subsequent_indent="          ")
