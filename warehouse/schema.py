"""The Arrow schema of every lake table, derived from the model in ``tasks/records.py``.

The writer (``tasks/store.py``) and the views (``warehouse/views.sql``) both rely on these
schemas: a field added to a record becomes a column of its table.
"""
from __future__ import annotations

import dataclasses
import typing
from datetime import datetime

import pyarrow as pa

from tasks.records import Document, Footnote, Lineage, Part, Reject, Volume

_SCALARS = {str: pa.string(), int: pa.int64(), bool: pa.bool_(), float: pa.float64(),
            datetime: pa.timestamp("us")}


def _arrow_type(hint) -> pa.DataType:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin is list:
        return pa.list_(_arrow_type(args[0]))
    if args and origin is not list:  # X | None
        return _arrow_type(args[0])
    return _SCALARS[hint]


def fields_of(cls, exclude: tuple[str, ...] = ()) -> list[pa.Field]:
    """Arrow fields for a dataclass's fields, in declaration order."""
    hints = typing.get_type_hints(cls)
    return [pa.field(f.name, _arrow_type(hints[f.name])) for f in dataclasses.fields(cls)
            if f.name not in exclude]


LINEAGE = fields_of(Lineage)
_VOLUME_ID = [pa.field("volume_id", pa.string())]

SCHEMAS: dict[str, pa.Schema] = {
    "volumes": pa.schema(fields_of(Volume) + LINEAGE),
    "documents": pa.schema(fields_of(Document, exclude=("parts", "footnotes")) + LINEAGE),
    "parts": pa.schema(_VOLUME_ID + fields_of(Part) + LINEAGE),
    "footnotes": pa.schema(_VOLUME_ID + fields_of(Footnote) + LINEAGE),
    "rejects": pa.schema(_VOLUME_ID + fields_of(Reject) + fields_of(Lineage, exclude=("source_uri",))),
}
"""Tables partitioned by volume: one Parquet file per source item and table."""

RUNS = pa.schema([
    ("run_id", pa.string()), ("started_at", pa.timestamp("us", tz="UTC")),
    ("finished_at", pa.timestamp("us", tz="UTC")), ("status", pa.string()), ("source", pa.string()),
    ("items_seen", pa.int64()), ("items_new", pa.int64()), ("items_changed", pa.int64()),
    ("items_unchanged", pa.int64()), ("items_removed", pa.int64()), ("items_failed", pa.int64()),
    ("documents_added", pa.int64()), ("documents_updated", pa.int64()),
    ("documents_withdrawn", pa.int64()), ("rejects", pa.int64()), ("parser_version", pa.string()),
    ("message", pa.string()),
])
"""One row per ingest run (``message``: why it was skipped, fell back to its mirror, or failed)."""

DUPLICATES = pa.schema([
    ("cluster_id", pa.string()), ("doc_key", pa.string()), ("canonical_key", pa.string()),
    ("method", pa.string()), ("similarity", pa.float64()), ("run_id", pa.string()),
])
"""Members of duplicate clusters, one file per committed manifest."""
