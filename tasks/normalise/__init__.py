"""A fetched item → records: dispatched to its normaliser by kind (TEI volume, page text,
authority list).

Subpackages: :mod:`.tei` and :mod:`.page_text`; the rules they share are in :mod:`.common`,
source notes in :mod:`.source_note`.
"""
from __future__ import annotations

from tasks.dedupe import dedupe_keys_of
from tasks.errors import FrusError, NormaliseError, PageTextError, UnsupportedItem
from tasks.normalise.common import ParsedVolume
from tasks.normalise.page_text import parse_page_file
from tasks.normalise.reference import list_name, parse_reference
from tasks.normalise.tei import parse_volume
from tasks.records import Reject, Volume, valid_id
from tasks.sources import FetchedItem, quoted
from tasks.sources import local as local_source  # (it imports this package's limits)

__all__ = ["FrusError", "NormaliseError", "ParsedVolume", "UnsupportedItem", "normalise_item"]


def normalise_item(fetched: FetchedItem, reviewed: bool = False) -> ParsedVolume:
    """Parse a landed item into records; errors name the item's URI and the reason.

    ``reviewed``: the item comes from the reviewed repository (``tasks.lake.provenance``);
    its documents are flagged so, whatever their markup claims.

    Raises:
        FrusError: a :class:`~tasks.errors.VolumeError`, :class:`~tasks.errors.PageTextError`
            or :class:`~tasks.errors.NormaliseError` naming the item's URI.
    """
    uri, kind = fetched.item.uri, fetched.item.kind
    if kind == "tei":
        parsed = parse_volume(fetched.path, source_uri=uri)
    elif kind == "hsg-text":
        try:
            original = local_source.path_from_uri(uri) if uri.startswith("file:") else None
            doc = parse_page_file(fetched.path, name=fetched.item.name, original=original)
        except PageTextError as exc:  # "<name>: reason" → "<uri>: reason" (the source file, once)
            raise PageTextError(uri, exc.reason, exc.place) from exc
        # a page is one document, not a volume: it adds no row to `volumes`
        parsed = ParsedVolume(Volume(doc.volume_id, document_count=1), [doc], is_volume=False)
    elif kind == "reference":  # an authority list: rows, no documents
        rows = parse_reference(fetched.path, fetched.item.name, uri)
        return ParsedVolume(Volume(list_name(fetched.item.name)), [], is_volume=False, references=rows)
    else:
        raise UnsupportedItem(uri, f"no normaliser for kind {kind!r}")
    _check_ids(parsed, uri)
    keys = dedupe_keys_of([doc.text for doc in parsed.documents])
    for doc, (doc.content_hash, doc.lsh_bands) in zip(parsed.documents, keys):
        doc.reviewed = reviewed and doc.format == "tei"
    return parsed


def _check_ids(parsed: ParsedVolume, uri: str) -> None:
    """Ids enter here: a volume whose id is not a FRUS id fails whole, a document whose id is
    not one is a reject; a volume with no document left is an error, not a silent success."""
    vid = parsed.volume.volume_id
    if not valid_id(vid):
        raise NormaliseError(uri, f"volume id {quoted(vid)} is not a FRUS id "
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
        raise NormaliseError(uri, "no documents" + (f" ({len(parsed.rejects)} rejected)" if parsed.rejects else ""))
    if parsed.is_volume:
        parsed.volume.document_count = len(kept)
