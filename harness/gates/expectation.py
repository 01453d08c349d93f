"""How a verdict compares with a scenario's `expect`: the pytest outcome of a run.

Stopping exactly at `expect` is expected (xfail, or SKIP for empty-backbones, or a pass);
getting further fails strictly until `expect` is raised; stopping earlier is a regression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from harness.gates import BROKEN, LADDER, NO_DATA, Verdict

TRIGGER_WORDS = 6


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


def trigger(reason: str) -> str:
    """What a verdict's reason says stopped the run, without its figures, times and paths:
    "D6", "exists failed", "recall@1 (footprint)", "every gate passed". Two runs of the same
    behaviour give the same trigger; the README table check and `expect_reason` use it."""
    text = " ".join(reason.split())
    if m := re.match(r"D\d+\b", text):  # an eskf-divergence trigger
        return m.group()
    if m := re.search(r"[\w.-]+ failed\b", text):  # a provisioning check
        return m.group()
    words: list[str] = []
    for word in text.split(" "):
        figure = re.match(r"[-+<>]?\d", word) or "=" in word or word.endswith("…")
        if figure or ("/" in word and word.strip(":;,") != "n/a"):
            if words:
                break
            continue  # a leading path: the file the reason is about
        words.append(word)
        if len(words) == TRIGGER_WORDS:
            break
    return " ".join(words).rstrip(":;,")


def suggested_reason(reason: str) -> str:
    """An `expect_reason` for a run that stopped with `reason`: its trigger, escaped."""
    found = trigger(reason)
    pattern = re.sub(r"([.^$*+?{}\[\]()|\\])", r"\\\1", found)
    return f"^{pattern}" if " ".join(reason.split()).startswith(found) else pattern
