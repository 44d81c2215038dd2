"""Print every module, function and class over the house limits (nothing when all fit).

Limits: modules 300 lines, functions 60, classes 150, in tasks/, flows/, warehouse/ and
benchmarks/. Run from the repository root: ``python tools/sizes.py [FOLDER ...]``; exits 1
when anything is over.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

LIMITS = {"module": 300, "function": 60, "class": 150}
FOLDERS = ("tasks", "flows", "warehouse", "benchmarks")


def oversized(path: Path) -> list[tuple[str, str, int]]:
    """``(kind, name, lines)`` of what in ``path`` is over its limit."""
    text = path.read_text(encoding="utf-8")
    found = []
    lines = len(text.splitlines())
    if lines > LIMITS["module"]:
        found.append(("module", str(path), lines))
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            kind = "class" if isinstance(node, ast.ClassDef) else "function"
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            size = node.end_lineno - start + 1
            if size > LIMITS[kind]:
                found.append((kind, f"{path}:{node.lineno} {node.name}", size))
    return found


def main(folders: list[str]) -> int:
    over = [o for folder in folders for path in sorted(Path(folder).rglob("*.py"))
            for o in oversized(path)]
    for kind, name, size in over:
        print(f"{kind} {name}: {size} lines (limit {LIMITS[kind]})")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or list(FOLDERS)))
