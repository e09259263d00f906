"""Apps depend only downward: an app may import apps on its own floor or below, never above.

Floors, bottom up (DESIGN.md): core; accounts, programs, audit; notifications (delivery
infrastructure); measures; enrollment, scheduling; rooms, homework; progress; video; the
record and care-team apps; billing. Apps on one floor may import each other in one direction
only. Imports under ``if TYPE_CHECKING:`` only name types and do not count. Checked over the
source with ``ast``,
function-level imports included (they used to hide the cycles)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

APPS = Path(__file__).resolve().parents[2] / "apps"
FLOORS = [
    {"core"},
    {"accounts", "programs", "audit"},
    {"notifications"},
    {"measures"},
    {"enrollment", "scheduling"},
    {"rooms", "homework"},
    {"progress"},
    {"video"},
    # Clinical record and care-team apps: each may read the floors below, not each other
    # both ways; billing reads the signed record.
    {"diagnoses", "charting", "messaging", "medications", "casemanagement", "disclosures"},
    {"billing"},
]
FLOOR = {app: n for n, apps in enumerate(FLOORS) for app in apps}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def app_imports() -> dict[tuple[str, str], list[str]]:
    """(importer app, imported app) → where, for every import of another app."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in APPS.rglob("*.py"):
        rel = path.relative_to(APPS)
        if "migrations" in rel.parts:
            continue
        source = rel.parts[0]
        tree = ast.parse(path.read_text())
        skip = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if node.lineno in skip if hasattr(node, "lineno") else False:
                continue
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
                if node.module == "apps":
                    names = [f"apps.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if len(parts) > 1 and parts[0] == "apps" and parts[1] != source:
                    found[(source, parts[1])].append(f"{rel}:{node.lineno}")
    return found


def test_every_app_has_a_floor():
    apps = {p.name for p in APPS.iterdir() if (p / "apps.py").exists()}
    assert apps <= set(FLOOR), apps - set(FLOOR)


def test_no_app_imports_an_app_above_it():
    upward = {
        f"{src} -> {dst}": where
        for (src, dst), where in app_imports().items()
        if FLOOR.get(dst, 99) > FLOOR.get(src, -1)
    }
    assert upward == {}


def test_apps_on_one_floor_depend_one_way():
    edges = app_imports()
    both = sorted(
        f"{a} <-> {b}: {edges[(a, b)][:2]} / {edges[(b, a)][:2]}"
        for (a, b) in edges
        if (b, a) in edges and a < b
    )
    assert both == []
