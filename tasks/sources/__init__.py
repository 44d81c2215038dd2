"""Sources of TEI volumes and page texts: one module per kind, chosen by the source URI.

The contract every source honours (the ingest flow relies on nothing else):

- ``open_source(uri, data_root, volumes=None) -> Source``
- ``Source.scan() -> list[SourceItem]``: every item the source offers now (after
  the ``volumes`` selection), with a cheap ``version`` (git blob id, ETag/Last-Modified,
  size+mtime) that changes when the content changes.
- ``Source.fetch(item) -> FetchedItem``: the item's bytes landed in ``DATA/raw`` (named by
  sha256, written once) and their hash.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(slots=True, frozen=True)
class SourceItem:
    """One item a source offers: a TEI volume file or a page text."""

    name: str  # path of the item inside the source, e.g. "volumes/frus1861.xml"
    uri: str  # stable URI for lineage: file:///…, https://…, git+…#path
    version: str  # cheap change token
    kind: str = "tei"  # tei | hsg-text


@dataclass(slots=True, frozen=True)
class FetchedItem:
    """An item whose bytes are in the landing zone."""

    item: SourceItem
    path: Path  # DATA/raw/<sha256[:2]>/<sha256>
    sha256: str
    size: int
