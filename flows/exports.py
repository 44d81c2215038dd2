"""``frus export`` (a query's rows to CSV, Parquet or JSON) and ``frus plot`` (mentions per year).

The export's QUERY is the analyst's own SQL. What keeps the warehouse safe: it runs on the
read-only connection of ``frus sql`` (``warehouse.readonly``: one SELECT-like statement only,
the warehouse attached READ_ONLY, external access off, configuration locked), so it can
neither write nor read another file; the rows come back to Python as Arrow batches and
Python writes them to the one file the user names (a temporary name beside it, then a rename).
"""
from __future__ import annotations

import csv
import json
import os
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

EXPORT_FORMATS = ("csv", "parquet", "json")
PLOT_FORMATS = ("png", "svg", "html")
TOP_GROUPS = 8  # stacked plots: the biggest groups, the rest as "other"


def register(sub, command) -> None:
    """Add ``export`` and ``plot`` to the ``frus`` subcommands (``command`` as in flows.cli)."""
    c = command("export", cmd_export, "Write a read-only query's rows to FILE.csv, .parquet or .json.")
    c.add_argument("query", help="one read-only statement, as for frus sql")
    c.add_argument("--out", required=True, help="the file to write: its extension picks the format")
    c = command("plot", cmd_plot, "Plot the documents that mention a phrase, per year, to FILE.png, .svg or .html.")
    c.add_argument("phrase")
    c.add_argument("--out", required=True, help="the file to write: .png, .svg or .html")
    c.add_argument("--by", choices=["sender", "country"], help="stack the bars by sender or by country")
    c.add_argument("--notes", action="store_true", help="count footnote mentions too")


def _out(path: str, formats: tuple[str, ...]) -> tuple[Path, str]:
    out = Path(path)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in formats:
        raise ValueError(f"{out}: unknown output format {out.suffix or '(none)'!r}; use "
                         + ", ".join(f".{f}" for f in formats))
    if not out.parent.is_dir():
        raise FileNotFoundError(f"{out}: its folder {out.parent} does not exist")
    return out, fmt


def cmd_export(args) -> int:
    from flows.analyst import connection
    from warehouse import readonly

    out, fmt = _out(args.out, EXPORT_FORMATS)
    with connection(args.data) as con:
        readonly.check(con, args.query)
        reader = con.execute(args.query).to_arrow_reader(10_000)
        n = _write(reader, out, fmt)
    print(f"frus: {n} rows written to {out}", file=os.sys.stderr)
    return 0


def _write(reader, out: Path, fmt: str) -> int:
    """Write the batches of ``reader`` to ``out`` in ``fmt`` (via a temporary file); the row count."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    n = 0
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            with pq.ParquetWriter(tmp, reader.schema) as w:
                for batch in reader:
                    w.write_batch(batch)
                    n += batch.num_rows
        else:
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                n = (_csv if fmt == "csv" else _json)(reader, f)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return n


def _csv(reader, f) -> int:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(reader.schema.names)
    n = 0
    for batch in reader:
        for row in batch.to_pylist():
            w.writerow([_plain(v) for v in row.values()])
            n += 1
    return n


def _json(reader, f) -> int:
    """A JSON array of objects, one a line."""
    f.write("[")
    n = 0
    for batch in reader:
        for row in batch.to_pylist():
            f.write(("," if n else "") + "\n" + json.dumps({k: _plain(v) for k, v in row.items()},
                                                          ensure_ascii=False, default=str))
            n += 1
    f.write("\n]\n")
    return n


def _plain(v):
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    return v


def mentions_per_year(con, phrase: str, by: str | None, notes: bool) -> list[tuple[int, str, int]]:
    """(year, group, documents) of the dated documents mentioning ``phrase``; group '' unless
    ``by`` (sender, or country: the territory document_places links, else 'unknown')."""
    group = {"sender": "coalesce(m.sender, 'unknown')",
             "country": "coalesce((SELECT any_value(p.name ORDER BY p.score DESC) FROM document_places p "
                        "WHERE p.doc_key = m.doc_key AND p.kind = 'territory'), 'unknown')",
             None: "''"}[by]
    return con.execute(f"SELECT year(m.date_min) AS y, {group} AS g, count(*) AS n "
                       "FROM phrase_search($p, include_notes := $notes) m WHERE m.date_min IS NOT NULL "
                       "GROUP BY ALL ORDER BY y, g", {"p": phrase, "notes": notes}).fetchall()


def cmd_plot(args) -> int:
    from flows.analyst import connection

    if not args.phrase.strip():
        raise ValueError("plot what? the phrase is empty")
    out, fmt = _out(args.out, PLOT_FORMATS)
    with connection(args.data) as con:
        rows = mentions_per_year(con, args.phrase, args.by, args.notes)
    if not rows:
        raise ValueError(f"no dated document mentions {args.phrase!r}: nothing to plot")
    fig = figure(rows, args.phrase, args.by)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        if fmt == "html":
            import io

            svg = io.StringIO()
            fig.savefig(svg, format="svg")
            tmp.write_text(f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{_esc(args.phrase)}"
                           f"</title></head><body>\n{svg.getvalue()}\n</body></html>\n", encoding="utf-8")
        else:
            fig.savefig(tmp, format=fmt, dpi=120)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"frus: plot of {sum(r[2] for r in rows)} documents written to {out}", file=os.sys.stderr)
    return 0


def figure(rows: list[tuple[int, str, int]], phrase: str, by: str | None):
    """A matplotlib bar chart of documents per year, stacked by group (the biggest TOP_GROUPS)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    totals: dict[str, int] = {}
    for _, g, n in rows:
        totals[g] = totals.get(g, 0) + n
    keep = sorted(totals, key=lambda g: (-totals[g], g))[:TOP_GROUPS]
    years = list(range(min(r[0] for r in rows), max(r[0] for r in rows) + 1))
    series: dict[str, list[int]] = {}
    for y, g, n in rows:
        name = g if g in keep else "other"
        series.setdefault(name, [0] * len(years))[years.index(y)] += n
    fig, ax = plt.subplots(figsize=(10, 4.8), layout="constrained")
    bottom = [0] * len(years)
    for name in [g for g in keep if g in series] + (["other"] if "other" in series else []):
        ax.bar(years, series[name], bottom=bottom, label=name or None, width=0.8)
        bottom = [b + v for b, v in zip(bottom, series[name])]
    ax.margins(y=0.08)
    ax.set_title(f"FRUS documents mentioning \u201c{phrase}\u201d, per year")
    ax.set_xlabel("year (date of the document)")
    ax.set_ylabel("documents")
    ax.yaxis.get_major_locator().set_params(integer=True)
    if by:
        ax.legend(title=by, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
