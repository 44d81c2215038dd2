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
        for table, rows in _tables(volume, documents, rejects, lineage, is_volume, references).items():
            pq.write_table(pa.Table.from_pylist(rows, SCHEMAS[table]), tmp / f"{table}.parquet",
                           compression="zstd")
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
            is_volume: bool, references: list[ReferenceRow]) -> dict[str, list[dict]]:
    lin = asdict(lineage)
    vid = volume.volume_id
    docs, parts, footnotes = [], [], []
    for doc in documents:
        row = {k: getattr(doc, k) for k in SCHEMAS["documents"].names if k not in lin}
        docs.append({**row, **lin})
        parts.extend({"volume_id": vid, **asdict(p), **lin} for p in doc.parts)
        footnotes.extend({"volume_id": vid, **asdict(f), **lin} for f in doc.footnotes)
    return {
        "volumes": [{**asdict(volume), **lin}] if is_volume else [],
        "documents": docs,
        "parts": parts,
        "footnotes": footnotes,
        "rejects": [{"volume_id": vid, **asdict(r), **lin} for r in rejects],  # the item's URI
        "reference_rows": [{"volume_id": vid, **asdict(r), **lin} for r in references],
    }
