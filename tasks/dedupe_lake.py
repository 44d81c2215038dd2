"""Run deduplication over the documents a manifest holds (the store's side of dedupe.py)."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.dedupe import DedupeDoc, find_duplicates
from tasks.store import ItemEntry, Lake
from warehouse.schema import DUPLICATES

_COLUMNS = ["doc_key", "format", "reviewed", "text", "file_number", "date_min", "sender", "recipient"]


def cluster_items(lake: Lake, items: dict[str, ItemEntry], run_id: str, **options) -> pa.Table:
    """Duplicate clusters over the current (not withdrawn) documents of ``items``.

    Versions of one ``doc_key`` rank by their item's ingest time (newest wins); ``options``
    go to :func:`tasks.dedupe.find_duplicates` (threshold, min_words, …).
    """
    docs: list[DedupeDoc] = []
    live = sorted((e for e in items.values() if not e.withdrawn_run and "documents" in e.files),
                  key=lambda e: e.ingested_at)
    for rank, entry in enumerate(live):
        table = pq.read_table(lake.root / entry.files["documents"], columns=_COLUMNS)
        for row in table.to_pylist():
            docs.append(DedupeDoc(row["doc_key"], row["format"], bool(row["reviewed"]), row["text"] or "",
                                  row["file_number"], row["date_min"], row["sender"], rank,
                                  row["recipient"]))
    rows = [dict(r._asdict(), run_id=run_id) for r in find_duplicates(docs, **options)]
    return pa.Table.from_pylist(rows, DUPLICATES)
