"""Dispatch a fetched item to its normaliser by kind (TEI volume, page text)."""
from __future__ import annotations

from tasks.dedupe import dedupe_keys
from tasks.hsg_text import parse_page_file
from tasks.records import Reject, Volume, valid_id
from tasks.sources import FetchedItem, quoted
from tasks.sources.local import path_from_uri
from tasks.tei import ParsedVolume, parse_volume


class UnsupportedItem(Exception):
    """An item of a kind no normaliser reads."""


class NormaliseError(Exception):
    """An item could not be normalised; the message names the item and the reason. Plain,
    so it crosses process boundaries (lxml's errors do not pickle)."""


def normalise_item(fetched: FetchedItem, reviewed: bool = False) -> ParsedVolume:
    """Parse a landed item into records; errors name the item's URI and the reason.

    ``reviewed``: the item comes from the reviewed repository (``tasks.lake.provenance``);
    its documents are flagged so, whatever their markup claims.
    """
    kind = fetched.item.kind
    if kind == "tei":
        parsed = parse_volume(fetched.path, source_uri=fetched.item.uri)
    elif kind == "hsg-text":
        try:
            original = path_from_uri(fetched.item.uri) if fetched.item.uri.startswith("file:") else None
            doc = parse_page_file(fetched.path, name=fetched.item.name, original=original)
        except ValueError as exc:  # "<name>: reason" → "<uri>: reason" (the source file, once)
            reason = str(exc).removeprefix(f"{fetched.item.name}: ")
            raise ValueError(f"{fetched.item.uri}: {reason}") from exc
        # a page is one document, not a volume: it adds no row to `volumes`
        parsed = ParsedVolume(Volume(doc.volume_id, document_count=1), [doc], is_volume=False)
    else:
        raise UnsupportedItem(f"{fetched.item.uri}: no normaliser for kind {kind!r}")
    _check_ids(parsed, fetched.item.uri)
    for doc in parsed.documents:
        doc.reviewed = reviewed and doc.format == "tei"
        doc.content_hash, doc.lsh_bands = dedupe_keys(doc.text)
    return parsed


def _check_ids(parsed: ParsedVolume, uri: str) -> None:
    """Ids enter here: a volume whose id is not a FRUS id fails whole, a document whose id is
    not one is a reject; a volume with no document left is an error, not a silent success."""
    vid = parsed.volume.volume_id
    if not valid_id(vid):
        raise ValueError(f"{uri}: volume id {quoted(vid)} is not a FRUS id "
                         "(letters, digits, '-', '_', '.', not first, at most 64 characters)")
    kept = []
    for doc in parsed.documents:  # (lxml has refused repeated xml:ids already)
        if valid_id(doc.doc_id) and doc.volume_id == vid:
            kept.append(doc)
        else:
            parsed.rejects.append(Reject(uri, f"{vid} document {quoted(doc.doc_id)}",
                                         "document id is not a FRUS id: not stored"))
    parsed.documents[:] = kept
    if not kept:
        raise ValueError(f"{uri}: no documents" + (f" ({len(parsed.rejects)} rejected)" if parsed.rejects else ""))
    if parsed.is_volume:
        parsed.volume.document_count = len(kept)

