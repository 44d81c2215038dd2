"""Provenance: which source item owns a volume id, and which documents count as reviewed.

Both come from where an item was read, never from what the file says about itself: any file
can write ``xml:id="frus1894Nicaragua"`` or the markup of a reviewed volume.

- A TEI volume id belongs to the first current source item that brought it. Another item
  claiming it is a version of that volume only when it comes from the same source, or from
  that source's mirror (``--mirror``: a copy ingested in its place). Any other claimant is
  refused with a reason naming the holder, and stays out of the lake until the holder is
  withdrawn from its source. Page texts are not volumes: they share their volume's id by
  design, and rank below TEI.
- Documents are ``reviewed`` when their item comes from the Office of the Historian's reviewed
  repository (HistoryAtState/frus, the ``git`` source); everything else, the not-yet-reviewed
  vendor files and local copies included, is not.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from tasks.records import ItemEntry
from tasks.sources import kind_of
from tasks.sources.uri import UPSTREAM, same_source


def is_reviewed_source(source: str | None) -> bool:
    """Whether items read from ``source`` come from the reviewed repository (``git``, however
    it is spelled: ``tasks.sources.uri``)."""
    return bool(source) and same_source(source, UPSTREAM)


def claim_conflict(entry: ItemEntry, holders: Iterable[ItemEntry], sources: set[str | None]) -> str | None:
    """Why ``entry`` (a staged item) may not take its volume id, or None when it may.

    ``holders`` are the items the lake (and this run, so far) holds; ``sources`` the sources
    whose items are versions of one another in this run (its source and its mirror).
    """
    if kind_of(entry.name or "") != "tei":
        return None
    for held in holders:
        if (held.volume_id == entry.volume_id and held.uri != entry.uri and not held.withdrawn_run
                and kind_of(held.name or "") == "tei"
                and not any(same_source(held.source, s) for s in sources)):
            return (f"volume id {entry.volume_id} is already held by {held.uri} (from {held.source}): "
                    "not stored")
    return None


def volume_holders(items: Mapping[str, ItemEntry]) -> dict[str, list[ItemEntry]]:
    """The current TEI items of ``items`` by volume id."""
    out: dict[str, list[ItemEntry]] = {}
    for e in items.values():
        if not e.withdrawn_run and kind_of(e.name or "") == "tei":
            out.setdefault(e.volume_id, []).append(e)
    return out
