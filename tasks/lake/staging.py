"""Staging: a parsed volume's rows as Parquet files, written by a worker, taken by the commit.

Layout: ``DATA/lake/staging/<sha256[:16]>-<uri hash>-p<parser>/<table>.parquet``. A worker
(a process of the task runner, possibly on another machine sharing the data root) writes
one folder per source item: the files go into a temporary folder that is renamed into place
once complete, so a folder that exists is whole. The name is the content, the source URI and
the parser version: a run resumed after a kill finds what it had staged and parses nothing
again. The commit inserts the rows into the lake's tables in its one transaction; staged
folders are removed after the commit.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import asdict
from operator import attrgetter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.landing import TMP_PREFIX, inside
from tasks.records import Document, Lineage, ReferenceRow, Reject, Volume
from tasks.lake.schema import SCHEMAS

STAGING = "lake/staging"
ITEM_TABLES = tuple(SCHEMAS)  # the tables whose rows belong to one source item (by source_uri)


def staged_dir(data_root: Path, lineage: Lineage) -> Path:
    """The staging folder of one item's rows under ``lineage``."""
    uri_tag = hashlib.sha256(lineage.source_uri.encode()).hexdigest()[:8]
    return inside(data_root, STAGING, f"{lineage.source_sha256[:16]}-{uri_tag}-p{lineage.parser_version}")


def stage_volume(data_root: Path, volume: Volume, documents: list[Document], rejects: list[Reject],
                 lineage: Lineage, is_volume: bool = True, references: list[ReferenceRow] = ()) -> Path:
    """Write one item's rows (volume, documents, parts, footnotes, rejects, an authority
    list's rows) as Parquet; returns the folder. An existing folder (a resumed run) is kept as it is."""
    final = staged_dir(data_root, lineage)
    if final.is_dir():
        return final
    tmp = final.with_name(f"{TMP_PREFIX}{final.name}.{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for table, columns in _tables(volume, documents, rejects, lineage, is_volume, references).items():
            # (lz4: a staged file is read once, by the commit; zstd took twice the time to write)
            pq.write_table(pa.Table.from_pydict(columns, SCHEMAS[table]), tmp / f"{table}.parquet",
                           compression="lz4")
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def clear(data_root: Path, keep: set[Path] = frozenset()) -> None:
    """Remove staged folders (after a commit took them, or a killed run's temporaries)."""
    root = inside(data_root, STAGING)
    for path in root.iterdir() if root.is_dir() else ():
        if path not in keep:
            shutil.rmtree(path, ignore_errors=True)


def _tables(volume: Volume, documents: list[Document], rejects: list[Reject], lineage: Lineage,
            is_volume: bool, references: list[ReferenceRow]) -> dict[str, dict[str, list]]:
    """Each table's columns (built a column at a time: no dict per row)."""
    lin = asdict(lineage)
    parts = [p for doc in documents for p in doc.parts]
    footnotes = [f for doc in documents for f in doc.footnotes]
    rows = {"volumes": [volume] if is_volume else [], "documents": documents, "parts": parts,
            "footnotes": footnotes, "rejects": rejects, "reference_rows": list(references)}
    return {table: _columns(records, SCHEMAS[table].names, lin, volume.volume_id)
            for table, records in rows.items()}


def _columns(records: list, names: list[str], lineage: dict, volume_id: str) -> dict[str, list]:
    """Columns ``names`` of ``records``: the item's lineage (a reject's URI too), else the
    record's own field, else (``volume_id`` of a part, footnote, reject) the item's volume."""
    n = len(records)
    cols = {}
    for name in names:
        if name in lineage:
            cols[name] = [lineage[name]] * n
        elif records and hasattr(records[0], name):
            get = attrgetter(name)
            cols[name] = [get(r) for r in records]
        else:
            cols[name] = [volume_id] * n
    return cols
