"""The import graph of every module (lazy and TYPE_CHECKING imports too): no circles, no import
from a layer above (docs/architecture.md's table), and the design's never-arrows.

The framework judges whatever a stack writes, so it must not know our stack; the stack must
not reach into what judges it; a library never climbs up to a command or to pytest.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import harness

PACKAGE = Path(harness.__file__).parent
LAYERS_DOC = PACKAGE.parent / "docs" / "architecture.md"
STACK = "harness.reference"
# What the system under test must never import: the judges, the report and pytest's side.
JUDGES = (
    "harness.gates",
    "harness.report",
    "harness.pytest",
    "harness.runners",
    "harness.history",
    "harness.rerun",
    "harness.commands",
    "harness.run.driver",
    "pytest",
    "allure",
)
# Numbers only: the gates and the record never plot, drive engines or talk to pytest.
PURE = ("harness.gates", "harness.record")
NOT_IN_PURE = ("pytest", "allure", "docker", "matplotlib", "torch")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(
    source: str, name: str, is_package: bool = False, modules: set[str] | None = None
) -> set[str]:
    """Every module `name` imports, at top level or inside functions, relative ones resolved.

    `from pkg import sub` names `pkg.sub` when that is a module of `modules`, else `pkg`."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if modules is None or full in modules else base)
    return found


def graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {
        module_name(p): imports(p.read_text(), module_name(p), p.name == "__init__.py", modules)
        for p in paths
    }


def within(name: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for src, targets in edges.items():
        for dst in sorted(targets):
            if not within(src, STACK) and within(dst, STACK):
                bad.append(f"framework module {src} imports the reference stack ({dst})")
            if within(src, STACK) and within(dst, JUDGES):
                bad.append(f"stack module {src} imports {dst}, which judges or reports it")
            if within(src, PURE) and within(dst, NOT_IN_PURE):
                bad.append(f"{src} must stay free of {dst}")
    return bad


def layers(doc: str) -> list[tuple[str, tuple[str, ...]]]:
    """The layer table of docs/architecture.md, lowest first: (name, module prefixes)."""
    table = doc.split("<!-- layers:", 1)[1].split("<!-- /layers -->", 1)[0]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or cells[0] in ("layer", "") or set(cells[0]) <= {"-"}:
            continue
        rows.append((cells[0], tuple(re.findall(r"`([\w.]+)`", cells[1]))))
    return rows


def layer_of(module: str, table: list[tuple[str, tuple[str, ...]]]) -> int | None:
    """The index of the layer whose longest prefix names `module` (None: no layer does)."""
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(table):
        for p in prefixes:
            if within(module, p) and (best is None or len(p) > best[1]):
                best = (index, len(p))
    return None if best is None else best[0]


def upward(edges: dict[str, set[str]], table: list[tuple[str, tuple[str, ...]]]) -> list[str]:
    """Imports from a layer above the importer's own, and modules no layer names."""
    bad = []
    for src, targets in sorted(edges.items()):
        own = layer_of(src, table)
        if own is None:
            bad.append(f"{src} is in no layer of docs/architecture.md: add it to the table")
            continue
        for dst in sorted(targets):
            theirs = layer_of(dst, table) if dst.startswith("harness") else None
            if theirs is not None and theirs > own:
                bad.append(f"{src} ({table[own][0]}) imports {dst} ({table[theirs][0]}), above it")
    return bad


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every set of two or more modules that import each other round a circle (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue  # outside the package
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_never_arrows_hold() -> None:
    edges = graph()
    assert len(edges) > 50 and any(within(m, STACK) for m in edges)
    assert violations(edges) == []


def test_no_module_imports_from_a_layer_above() -> None:
    table = layers(LAYERS_DOC.read_text(encoding="utf-8"))
    assert [name for name, _ in table][:2] == ["foundation", "inputs"] and len(table) >= 10
    assert upward(graph(), table) == []


def test_no_import_circles() -> None:
    assert circles(graph()) == []


def test_the_checks_see_lazy_relative_upward_and_circular_imports() -> None:
    """A violation hidden in a function body, written relatively, climbing a layer or closing a
    circle is still found."""
    edges = {
        "harness.runners.local": {"harness.reference.vpr.queries"},
        "harness.reference.eskf.navigate": {"harness.gates.eskf"},
        "harness.gates.eskf": {"matplotlib.pyplot"},
        "harness.reference.vpr.queries": {"harness.clip", "harness.run.stage"},
    }
    assert len(violations(edges)) == 3
    lazy = "def f():\n    from ..gates import classify\n"
    assert "harness.gates.classify" in imports(lazy, "harness.reference.probe")
    assert "harness.reference.vpr" in imports("from . import vpr\n", "harness.reference", True)
    table = [("low", ("harness.clip",)), ("high", ("harness.report", "harness.report.x"))]
    climbing = {"harness.clip.cli": {"harness.report.plots"}, "harness.report.plots": set()}
    assert upward(climbing, table) == [
        "harness.clip.cli (low) imports harness.report.plots (high), above it"
    ]
    assert "harness.nowhere is in no layer" in upward({"harness.nowhere": set()}, table)[0]
    ring = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(ring) == [["a", "b", "c"]]


def test_the_layer_table_reads_from_the_doc() -> None:
    doc = (
        "<!-- layers: x -->\n| layer | packages | what |\n|---|---|---|\n"
        "| base | `harness`, `harness.errors` | a |\n| top | `harness.commands` | b |\n"
        "<!-- /layers -->\n"
    )
    assert layers(doc) == [("base", ("harness", "harness.errors")), ("top", ("harness.commands",))]
