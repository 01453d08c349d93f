"""Raising a scenario's `expect` in place (`harness gates update`): the ratchet only goes up,
and `expect_reason` follows it (never a stale pin from the gate it left)."""

from __future__ import annotations

import re
from pathlib import Path

from harness.gates import LADDER
from harness.gates.expectation import suggested_reason
from harness.scenario.load import read_yaml
from harness.scenario.model import PINNED
from harness.scenario.problems import position


def quoted(pattern: str) -> str:
    """`pattern` as a single-quoted YAML scalar (no escapes to read twice)."""
    return "'" + pattern.replace("'", "''") + "'"


def raise_expect(path: Path, reached: str, reason: str = "") -> str | None:
    """Rewrite `expect:` in place if `reached` is further up the ladder; never lowers it.

    Only the `expect` line changes, and the `expect_reason` line: rewritten from the run's
    `reason` at a gate that needs one (added under `expect` when missing), dropped at one that
    does not (pass, empty-backbones). Comments and key order stay as written.
    Returns the old value when the file was changed.
    """
    if reached not in LADDER:
        return None
    tree = read_yaml(path)
    old = tree.get("expect")
    if old not in LADDER or LADDER.index(reached) <= LADDER.index(old):
        return None
    line, _ = position(tree, ("expect",))
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    new_line, n = re.subn(
        rf"^(\s*expect\s*:\s*)(['\"]?){re.escape(old)}\2",
        rf"\g<1>\g<2>{reached}\g<2>",
        lines[line - 1],
    )
    if n != 1:
        return None
    lines[line - 1] = new_line
    pin = f"expect_reason: {quoted(suggested_reason(reason))}\n" if reached in PINNED else ""
    if "expect_reason" in tree:
        at, _ = position(tree, ("expect_reason",))
        indent = re.match(r"\s*", lines[at - 1]).group()
        lines[at - 1] = indent + pin if pin else ""
    elif pin:
        indent = re.match(r"\s*", new_line).group()
        lines.insert(line, indent + pin)
    path.write_text("".join(lines), encoding="utf-8")
    return old
