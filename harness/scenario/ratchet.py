"""Raising a scenario's `expect` in place (`harness gates update`): the ratchet only goes up."""

from __future__ import annotations

import re
from pathlib import Path

from harness.gates import LADDER
from harness.scenario.load import read_yaml
from harness.scenario.problems import position


def raise_expect(path: Path, reached: str) -> str | None:
    """Rewrite `expect:` in place if `reached` is further up the ladder; never lowers it.

    Only the value on the `expect` line changes, so comments and key order stay as written.
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
    path.write_text("".join(lines), encoding="utf-8")
    return old
