"""The Arrow schema of every lake table, derived from the model in ``tasks/records.py``.

The lake creates its DuckLake tables from these schemas, and the warehouse derives its own
from the lake's (``warehouse/tables.sql``: ``lake_items`` is ``lake.items``): a field added
to a record becomes a column of its table.
"""
from __future__ import annotations

import dataclasses
import typing
from datetime import datetime

import pyarrow as pa

from tasks.records import (NOT_STORED, Document, DuplicateLink, DuplicateRow, Failure, Footnote, ItemEntry, Lineage, Part, ReferenceRow,
                           Reject, RunReport, Volume)

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
    """Arrow fields for a dataclass's or named tuple's fields, in declaration order."""
    hints = typing.get_type_hints(cls)
    names = cls._fields if hasattr(cls, "_fields") else [f.name for f in dataclasses.fields(cls)]
    return [pa.field(name, _arrow_type(hints[name])) for name in names if name not in exclude]


LINEAGE = fields_of(Lineage)
_VOLUME_ID = [pa.field("volume_id", pa.string())]

SCHEMAS: dict[str, pa.Schema] = {
    "volumes": pa.schema(fields_of(Volume) + LINEAGE),
    "documents": pa.schema(fields_of(Document, exclude=("parts", "footnotes")) + LINEAGE),
    "parts": pa.schema(_VOLUME_ID + fields_of(Part) + LINEAGE),
    "footnotes": pa.schema(_VOLUME_ID + fields_of(Footnote) + LINEAGE),
    "rejects": pa.schema(_VOLUME_ID + fields_of(Reject) + fields_of(Lineage, exclude=("source_uri",))),
    "reference_rows": pa.schema(_VOLUME_ID + fields_of(ReferenceRow) + LINEAGE),
}
"""Tables partitioned by volume: one Parquet file per source item and table."""

_UTC = pa.timestamp("us", tz="UTC")
RUNS = pa.schema([pa.field(f.name, _UTC) if f.type == pa.timestamp("us") else f
                  for f in fields_of(RunReport, exclude=NOT_STORED)])
"""One row per ingest run (``message``: why it was skipped, fell back to its mirror, or failed)."""

ITEMS = pa.schema(fields_of(ItemEntry))
"""One row per source item: its version, hash, the run that stored it, its withdrawal."""

FAILURES = pa.schema(fields_of(Failure))
"""Source items that could not be read, until they are (or leave their source)."""

_RUN_ID = [pa.field("run_id", pa.string())]
LINKS = pa.schema(fields_of(DuplicateLink) + _RUN_ID)
"""Verified duplicate links between two documents (doc_a < doc_b): what clusters are made of."""

DUPLICATES = pa.schema(fields_of(DuplicateRow) + _RUN_ID)
"""Members of duplicate clusters, as of the last commit."""

LAKE_TABLES: dict[str, pa.Schema] = {**SCHEMAS, "items": ITEMS, "failures": FAILURES, "runs": RUNS,
                                     "duplicates": DUPLICATES, "links": LINKS}
"""Every DuckLake table of the lake."""
