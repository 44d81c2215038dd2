"""Scale benchmark: the pipeline on a corpus of N copies of the shared volumes, for several N.

The scaled corpus is made by ``../shared/tools/scale_corpus.py`` (``<corpus>/../tools``): copy k
of volume V is ``V-s<k>.xml`` (volume id ``V-s<k>``), its markup the original's and its words
rotated so that copies are distinct documents; one copy in five keeps "Outer Mongolia" verbatim.
19 volumes x 50 copies is about the size of the real series (~3 GB). A corpus already generated
in the work dir is reused when it holds the expected files.

For each size, in one run:

- full ingest: ``.venv/bin/frus ingest --source CORPUS --data D`` into a fresh D: wall time, the
  peak RSS of the largest single process (the ingest or any process it waited for), and the
  per-phase times of its JSON run summary (key ``phases``, "n/a" when absent);
- unchanged rerun (the same command): wall time, peak RSS, items unchanged/changed/new;
- one volume changed: one ``<p>`` of one document of a mid-size volume (a copy of
  frus1901China) gets " Amended." appended in place, then a rerun: wall time, its share of the
  full run, peak RSS, items changed and documents updated; the file is restored afterwards
  (bytes and mtime), so the corpus stays reusable;
- ``SELECT doc_key FROM mentions('Outer Mongolia')`` on the warehouse (read-only, no extension
  autoload): median of 5 warm runs, ms, and rows; beside it ``rg -l -i -U 'outer\\s+mongolia'``
  on the corpus (median of 5 after a warm run, files listed) and the ratio rg/mentions; a check
  that the volumes of the mentions rows' sources (document_sources: a canonical document and the
  duplicates folded into it) are as many as the files rg lists;
- ``SELECT * FROM search_documents('Soviet troops Mongolia') LIMIT 10`` (BM25): median of 5
  warm runs, ms ("n/a" if the warehouse has no such macro);
- a bare lxml parse of the same files (secure parser): the baseline, and the full ingest as a
  multiple of it;
- sizes: corpus MB and files, lake (``du`` of D/lake) and warehouse MB.

With ``--lake-data s3://bucket/prefix`` the lake's data files and the run's staging go to that
store (each size under a prefix of its own; the store's settings from the AWS_* variables):
compare its figures with a run without it, back to back.

Peak RSS: ``ru_maxrss`` of RUSAGE_CHILDREN is a maximum over every child ever waited for, so each
measured command runs under a small wrapper process that reports its own RUSAGE_CHILDREN: one
figure per step. Wall times are the wrapper's, around the command alone.

With ``--profile`` the full ingest runs under py-spy (every Python process of the run,
``--subprocesses``, 50 samples a second, without stopping them) while a sampler reads the CPU
seconds of its whole process tree from ``/proc`` (``cpu_profile.py``): it prints, per phase of
the run (the summary's ``phase_spans``), wall and CPU seconds (user + sys of every process) and
how many of the cores were busy, and the 15 functions with the most self time.

Usage::

    .venv/bin/python benchmarks/scale.py --copies 1,10,50 [--profile] [--work DIR] [--keep] [--json FILE]

``--work`` (default /tmp/frus-bench-scale) holds the generated corpora (``corpus-N``) and the
data roots (``data-N``, deleted after each size unless ``--keep``). Subprocesses run with
Prefect's analytics off, ``PREFECT_HOME=<repo>/.prefect/bench`` and no ``PREFECT_API_URL``
(Prefect's temporary local API).
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# (run as a script: benchmarks/ is on the path)
from cpu_profile import TreeSampler, phase_table, py_spy, py_spy_command, top_functions
from measure import (BM25_QUERY, DUCKDB_CONFIG, FRUS, LXML_BASELINE, PHRASE, REPEAT, REPO, RG_PATTERN,
                     VENV_PY, bench_env, du_mb, fmt, ingest, measured, median_ms, tail)
from scale_corpus import amend, pick_changed, restore_amended, scaled_corpus


def print_ingest(label: str, r: dict, full_seconds: float | None = None) -> None:
    s = r["summary"]
    line = f"  {label:14} {r['seconds']:8.2f} s   peak RSS {r['peak_rss_mb']:7.0f} MB"
    if full_seconds:
        line += f"   {100 * r['seconds'] / full_seconds:5.1f} % of full"
    print(line)
    if label == "full ingest":
        print(f"  {'':14} status {s.get('status', 'n/a')}, documents_added {s.get('documents_added', 'n/a')}, "
              f"items_new {s.get('items_new', 'n/a')}")
    else:
        keys = (("items_unchanged", "items_changed", "items_new") if label == "unchanged"
                else ("items_changed", "documents_updated", "items_unchanged"))
        print(f"  {'':14} status {s.get('status', 'n/a')}, " + ", ".join(f"{k} {s.get(k, 'n/a')}" for k in keys))
    phases = s.get("phases")  # the flow's own phases; the rest of the wall time is Prefect and imports
    if isinstance(phases, dict) and phases:
        print(f"  {'':14} phases: " + ", ".join(f"{k} {v:.2f} s" if isinstance(v, (int, float))
                                                  else f"{k} {v}" for k, v in phases.items()))
    else:
        print(f"  {'':14} phases: n/a")


def print_profile(full: dict, raw: Path, res: dict) -> None:
    """The profiled full ingest: per phase wall, CPU and cores busy; the costliest functions."""
    rows = phase_table(full["summary"].get("phase_spans") or {}, full["watched"], full["seconds"])
    res["profile"] = {"phases": rows}
    print(f"  profile (CPU: user + sys of every process of the run, sampled from /proc; {os.cpu_count()} cores)")
    print(f"    {'phase':42} {'wall s':>8} {'CPU s':>8} {'busy':>6}")
    for r in rows:
        print(f"    {r['phase']:42} {r['wall_s']:8.2f} {r['cpu_s']:8.2f} {fmt(r['busy']):>6}")
    if raw.exists():
        top, sampled = top_functions(raw)
        res["profile"]["top"] = [{"function": f, "self_s": a, "total_s": b} for f, a, b in top]
        print(f"    costliest functions (py-spy, {sampled:.1f} s of samples in every process; self / total s):")
        for f, a, b in top:
            print(f"      {a:8.2f} {b:8.2f}  {f}")
        raw.unlink()
    else:
        print("    py-spy wrote no profile")


def queries(warehouse: Path, corpus: Path, res: dict) -> None:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True, config=DUCKDB_CONFIG)
    try:
        ms, rows = median_ms(lambda: con.execute(f"SELECT doc_key FROM mentions('{PHRASE}')").fetchall())
        res["mentions_ms"], res["mentions_rows"] = ms, len(rows)
        # A canonical document stands for the duplicates folded into it (scale_corpus.py's
        # copies k and k+25 share a rotation, so their texts are equal): the volumes checked
        # against rg are those of every source of the documents found.
        mention_vols = {r[0].split("/", 1)[0] for r in con.execute(
            f"SELECT source_doc_key FROM document_sources WHERE doc_key IN "
            f"(SELECT doc_key FROM mentions('{PHRASE}')) AND withdrawn_run IS NULL").fetchall()}
        res["mentions_volumes"] = len(mention_vols)
        print(f"  mentions       {ms:8.1f} ms  {len(rows)} rows in {len(mention_vols)} volumes "
              f"(median of {REPEAT}, warm)")

        rg = shutil.which("rg")
        if rg:
            cmd = [rg, "-l", "-i", "-U", RG_PATTERN, str(corpus)]
            rg_ms, out = median_ms(lambda: subprocess.run(cmd, capture_output=True, text=True).stdout)
            rg_vols = {Path(line).stem for line in out.splitlines() if line.strip()}
            res["rg_ms"], res["rg_files"] = rg_ms, len(rg_vols)
            res["rg_over_mentions"] = rg_ms / ms if ms else None
            check = "OK" if len(rg_vols) == len(mention_vols) else "MISMATCH"
            res["volumes_check"] = check
            print(f"  rg -l -i -U    {rg_ms:8.1f} ms  {len(rg_vols)} files   rg/mentions "
                  f"{fmt(res['rg_over_mentions'])}")
            print(f"  volumes: mentions {len(mention_vols)} vs rg {len(rg_vols)}: {check}")
            if check != "OK":
                only_m, only_rg = sorted(mention_vols - rg_vols), sorted(rg_vols - mention_vols)
                print(f"    only in mentions: {only_m[:10]}{' …' if len(only_m) > 10 else ''}")
                print(f"    only in rg:       {only_rg[:10]}{' …' if len(only_rg) > 10 else ''}")
        else:
            print("  rg             not installed (ripgrep: `make setup` may add it): skipped")

        try:
            ms, rows = median_ms(lambda: con.execute(
                f"SELECT * FROM search_documents('{BM25_QUERY}') LIMIT 10").fetchall())
            res["bm25_ms"], res["bm25_rows"] = ms, len(rows)
            print(f"  bm25           {ms:8.1f} ms  {len(rows)} rows: search_documents('{BM25_QUERY}') LIMIT 10")
        except duckdb.Error as exc:
            res["bm25_ms"] = None
            print(f"  bm25                n/a     search_documents: {str(exc).splitlines()[0]}")
    finally:
        con.close()


def one_size(copies: int, tool: Path, volumes: list[Path], work: Path, env: dict, keep: bool,
             profile: bool = False, lake_data: str | None = None) -> dict:
    print(f"\n== {copies} {'copy' if copies == 1 else 'copies'} ==")
    res: dict = {"copies": copies}
    corpus, gen = scaled_corpus(tool, volumes, copies, work)
    files = sorted(corpus.glob("*.xml"))
    res["files"] = len(files)
    res["corpus_mb"] = sum(f.stat().st_size for f in files) / 1e6
    res["generate_s"] = gen
    print(f"  corpus: {res['files']} files, {res['corpus_mb']:.1f} MB")
    data = work / f"data-{copies}"
    shutil.rmtree(data, ignore_errors=True)
    try:
        return _measure(corpus, data, work, copies, env, res, profile, lake_data)
    finally:
        restore_amended(work, copies)
        if not keep:
            shutil.rmtree(data, ignore_errors=True)
        else:
            print(f"  data kept in {data}")


def _failed(label: str, r: dict, res: dict) -> dict:
    res["error"] = f"{label}: exit {r['rc']}"
    print(f"  {label} FAILED (exit {r['rc']}); stderr tail:\n{tail(r['stderr'])}")
    return res


def _measure(corpus: Path, data: Path, work: Path, copies: int, env: dict, res: dict,
             profile: bool = False, lake_data: str | None = None) -> dict:
    raw = work / f"py-spy-{copies}.txt"
    options = []
    if lake_data:  # a prefix of its own a size (the data root remembers it for the reruns)
        res["lake_data"] = f"{lake_data.rstrip('/')}/{copies}-{secrets.token_hex(3)}"
        options = ["--lake-data", res["lake_data"]]
        print(f"  lake data in {res['lake_data']}")
    full = ingest(corpus, data, env, wrap=(lambda cmd: py_spy_command(cmd, raw)) if profile else None,
                  watch=TreeSampler if profile else None, options=options)
    if full["rc"]:
        return _failed("full ingest", full, res)
    s = full["summary"]
    res.update(full_s=full["seconds"], full_peak_rss_mb=full["peak_rss_mb"],
               documents=s.get("documents_added"), phases=s.get("phases"))
    print_ingest("full ingest", full)
    if profile:
        print_profile(full, raw, res)

    again = ingest(corpus, data, env)
    if again["rc"]:
        return _failed("unchanged rerun", again, res)
    s = again["summary"]
    res.update(unchanged_s=again["seconds"], unchanged_peak_rss_mb=again["peak_rss_mb"],
               unchanged_items={k: s.get(k) for k in ("items_unchanged", "items_changed", "items_new")})
    print_ingest("unchanged", again, full["seconds"])

    changed = pick_changed(corpus, copies)
    amend(changed, work, copies)
    try:
        one = ingest(corpus, data, env)
    finally:
        restore_amended(work, copies)
    if one["rc"]:
        return _failed("one-changed rerun", one, res)
    s = one["summary"]
    res.update(changed_file=changed.name, one_changed_s=one["seconds"],
               one_changed_pct=100 * one["seconds"] / full["seconds"],
               one_changed_peak_rss_mb=one["peak_rss_mb"],
               one_changed_items={k: s.get(k) for k in ("items_changed", "documents_updated", "items_unchanged")})
    print_ingest("one changed", one, full["seconds"])
    print(f"  {'':14} changed: {changed.name} (restored)")

    warehouse = data / "warehouse.duckdb"
    if warehouse.exists():
        queries(warehouse, corpus, res)
    else:
        print(f"  no warehouse at {warehouse}: queries skipped")

    py = str(VENV_PY if VENV_PY.exists() else sys.executable)
    lx = measured([py, "-c", LXML_BASELINE, str(corpus)], env)
    if lx["rc"]:
        print(f"  lxml baseline FAILED:\n{tail(lx['stderr'])}")
    else:
        res["lxml_s"] = float(lx["stdout"].strip().splitlines()[-1])
        res["lxml_peak_rss_mb"] = lx["peak_rss_mb"]
        res["full_over_lxml"] = full["seconds"] / res["lxml_s"]
        print(f"  lxml parse     {res['lxml_s']:8.2f} s   peak RSS {lx['peak_rss_mb']:7.0f} MB   "
              f"full ingest = {res['full_over_lxml']:.1f} x lxml")

    res["lake_mb"], res["warehouse_mb"] = du_mb(data / "lake"), du_mb(warehouse)
    print(f"  sizes          corpus {res['corpus_mb']:.1f} MB ({res['files']} files), lake "
          f"{fmt(res['lake_mb'], '.1f')} MB, warehouse {fmt(res['warehouse_mb'], '.1f')} MB")
    return res


# -- main -----------------------------------------------------------------------------


COLUMNS = [  # header, key, format
    ("copies", "copies", "d"), ("MB", "corpus_mb", ".0f"), ("docs", "documents", "d"),
    ("full s", "full_s", ".1f"), ("peak MB", "full_peak_rss_mb", ".0f"),
    ("unch s", "unchanged_s", ".1f"), ("1-chg s", "one_changed_s", ".1f"), ("(%)", "one_changed_pct", ".0f"),
    ("ment ms", "mentions_ms", ".1f"), ("rg ms", "rg_ms", ".1f"), ("rg/ment", "rg_over_mentions", ".2f"),
    ("bm25 ms", "bm25_ms", ".1f"), ("lxml s", "lxml_s", ".1f"), ("lake MB", "lake_mb", ".0f"),
    ("wh MB", "warehouse_mb", ".0f"),
]


def summary_table(results: list[dict]) -> None:
    print("\n== summary ==")
    widths = [max(len(h), 8) for h, _, _ in COLUMNS]
    print(" ".join(f"{h:>{w}}" for (h, _, _), w in zip(COLUMNS, widths)))
    for r in results:
        cells = []
        for (_, key, spec), w in zip(COLUMNS, widths):
            v = r.get(key)
            cells.append(f"{'n/a' if v is None else format(v, spec):>{w}}")
        print(" ".join(cells) + (f"   [{r['error']}]" if r.get("error") else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", "--sizes", default="1,10,50", help="comma-separated numbers of copies")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "frus-bench-scale",
                    help="generated corpora and data roots (default: %(default)s)")
    ap.add_argument("--corpus", type=Path,
                    default=Path(os.environ.get("FRUS_CORPUS") or REPO.parent / "shared" / "corpus"),
                    help="the shared corpus (default: $FRUS_CORPUS or ../shared/corpus)")
    ap.add_argument("--keep", action="store_true", help="keep each size's data root")
    ap.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--lake-data", metavar="URL", help="the lake's data files (and the staging) in object "
                    "storage, s3://bucket/prefix (settings from AWS_* variables: README, Team setup); "
                    "each size under a prefix of its own")
    ap.add_argument("--profile", action="store_true",
                    help="profile each full ingest: per-phase wall/CPU/busy cores, top 15 functions (py-spy)")
    args = ap.parse_args()

    sizes = [int(x) for x in args.copies.split(",") if x.strip()]
    corpus = args.corpus.resolve()
    tool = corpus.parent / "tools" / "scale_corpus.py"
    volumes = sorted((corpus / "frus" / "volumes").glob("*.xml"))
    for what, ok in ((f"{FRUS} (run `make setup`)", FRUS.exists()), (str(tool), tool.exists()),
                     ("py-spy (for --profile: `make setup`)", py_spy() or not args.profile),
                     (f"volumes in {corpus}/frus/volumes", bool(volumes))):
        if not ok:
            sys.exit(f"scale.py: missing {what}")
    try:
        import duckdb  # noqa: F401
        import lxml  # noqa: F401
    except ImportError as exc:
        sys.exit(f"scale.py: {exc}: run with the project's venv (.venv/bin/python benchmarks/scale.py)")
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = bench_env()
    print(f"scale benchmark: {len(volumes)} volumes from {corpus}, copies {sizes}, work dir {work}, "
          f"{os.cpu_count()} cores")
    if not shutil.which("rg"):
        print("note: rg (ripgrep) not found: the rg comparison is skipped")

    results = []
    for n in sizes:
        try:
            results.append(one_size(n, tool, volumes, work, env, args.keep, args.profile, args.lake_data))
        except (subprocess.CalledProcessError, RuntimeError, OSError) as exc:
            print(f"  size {n} FAILED: {exc}")
            results.append({"copies": n, "error": str(exc)})
    summary_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str) + "\n")
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
