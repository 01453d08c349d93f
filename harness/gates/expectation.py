"""How a verdict compares with a scenario's `expect`: the pytest outcome of a run.

Stopping exactly at `expect` is expected (xfail, or SKIP for empty-backbones, or a pass);
getting further fails strictly until `expect` is raised; stopping earlier is a regression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from harness.gates import BROKEN, LADDER, NO_DATA, Verdict


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
