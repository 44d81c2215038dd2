"""Ingest speed and memory on the shared corpus, beside a bare lxml parse of the same files.

Each phase runs in a fresh subprocess so its peak memory (max RSS) is its own:

- ``lxml``: a bare ``etree.parse`` of every file (the baseline);
- ``normalise``: ``tasks.normalise.tei.parse_volume`` on every file (records in memory, nothing written);
- ``store``: normalise and write the lake (plain functions, no Prefect), then build the warehouse;
- ``flow``: the Prefect ``ingest`` flow into an empty data root (full run), then the same flow
  again on the unchanged source (nothing to parse or write), in one process so both pay the
  same Prefect start-up once;
- ``processes``: the same full run with ``workers=2``: volumes normalised by two worker
  processes (Prefect's process pool), their start-up included; peak MB is the flow process's,
  the largest child process's (a worker process, or Prefect's temporary API) below the table;
- ``git``: the flow on a ``git+file://`` clone of the corpus: a full run, an unchanged run, then
  one commit that changes one volume and a third run (which parses that volume alone); the
  ``runs`` rows are printed.

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
PHASES = ["lxml", "normalise", "store", "flow", "processes", "git"]
RUN_COLUMNS = ("run_id, status, items_seen, items_new, items_changed, items_unchanged, items_removed, "
               "documents_added, documents_updated, documents_withdrawn")


def corpus_files(corpus: Path) -> list[Path]:
    return sorted((corpus / "frus").rglob("*.xml"))


def run_phase(phase: str, corpus: Path, data: Path) -> dict:
    files = corpus_files(corpus)
    docs = 0
    t0 = time.perf_counter()
    if phase == "lxml":
        from lxml import etree

        from tasks.normalise.tei import DIV, secure_parser

        for f in files:
            root = etree.parse(str(f), secure_parser()).getroot()
            docs += sum(1 for d in root.iter(DIV) if d.get("type") == "document"
                        and not any(a.get("type") == "document" for a in d.iterancestors(DIV)))
    elif phase == "normalise":
        from tasks.normalise.tei import parse_volume

        for f in files:
            docs += len(parse_volume(f).documents)
    elif phase == "store":
        return _store_phase(corpus, data, t0)
    elif phase == "flow":
        from flows.ingest import ingest

        full = ingest(source=str(corpus / "frus"), data_dir=str(data), workers=1)
        t1 = time.perf_counter()
        again = ingest(source=str(corpus / "frus"), data_dir=str(data), workers=1)
        t2 = time.perf_counter()
        return {"seconds": t1 - t0, "documents": full["documents_added"], "again_seconds": t2 - t1,
                "again_unchanged": again["items_unchanged"], "again_parsed": again["items_new"]
                + again["items_changed"]}
    elif phase == "processes":
        from flows.ingest import ingest

        full = ingest(source=str(corpus / "frus"), data_dir=str(data), workers=2)
        return {"seconds": time.perf_counter() - t0, "documents": full["documents_added"],
                "workers": 2}
    elif phase == "git":
        return _git_phase(corpus, data)
    return {"seconds": time.perf_counter() - t0, "documents": docs}


def _store_phase(corpus: Path, data: Path, t0: float) -> dict:
    """Normalise, stage, deduplicate and commit every volume without Prefect, then build the
    warehouse (``lake_seconds``: up to the commit)."""
    docs = 0
    from tasks.lake import staging
    from tasks.lake.catalog import Lake, Staged
    from tasks.lake.apart import deduplicate_apart
    from tasks.normalise import normalise_item
    from tasks.records import ItemEntry, Lineage, utcnow
    from tasks.sources import open_source
    from warehouse import db

    lake = Lake(data)
    staged = []
    with open_source(str(corpus / "frus"), data) as src:
        for item in src.scan():
            fetched = src.fetch(item)
            parsed = normalise_item(fetched)
            folder = staging.stage_volume(lake.staging_root(), parsed.volume, parsed.documents, parsed.rejects,
                                          Lineage(item.uri, fetched.sha256, "bench"), parsed.is_volume)
            staged.append(Staged(ItemEntry(item.uri, parsed.volume.volume_id, fetched.sha256, item.version,
                                           "bench", "bench", utcnow().isoformat(), len(parsed.documents)),
                                 folder))
            docs += len(parsed.documents)
    lake.ensure()
    links, dups = deduplicate_apart(lake, {s.entry.uri for s in staged}, staged, "bench")
    lake.commit({"run_id": "bench", "source": "bench", "started_at": utcnow(), "status": "completed"},
                staged, links=links, duplicates=dups)
    lake.export_runs()
    t_lake = time.perf_counter() - t0
    db.refresh(data, force=True)
    return {"seconds": time.perf_counter() - t0, "lake_seconds": t_lake, "documents": docs}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
                   cwd=repo, check=True, capture_output=True)


def _git_phase(corpus: Path, data: Path) -> dict:
    """Full, unchanged and one-volume-changed runs of the flow on a git clone of the corpus."""
    import shutil

    from flows.ingest import ingest
    from warehouse import db

    repo = data.parent / "upstream"
    (repo / "volumes").mkdir(parents=True)
    for f in corpus_files(corpus):
        shutil.copy2(f, repo / "volumes" / f.name)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "corpus")
    source = f"git+{repo.as_uri()}"
    times = {}
    t = time.perf_counter()
    ingest(source=source, data_dir=str(data))
    times["full"] = time.perf_counter() - t
    t = time.perf_counter()
    ingest(source=source, data_dir=str(data))
    times["unchanged"] = time.perf_counter() - t
    changed = repo / "volumes" / "frus1936v03.xml"
    changed.write_text(changed.read_text(encoding="utf-8").replace("Ethiopia", "Abyssinia", 1), encoding="utf-8")
    _git(repo, "commit", "-q", "-am", "one volume changed")
    t = time.perf_counter()
    ingest(source=source, data_dir=str(data))
    times["one_changed"] = time.perf_counter() - t
    with db.connect(db.warehouse_path(data), read_only=True) as con:
        runs = con.execute(f"SELECT {RUN_COLUMNS} FROM runs ORDER BY started_at").fetchall()
    return {"seconds": times["full"], "documents": runs[0][7], "times": times,
            "runs": [[str(v) for v in r] for r in runs]}


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
        out["max_child_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
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
            data = Path(tmp) / phase / "data"
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
        print(f"store: lake written in {results['store']['lake_seconds']:.2f} s, warehouse (tables + index) "
              f"in {results['store']['seconds'] - results['store']['lake_seconds']:.2f} s")
    if "flow" in results:
        r = results["flow"]
        print(f"folder source, unchanged re-run: {r['again_seconds']:.2f} s vs full run {r['seconds']:.2f} s "
              f"({r['again_unchanged']} items unchanged, {r['again_parsed']} parsed)")
    if "processes" in results and "flow" in results:
        print(f"flow on 2 worker processes: {results['processes']['seconds']:.2f} s vs in-process "
              f"{results['flow']['seconds']:.2f} s on this machine ({os.cpu_count()} cores); largest child "
              f"process (a worker or Prefect's temporary API) {results['processes']['max_child_rss_mb']:.0f} MB")
    if "git" in results:
        t = results["git"]["times"]
        print(f"git source: full run {t['full']:.2f} s, unchanged run {t['unchanged']:.2f} s, "
              f"one volume changed {t['one_changed']:.2f} s")
        print("runs rows (" + RUN_COLUMNS + "):")
        for row in results["git"]["runs"]:
            print("  " + ", ".join(row))

if __name__ == "__main__":
    main()
