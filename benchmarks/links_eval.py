"""Precision and coverage of document_people and document_places on the labelled sets.

    .venv/bin/python benchmarks/links_eval.py [--data DIR]

The sets (benchmarks/labels/people.csv, places.csv) were labelled from the documents and the
authority lists, with the evidence of each label: doc_key, role (or kind), the name as printed,
the expected id (NONE: no one of the lists), evidence. Precision: of the labelled links the
warehouse made, the share that are right (a link where NONE is expected is wrong). Coverage:
of the labels that expect someone, the share linked to the right one.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import duckdb  # noqa: E402

LABELS = ROOT / "benchmarks" / "labels"
QUERIES = {"people": "SELECT doc_key, role, person_id FROM document_people",
           "places": "SELECT doc_key, kind, place_id FROM document_places"}


def evaluate(rows: list[dict], links: dict[tuple[str, str], str]) -> dict:
    """Precision and coverage of ``links`` ((doc_key, role) → id) on labelled ``rows``."""
    made = right = expected = covered = 0
    wrong = []
    for row in rows:
        got = links.get((row["doc_key"], row["role"]))
        want = None if row["expected"] == "NONE" else row["expected"]
        expected += want is not None
        if got is not None:
            made += 1
            if got == want:
                right += 1
                covered += 1
            else:
                wrong.append((row["doc_key"], row["role"], row["name"], got, row["expected"]))
    return {"labels": len(rows), "links": made, "precision": right / made if made else 0.0,
            "coverage": covered / expected if expected else 0.0, "expected": expected, "wrong": wrong}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    args = parser.parse_args(argv)
    with duckdb.connect(str(args.data / "warehouse.duckdb"), read_only=True) as con:
        for name, query in QUERIES.items():
            path = LABELS / f"{name}.csv"
            rows = list(csv.DictReader(path.open(encoding="utf-8", newline="")))
            links = {(k, r): v for k, r, v in con.execute(query).fetchall()}
            m = evaluate(rows, links)
            print(f"{name}: {m['labels']} labels ({m['expected']} expect a link), {m['links']} linked: "
                  f"precision {m['precision']:.1%}, coverage {m['coverage']:.1%}")
            for w in m["wrong"]:
                print("   wrong:", *w)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
