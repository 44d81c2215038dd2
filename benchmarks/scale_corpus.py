"""The scale benchmark's corpora: N copies of the shared volumes (``../shared/tools/scale_corpus.py``),
and the one volume a run changes and restores."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from measure import CHANGED_VOLUME


def expected_names(volumes: list[Path], copies: int) -> set[str]:
    return {f"{v.stem}-s{k}.xml" for v in volumes for k in range(copies)}


def scaled_corpus(tool: Path, volumes: list[Path], copies: int, work: Path) -> tuple[Path, float | None]:
    """The corpus of ``copies`` copies under ``work`` (reused if complete) and its generation time."""
    out = work / f"corpus-{copies}"
    restore_amended(work, copies)
    want = expected_names(volumes, copies)
    if out.is_dir() and {p.name for p in out.glob("*.xml")} == want:
        print(f"  corpus: reusing {out} ({len(want)} files)")
        return out, None
    tmp = work / f"corpus-{copies}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"  corpus: generating {len(want)} files in {out} …", flush=True)
    t = time.perf_counter()
    subprocess.run([sys.executable, str(tool), "--out", str(tmp), "--copies", str(copies),
                    *map(str, volumes)], check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - t
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"  corpus: generated in {seconds:.1f} s")
    return out, seconds


def backup_dir(work: Path, copies: int) -> Path:
    return work / f"amend-backup-{copies}"


def restore_amended(work: Path, copies: int) -> None:
    """Put back a volume left amended by an interrupted run (bytes and mtime)."""
    bdir = backup_dir(work, copies)
    if not bdir.is_dir():
        return
    for saved in bdir.glob("*.xml"):
        shutil.copy2(saved, work / f"corpus-{copies}" / saved.name)
    shutil.rmtree(bdir)


def pick_changed(corpus: Path, copies: int) -> Path:
    """A copy of frus1901China (a mid-size volume), else the median-size file."""
    f = corpus / f"{CHANGED_VOLUME}-s{copies // 2}.xml"
    if f.exists():
        return f
    files = sorted(corpus.glob("*.xml"), key=lambda p: p.stat().st_size)
    return files[len(files) // 2]


def amend(path: Path, work: Path, copies: int) -> None:
    """Append " Amended." to the first paragraph of the first document, keeping a backup."""
    from lxml import etree

    src = path.read_bytes()
    m = re.search(rb'<div\b[^>]*\btype="document"', src)
    i = src.find(b"</p>", m.end()) if m else -1
    if i < 0:
        raise RuntimeError(f"{path.name}: no </p> after a <div type=\"document\"")
    new = src[:i] + b" Amended." + src[i:]
    etree.fromstring(new, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                          huge_tree=True))  # still well-formed
    bdir = backup_dir(work, copies)
    bdir.mkdir(exist_ok=True)
    shutil.copy2(path, bdir / path.name)
    path.write_bytes(new)


# -- one size -------------------------------------------------------------------------
