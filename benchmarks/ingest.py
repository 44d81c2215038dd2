"""Ingest speed and memory on the shared corpus, beside a bare lxml parse of the same files.

Each phase runs in a fresh subprocess so its peak memory (max RSS) is its own:

- ``lxml``: a bare ``etree.parse`` of every file (the baseline);
- ``normalise``: ``tasks.tei.parse_volume`` on every file (records in memory, nothing written);
- ``store``: normalise and write the lake (plain functions, no Prefect), then build the warehouse;
- ``flow``: the Prefect ``ingest`` flow into an empty data root (full run);
- ``flow-again``: the same flow on the unchanged source (nothing to parse or write).

Usage: ``python benchmarks/ingest.py [--corpus DIR] [--phases a,b,…]``
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PHASES = ["lxml", "normalise", "store", "flow", "flow-again"]


def corpus_files(corpus: Path) -> list[Path]:
    return sorted((corpus / "frus").rglob("*.xml"))


def run_phase(phase: str, corpus: Path, data: Path) -> dict:
    files = corpus_files(corpus)
    docs = 0
    t0 = time.perf_counter()
    if phase == "lxml":
        from lxml import etree

        from tasks.tei import DIV, secure_parser

        for f in files:
            root = etree.parse(str(f), secure_parser()).getroot()
            docs += sum(1 for d in root.iter(DIV) if d.get("type") == "document"
                        and not any(a.get("type") == "document" for a in d.iterancestors(DIV)))
    elif phase == "normalise":
        from tasks.tei import parse_volume

        for f in files:
            docs += len(parse_volume(f).documents)
    elif phase == "store":
        from tasks.records import Lineage
        from tasks.sources import open_source
        from tasks.store import ItemEntry, Lake
        from tasks.tei import parse_volume
        from warehouse import db

        lake = Lake(data)
        entries = {}
        with open_source(str(corpus / "frus"), data) as src:
            for item in src.scan():
                fetched = src.fetch(item)
                parsed = parse_volume(fetched.path, item.uri)
                files_ = lake.write_volume(parsed, Lineage(item.uri, fetched.sha256, "bench"))
                entries[item.uri] = ItemEntry(item.uri, parsed.volume.volume_id, fetched.sha256, item.version,
                                              "bench", "bench", "", len(parsed.documents), files_)
                docs += len(parsed.documents)
        lake.commit(lake.manifest(), entries, {"run_id": "bench", "status": "completed"})
        t_lake = time.perf_counter() - t0
        db.refresh(data, force=True)
        return {"seconds": time.perf_counter() - t0, "lake_seconds": t_lake, "documents": docs}
    elif phase in ("flow", "flow-again"):
        from flows.ingest import ingest

        summary = ingest(source=str(corpus / "frus"), data_dir=str(data))
        docs = summary["documents_added"] + summary["documents_updated"]
        return {"seconds": time.perf_counter() - t0, "documents": docs,
                "items_unchanged": summary["items_unchanged"]}
    return {"seconds": time.perf_counter() - t0, "documents": docs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=os.environ.get("FRUS_CORPUS", REPO.parent / "shared" / "corpus"))
    ap.add_argument("--phases", default=",".join(PHASES))
    ap.add_argument("--phase", help=argparse.SUPPRESS)  # internal: run one phase here
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    corpus = Path(args.corpus).resolve()
    if args.phase:
        out = run_phase(args.phase, corpus, Path(args.data))
        out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out))
        return

    files = corpus_files(corpus)
    mb = sum(f.stat().st_size for f in files) / 1e6
    print(f"corpus: {corpus} — {len(files)} files, {mb:.1f} MB")
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
               PREFECT_HOME=os.environ.get("PREFECT_HOME", str(REPO / ".prefect" / "bench")),
               PREFECT_LOGGING_LEVEL="WARNING")
    results = {}
    with tempfile.TemporaryDirectory(prefix="frus-bench-") as tmp:
        for phase in args.phases.split(","):
            data = Path(tmp) / ("flow" if phase.startswith("flow") else phase)
            proc = subprocess.run([sys.executable, __file__, "--corpus", str(corpus), "--phase", phase,
                                   "--data", str(data)], capture_output=True, text=True, env=env)
            if proc.returncode:
                sys.exit(f"phase {phase} failed:\n{proc.stderr[-3000:]}")
            results[phase] = json.loads(proc.stdout.strip().splitlines()[-1])
    base = results.get("lxml", {}).get("seconds")
    print(f"{'phase':12} {'seconds':>8} {'docs':>6} {'docs/s':>8} {'MB/s':>7} {'peak MB':>8} {'× lxml':>7}")
    for phase, r in results.items():
        s = r["seconds"]
        docs = r["documents"]
        ratio = f"{s / base:7.1f}" if base else "      -"
        print(f"{phase:12} {s:8.2f} {docs:6d} {docs / s if docs else 0:8.0f} {mb / s:7.2f} "
              f"{r['max_rss_mb']:8.0f} {ratio}")
    if "store" in results:
        print(f"store: lake written in {results['store']['lake_seconds']:.2f} s, warehouse (views + FTS) "
              f"in {results['store']['seconds'] - results['store']['lake_seconds']:.2f} s")
    if "flow" in results and "flow-again" in results:
        print(f"unchanged re-run: {results['flow-again']['seconds']:.2f} s vs full run "
              f"{results['flow']['seconds']:.2f} s ({results['flow-again']['items_unchanged']} items unchanged)")


if __name__ == "__main__":
    main()
