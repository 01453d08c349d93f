"""Scenario files of format_version 1, read as version 2 and rewritten as it.

Version 1 had no required `pipeline` (it defaulted to the reference stack) and required an
operator config (`config:`, with `overrides:`) on every file, even for a stack that never read
it. Version 2 names the stack always, and `config`/`overrides` belong to the reference stack's
section only. Reading upgrades the tree in memory; `harness scenario migrate` rewrites the
file, line by line, so comments and layout stay as written.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.scenario.problems import position

DEFAULT_PIPELINE = "reference"  # what version 1 ran when a file named no pipeline
REFERENCE_ONLY = ("config", "overrides")  # version 1 keys only the reference stack reads


def upgrade(tree: Any) -> Any:
    """A version-1 tree as version 2 (in place): the pipeline named, and the keys its stack
    does not read dropped."""
    if "pipeline" not in tree:
        tree["pipeline"] = DEFAULT_PIPELINE
    if tree["pipeline"] != DEFAULT_PIPELINE:
        for key in REFERENCE_ONLY:
            tree.pop(key, None)
    tree["format_version"] = 2
    return tree


def _top_level_end(lines: list[str], start: int) -> int:
    """The index after the block of the top-level key on line `start` (its indented lines)."""
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][:1] in (" ", "\t", "#")):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1  # keep the blank lines that separate it from the next key
    return end


def migrate_text(text: str, tree: Any) -> tuple[str, list[str]]:
    """The version-2 text of a version-1 file and what changed (empty: nothing to do)."""
    if tree.get("format_version") != 1:
        return text, []
    lines = text.splitlines(keepends=True)
    changes = []
    pipeline = tree.get("pipeline", DEFAULT_PIPELINE)
    drop: list[tuple[int, int]] = []
    if pipeline != DEFAULT_PIPELINE:
        for key in REFERENCE_ONLY:
            if key in tree:
                line = position(tree, (key,))[0] - 1
                drop.append((line, _top_level_end(lines, line)))
                changes.append(f"removed `{key}` (pipeline {pipeline} does not read it)")
    version_line = position(tree, ("format_version",))[0] - 1
    lines[version_line] = re.sub(r"(format_version\s*:\s*)1\b", r"\g<1>2", lines[version_line])
    changes.insert(0, "format_version 1 -> 2")
    if "pipeline" not in tree:
        after = position(tree, ("name",))[0] if "name" in tree else version_line + 1
        lines.insert(after, f"pipeline: {DEFAULT_PIPELINE}\n")
        drop = [(a + (a >= after), b + (a >= after)) for a, b in drop]
        changes.append(f"added `pipeline: {DEFAULT_PIPELINE}` (version 1's default)")
    for a, b in sorted(drop, reverse=True):
        del lines[a:b]
    return "".join(lines), changes


def migrate_file(path: Path) -> list[str]:
    """Rewrite a version-1 scenario file as version 2; what changed (empty: left as it was)."""
    from harness.scenario.yamlsafe import read_tree

    tree, _ = read_tree(path)
    if not hasattr(tree, "get"):
        return []
    text = path.read_text(encoding="utf-8")
    new, changes = migrate_text(text, tree)
    if changes:
        from harness.atomic import write_text

        write_text(path, new)
    return changes
