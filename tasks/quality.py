"""Data quality per run and per volume: the warehouse's `quality` view (volume id → measure →
percent, and documents) beside the previous run's figures (kept in ``DATA/lake/quality.json``),
and the drops that deserve a warning.

Plain functions: the flow's report (flows/report.py) reads the view and renders them.
"""
from __future__ import annotations

import json
from pathlib import Path

from tasks.landing import atomic_write_bytes, inside

QUALITY_FILE = "lake/quality.json"
MEASURES = ("date_pct", "sender_pct", "recipient_pct", "type_pct", "person_pct", "place_pct")
DROP_POINTS = 5.0  # a share falling by more than this many points is a warning


def previous(data_root: Path) -> dict[str, dict[str, float]]:
    """The figures the last run recorded (empty before the first, or when unreadable)."""
    path = inside(data_root, QUALITY_FILE)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def record(data_root: Path, figures: dict[str, dict[str, float]]) -> None:
    """Keep this run's figures for the next run to compare with."""
    atomic_write_bytes(data_root, QUALITY_FILE, json.dumps(figures, indent=1, sort_keys=True).encode())


def drops(now: dict, before: dict, points: float = DROP_POINTS) -> list[str]:
    """One line per volume and measure whose share fell by more than ``points``."""
    found = []
    for vid, figures in sorted(now.items()):
        for m in MEASURES:
            old, new = (before.get(vid) or {}).get(m), figures.get(m)
            if old is not None and new is not None and old - new > points:
                found.append(f"{vid}: {m.removesuffix('_pct')} {old:.1f}% -> {new:.1f}% "
                             f"(-{old - new:.1f} points)")
    return found


def table(now: dict, before: dict) -> str:
    """A Markdown table: per volume, each share now and (in brackets) at the previous run."""
    head = "| volume | documents | " + " | ".join(m.removesuffix("_pct") for m in MEASURES) + " |"
    rule = "|---" * (len(MEASURES) + 2) + "|"
    lines = [head, rule]
    for vid, f in sorted(now.items()):
        old = before.get(vid) or {}
        cells = [f"{f[m]:.1f}" + (f" ({old[m]:.1f})" if old.get(m) is not None else "") for m in MEASURES]
        lines.append(f"| {vid} | {f['documents']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
