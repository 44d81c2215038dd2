"""The lake: zstd Parquet, hive-partitioned by volume, behind an atomically swapped manifest.

Layout under the data root::

    lake/<table>/volume_id=<id>/<sha256[:16]>-<uri>-p<parser>.parquet   data files (immutable)
    lake/runs/<run_id>.parquet                                   one row per run (every run)
    lake/_manifest.json                                          the committed state

The manifest lists, per source item, the data files that hold it. A run writes its files
first (each through a temporary name and a rename), then commits by replacing the manifest
in one rename: a reader of the manifest never sees half a run, and a run killed at any
point leaves the previous manifest in force. Data files are named by the content hash of
their source, a hash of the source's URI and the parser version, so a re-run after a kill
finds the files it already wrote and reuses them; files no manifest references are removed
after the commit.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.landing import TMP_PREFIX, atomic_write_bytes, inside
from tasks.records import PARSER_VERSION, Lineage
from tasks.sources import volume_id
from tasks.tei import ParsedVolume
from warehouse.schema import RUNS, SCHEMAS

MANIFEST = "_manifest.json"


def _write_table(root: Path, path: Path, table: pa.Table) -> None:
    """Write ``table`` as zstd Parquet to ``path`` atomically (the landing zone's protocol)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    atomic_write_bytes(root, path, sink.getvalue().to_pybytes())


@dataclass
class ItemEntry:
    """What the manifest knows of one source item."""

    uri: str
    volume_id: str
    sha256: str
    version: str
    parser_version: str
    run_id: str
    ingested_at: str
    documents: int
    files: dict[str, str] = field(default_factory=dict)  # table -> path relative to the lake
    source: str | None = None  # the source URI the item was read from
    name: str | None = None  # the item's name inside its source (volumes/frus1861.xml)
    rejects: int = 0
    withdrawn_run: str | None = None


@dataclass
class Failure:
    """A source item the last run that offered it could not read (its reject row is ``file``).

    Kept until the item is read, or its source stops offering it: never one row per retry.
    """

    uri: str
    name: str
    source: str | None
    version: str
    reason: str
    run_id: str  # the run that first failed this way
    file: str = ""  # the reject row, relative to the lake (set by the commit)

    def same(self, other: Failure | None) -> bool:
        """The same failure again (same version of the item, same reason)."""
        return other is not None and (self.version, self.reason) == (other.version, other.reason)


@dataclass
class Manifest:
    """The committed state of the lake."""

    version: int = 0
    items: dict[str, ItemEntry] = field(default_factory=dict)
    failures: dict[str, Failure] = field(default_factory=dict)  # by item URI
    duplicates: str | None = None  # the duplicate clusters of this state

    def files(self, table: str) -> list[str]:
        if table == "duplicates":
            return [self.duplicates] if self.duplicates else []
        files = sorted(e.files[table] for e in self.items.values() if table in e.files)
        if table == "rejects":
            files += sorted(f.file for f in self.failures.values())
        return files


class Lake:
    """Reads and commits the lake under ``DATA/lake``."""

    def __init__(self, data_root: Path):
        self.data_root = Path(data_root).resolve()
        self.root = self.data_root / "lake"

    # reading

    def manifest(self) -> Manifest:
        path = self.root / MANIFEST
        if not path.exists():
            return Manifest()
        raw = json.loads(path.read_text())
        items = {uri: ItemEntry(**entry) for uri, entry in raw["items"].items()}
        # (manifests before failures were tracked listed "run_rejects": their items are retried)
        failures = {uri: Failure(**f) for uri, f in raw.get("failures", {}).items()}
        return Manifest(raw["version"], items, failures, raw.get("duplicates"))

    def paths(self, table: str, manifest: Manifest | None = None) -> list[Path]:
        """Absolute paths of the committed files of ``table``."""
        m = manifest or self.manifest()
        return [self.root / rel for rel in m.files(table)]

    # writing

    def write_volume(self, parsed: ParsedVolume, lineage: Lineage) -> dict[str, str]:
        """Write a parsed volume's tables; returns table -> file path relative to the lake.

        Files are named by content, source and parser version: a run resumed after a kill
        reuses what it wrote, and the same bytes from another source (a mirror, a re-publication
        elsewhere) get files of their own, so every row's lineage names its own source.
        """
        vid = parsed.volume.volume_id
        uri_tag = hashlib.sha256(lineage.source_uri.encode()).hexdigest()[:8]
        name = f"{lineage.source_sha256[:16]}-{uri_tag}-p{lineage.parser_version}.parquet"
        tables = _volume_tables(parsed, lineage)
        out = {}
        for table, rows in tables.items():
            rel = f"{table}/volume_id={vid}/{name}"
            path = self.root / rel
            if not path.exists():
                _write_table(self.data_root, path, pa.Table.from_pylist(rows, SCHEMAS[table]))
            out[table] = rel
        return out

    def lock(self, wait: bool = True, on_wait=None):
        """An exclusive lock on the lake, held by one ingest at a time (released on exit).

        ``on_wait()`` is called once when the lock is busy and ``wait`` is True (to say so).

        Raises:
            LakeBusy: ``wait`` is False and another run holds the lock.
        """
        return _LakeLock(inside(self.data_root, self.data_root / ".ingest.lock"), wait, on_wait)

    def commit(self, base: Manifest, items: dict[str, ItemEntry], run_id: str,
               failures: dict[str, Failure] | None = None,
               duplicates: pa.Table | None = None) -> Manifest:
        """Write a reject row for each new failure and the duplicate clusters of the new
        state, then swap in a manifest with ``items`` applied to ``base`` and ``failures``
        (the whole new map; None keeps ``base``'s) in place of its failures."""
        failures = dict(base.failures if failures is None else failures)
        for uri, f in failures.items():
            if not f.file:
                failures[uri] = self._write_failure(f)
        dup_rel = base.duplicates
        if duplicates is not None:
            dup_rel = f"duplicates/{run_id}.parquet"
            _write_table(self.data_root, self.root / dup_rel, duplicates)
        new = Manifest(base.version + 1, {**base.items, **items}, failures, dup_rel)
        payload = {
            "version": new.version,
            "committed_at": datetime.now(timezone.utc).isoformat(),
            "items": {uri: asdict(e) for uri, e in sorted(new.items.items())},
            "failures": {uri: asdict(f) for uri, f in sorted(new.failures.items())},
            "duplicates": new.duplicates,
        }
        atomic_write_bytes(self.data_root, self.root / MANIFEST, json.dumps(payload, indent=1).encode())
        self.collect_garbage(new)
        return new

    def _write_failure(self, f: Failure) -> Failure:
        """The failure's reject row, in its volume's partition like documents' rejects."""
        vid = volume_id(f.name)
        tag = hashlib.sha256(f"{f.uri}\0{f.version}\0{f.reason}".encode()).hexdigest()[:16]
        rel = f"rejects/volume_id={vid}/failed-{tag}.parquet"
        row = {"volume_id": vid, "source_uri": f.uri, "place": f.name, "reason": f.reason,
               "source_sha256": None, "run_id": f.run_id, "parser_version": PARSER_VERSION}
        _write_table(self.data_root, self.root / rel, pa.Table.from_pylist([row], SCHEMAS["rejects"]))
        return Failure(**{**asdict(f), "file": rel})

    def record_run(self, row: dict) -> Path:
        """Write a run's row to ``lake/runs/<run_id>.parquet``: every run has one, whether it
        committed or found nothing to do. Written after the commit, so a row never speaks
        of a state that was not committed."""
        path = self.root / "runs" / f"{row['run_id']}.parquet"
        _write_table(self.data_root, path, pa.Table.from_pylist([row], RUNS))
        return path

    def empty_file(self, path: Path, schema: pa.Schema) -> Path:
        """A zero-row Parquet file with ``schema`` (keeps a view or glob valid when empty)."""
        if not path.exists():
            _write_table(self.data_root, path, pa.Table.from_pylist([], schema))
        return path

    def runs_glob(self) -> str:
        """A glob of the run files; a zero-row file keeps it valid before the first run."""
        self.empty_file(self.root / "runs" / "_empty.parquet", RUNS)
        return str(self.root / "runs" / "*.parquet")

    def collect_garbage(self, manifest: Manifest) -> int:
        """Remove data files and temporary files no committed manifest refers to."""
        keep = {self.root / rel for e in manifest.items.values() for rel in e.files.values()}
        keep |= {self.root / f.file for f in manifest.failures.values()}
        keep |= {self.root / manifest.duplicates} if manifest.duplicates else set()
        removed = 0
        if not self.root.exists():
            return 0
        # (rejects/run=*/: where failures went before they were tracked per item)
        for path in [*self.root.glob("*/volume_id=*/*"), *self.root.glob("duplicates/*"),
                     *self.root.glob("rejects/run=*/*")]:
            if path not in keep:
                path.unlink(missing_ok=True)
                removed += 1
        # temporary files of a killed run: in data folders (matched above) and the manifest's
        for path in self.root.glob(TMP_PREFIX + "*"):
            path.unlink(missing_ok=True)
        return removed


def _volume_tables(parsed: ParsedVolume, lineage: Lineage) -> dict[str, list[dict]]:
    lin = asdict(lineage)
    vid = parsed.volume.volume_id
    documents, parts, footnotes = [], [], []
    for doc in parsed.documents:
        row = {k: getattr(doc, k) for k in SCHEMAS["documents"].names if k not in lin}
        documents.append({**row, **lin})
        parts.extend({"volume_id": vid, **asdict(p), **lin} for p in doc.parts)
        footnotes.extend({"volume_id": vid, **asdict(f), **lin} for f in doc.footnotes)
    rejects = [{"volume_id": vid, **asdict(r), **{k: v for k, v in lin.items() if k != "source_uri"}}
               for r in parsed.rejects]
    return {
        "volumes": [{**asdict(parsed.volume), **lin}] if parsed.is_volume else [],
        "documents": documents,
        "parts": parts,
        "footnotes": footnotes,
        "rejects": rejects,
    }


class LakeBusy(Exception):
    """Another ingest holds the lake."""


class _LakeLock:
    def __init__(self, path: Path, wait: bool, on_wait=None):
        self.path, self.wait, self.on_wait, self.fh = path, wait, on_wait, None

    def __enter__(self):
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a+")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not self.wait:
                self.fh.close()
                raise LakeBusy(f"another ingest is running on {self.path.parent}") from None
            if self.on_wait:
                self.on_wait()
            fcntl.flock(self.fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self.fh.close()  # closing releases the flock
