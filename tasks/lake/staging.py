"""Staging: a parsed volume's rows as Parquet files, written by a worker, taken by the commit.

Layout: ``<root>/<sha256[:16]>-<uri hash>-p<parser>/<table>.parquet``, the root being
``DATA/lake/staging`` or, for a lake on object storage, ``<lake data>/_staging`` in the same
store (:meth:`tasks.lake.catalog.Lake.staging_root`): then a worker on another machine needs
the store only, no file system shared with the flow. A worker writes one folder per source
item, and a folder is whole once complete: locally its files go into a temporary folder
renamed into place; in a store, where each object appears whole but a folder has no rename,
a ``_complete`` object is written last. The name is the content, the source URI and the parser
version: a run resumed after a kill finds what it had staged and parses nothing again. The
commit takes the rows into the lake's tables in its one transaction (a lake in a folder: the
files themselves, linked and registered; :meth:`LakeWrites.commit`); staged folders are
removed after the commit.
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

from tasks.landing import TMP_PREFIX
from tasks.records import Document, Lineage, ReferenceRow, Reject, Volume
from tasks.lake import store
from tasks.lake.schema import SCHEMAS

STAGING = "lake/staging"
ITEM_TABLES = tuple(SCHEMAS)  # the tables whose rows belong to one source item (by source_uri)
COMPLETE = "_complete"  # in a store: written after an item's files
# zstd at DuckLake's level (3): a lake in a folder keeps the staged files of its big tables as
# its data files (the commit registers them). Half as dear again to write as lz4, whose files
# were 60 % larger (the corpus: 0.38 s and 16.0 MB a copy, against 0.26 s and 25.9 MB).
WRITE_OPTIONS = {"compression": "zstd", "compression_level": 3}


def staged_dir(root: str | Path, lineage: Lineage) -> str:
    """The staging folder (a path or a store URL) of one item's rows under ``lineage``."""
    uri_tag = hashlib.sha256(lineage.source_uri.encode()).hexdigest()[:8]
    return store.join(str(root), f"{lineage.source_sha256[:16]}-{uri_tag}-p{lineage.parser_version}")


def file(folder: str, table: str) -> str:
    """The staged file of ``table`` in ``folder``."""
    return store.join(folder, f"{table}.parquet")


def stage_volume(root: str | Path, volume: Volume, documents: list[Document], rejects: list[Reject],
                 lineage: Lineage, is_volume: bool = True, references: list[ReferenceRow] = ()) -> str:
    """Write one item's rows (volume, documents, parts, footnotes, rejects, an authority
    list's rows) as Parquet under ``root``; returns the folder. An existing whole folder (a
    resumed run) is kept as it is."""
    final = staged_dir(root, lineage)
    if store.is_remote(final):
        return _stage_in_store(final, volume, documents, rejects, lineage, is_volume, references)
    final_path = Path(final)
    if final_path.is_dir():
        return final
    tmp = final_path.with_name(f"{TMP_PREFIX}{final_path.name}.{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for table, rows in _tables(volume, documents, rejects, lineage, is_volume, references).items():
            pq.write_table(rows, tmp / f"{table}.parquet", **WRITE_OPTIONS)
        os.replace(tmp, final_path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _stage_in_store(final: str, volume: Volume, documents: list[Document], rejects: list[Reject],
                    lineage: Lineage, is_volume: bool, references: list[ReferenceRow]) -> str:
    from pyarrow import fs as pafs

    fs, base = store.filesystem(), store.fs_path(final)
    names = [COMPLETE, *(f"{t}.parquet" for t in ITEM_TABLES)]
    if all(i.type == pafs.FileType.File for i in fs.get_file_info([f"{base}/{n}" for n in names])):
        return final  # (all of them: the lake's orphan sweep may have taken a day-old file)
    for table, rows in _tables(volume, documents, rejects, lineage, is_volume, references).items():
        pq.write_table(rows, f"{base}/{table}.parquet", filesystem=fs, **WRITE_OPTIONS)
    with fs.open_output_stream(f"{base}/{COMPLETE}") as out:
        out.write(b"")
    return final


def local_copy(folder: str, into: Path, tables: tuple[str, ...]) -> str:
    """``folder`` itself if local, else a copy of its ``tables``' files under ``into`` (one
    download each, for a phase that reads them many times)."""
    if not store.is_remote(folder):
        return folder
    from pyarrow import fs as pafs

    target = into / folder.rstrip("/").rsplit("/", 1)[1]
    target.mkdir(parents=True, exist_ok=True)
    for table in tables:
        pafs.copy_files(store.fs_path(file(folder, table)), str(target / f"{table}.parquet"),
                        source_filesystem=store.filesystem(), destination_filesystem=pafs.LocalFileSystem())
    return str(target)


def clear(root: str | Path) -> None:
    """Remove every staged folder under ``root`` (after a commit took them; a killed run's
    temporaries too). Call it holding the lake's lock: no other run is staging there."""
    if store.is_remote(root):
        from pyarrow import fs as pafs

        fs, path = store.filesystem(), store.fs_path(str(root))
        if fs.get_file_info(path).type != pafs.FileType.NotFound:
            fs.delete_dir(path)
        return
    root = Path(root)
    for path in root.iterdir() if root.is_dir() else ():
        shutil.rmtree(path, ignore_errors=True)


def _tables(volume: Volume, documents: list[Document], rejects: list[Reject], lineage: Lineage,
            is_volume: bool, references: list[ReferenceRow]) -> dict[str, pa.Table]:
    """Each table's rows (built a column at a time: no dict per row)."""
    lin = asdict(lineage)
    parts = [p for doc in documents for p in doc.parts]
    footnotes = [f for doc in documents for f in doc.footnotes]
    rows = {"volumes": [volume] if is_volume else [], "documents": documents, "parts": parts,
            "footnotes": footnotes, "rejects": rejects, "reference_rows": list(references)}
    return {table: pa.Table.from_pydict(_columns(records, SCHEMAS[table].names, lin, volume.volume_id),
                                        SCHEMAS[table]) for table, records in rows.items()}


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
