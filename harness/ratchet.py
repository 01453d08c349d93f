"""The expectation ratchet: how a verdict compares with a scenario's `expect`, and raising it.

Stopping exactly at `expect` is expected (xfail, or SKIP for empty-backbones, or a pass);
getting further fails strictly until `expect` is raised; stopping earlier is a regression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.gates import BROKEN, LADDER, NO_DATA, Verdict
from harness.scenario.load import read_yaml
from harness.scenario.problems import position


@dataclass(frozen=True)
class Decision:
    outcome: Literal["passed", "skipped", "xfailed", "failed", "broken"]
    message: str


def decide(expect: str, verdict: Verdict, expect_reason: str | None = None) -> Decision:
    """The pytest outcome for a scenario that expects `expect` and got `verdict`.

    `expect_reason`, a regular expression, pins why the run stops at `expect` (e.g. which
    divergence trigger): stopping there for another reason fails.
    """
    gate, why = verdict.gate, verdict.reason
    if expect not in LADDER:  # no-data, infra-error, config-error: the framework's honesty
        if gate == expect and expect_reason and re.search(expect_reason, why):
            return Decision("xfailed", f"{gate} as expected: {why}")
        if gate == expect:
            return Decision(
                "failed",
                f"{gate} as expected, but {why!r} does not match expect_reason {expect_reason!r}",
            )
        return Decision("failed", f"expected {expect}, got {gate}: {why}")
    if gate in BROKEN:
        return Decision("broken", f"{gate}: {why}")
    if gate == NO_DATA:
        return Decision("failed", f"no-data: {why}")
    reached, expected = LADDER.index(gate), LADDER.index(expect)
    if reached == expected:
        if expect_reason and not re.search(expect_reason, why):
            return Decision(
                "failed",
                f"stopped at {gate} as expected, but {why!r} does not match "
                f"expect_reason {expect_reason!r}",
            )
        if gate == "pass":
            return Decision("passed", "pass")
        if gate == "empty-backbones":
            return Decision("skipped", f"empty-backbones: {why}")
        return Decision("xfailed", f"{gate}: {why}")
    if reached > expected:
        return Decision(
            "failed", f"gate moved forward: raise expect to {gate} (was {expect}); {gate}: {why}"
        )
    return Decision("failed", f"regression: stopped at {gate}, expected {expect}; {gate}: {why}")


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
