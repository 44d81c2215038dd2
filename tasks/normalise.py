"""Dispatch a fetched item to its normaliser by kind (TEI volume, page text)."""
from __future__ import annotations

from tasks.dedupe import dedupe_keys
from tasks.hsg_text import parse_page_file
from tasks.records import Volume
from tasks.sources import FetchedItem
from tasks.sources.local import path_from_uri
from tasks.tei import ParsedVolume, parse_volume


class UnsupportedItem(Exception):
    """An item of a kind no normaliser reads."""


class NormaliseError(Exception):
    """An item could not be normalised; the message names the item and the reason. Plain,
    so it crosses process boundaries (lxml's errors do not pickle)."""


def normalise_item(fetched: FetchedItem) -> ParsedVolume:
    """Parse a landed item into records; errors name the item's URI and the reason."""
    kind = fetched.item.kind
    if kind == "tei":
        parsed = parse_volume(fetched.path, source_uri=fetched.item.uri)
    elif kind == "hsg-text":
        try:
            original = path_from_uri(fetched.item.uri) if fetched.item.uri.startswith("file:") else None
            doc = parse_page_file(fetched.path, name=fetched.item.name, original=original)
        except ValueError as exc:
            raise ValueError(f"{fetched.item.uri}: {exc}") from exc
        # a page is one document, not a volume: it adds no row to `volumes`
        parsed = ParsedVolume(Volume(doc.volume_id, document_count=1), [doc], is_volume=False)
    else:
        raise UnsupportedItem(f"{fetched.item.uri}: no normaliser for kind {kind!r}")
    for doc in parsed.documents:
        doc.content_hash, doc.lsh_bands = dedupe_keys(doc.text)
    return parsed
