"""Dispatch a fetched item to its normaliser by kind (TEI volume, page text)."""
from __future__ import annotations

from tasks.sources import FetchedItem
from tasks.tei import ParsedVolume, parse_volume


class UnsupportedItem(Exception):
    """An item of a kind no normaliser reads."""


def normalise_item(fetched: FetchedItem) -> ParsedVolume:
    """Parse a landed item into records; errors name the item's URI and the reason."""
    if fetched.item.kind == "tei":
        return parse_volume(fetched.path, source_uri=fetched.item.uri)
    raise UnsupportedItem(f"{fetched.item.uri}: no normaliser for kind {fetched.item.kind!r}")
