"""The never-arrows of the design, checked on the import graph of every module (lazy imports too).

The framework judges whatever a stack writes, so it must not know our stack; the stack must
not reach into what judges it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import harness

PACKAGE = Path(harness.__file__).parent
STACK = "harness.reference"
# What the system under test must never import: the judges, the report and pytest's side.
JUDGES = (
    "harness.gates",
    "harness.report",
    "harness.pytest_scenarios",
    "harness.ratchet",
    "harness.runners",
    "harness.history",
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


def imports(source: str, name: str, is_package: bool = False) -> set[str]:
    """Every module `name` imports, at top level or inside functions, relative ones resolved."""
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
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    return {
        module_name(p): imports(p.read_text(), module_name(p), p.name == "__init__.py")
        for p in sorted(PACKAGE.rglob("*.py"))
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


def test_the_never_arrows_hold() -> None:
    edges = graph()
    assert len(edges) > 50 and any(within(m, STACK) for m in edges)
    assert violations(edges) == []


def test_the_check_sees_lazy_and_relative_imports() -> None:
    """A violation hidden in a function body or written relatively is still found."""
    edges = {
        "harness.runners.local": {"harness.reference.vpr.stage"},
        "harness.reference.eskf.stage": {"harness.gates.eskf"},
        "harness.gates.eskf": {"matplotlib.pyplot"},
        "harness.reference.vpr.stage": {"harness.clip", "harness.run.stage"},
    }
    assert len(violations(edges)) == 3
    lazy = "def f():\n    from ..gates import classify\n"
    assert "harness.gates.classify" in imports(lazy, "harness.reference.probe")
    assert "harness.reference.vpr" in imports("from . import vpr\n", "harness.reference", True)
