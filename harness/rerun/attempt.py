"""One more run of a scenario through a runner, judged as the plugin judges it (replay, bisect)."""

from __future__ import annotations

import re
from pathlib import Path

from harness.gates import Verdict
from harness.runners import Runner


def run_scenario(runner: Runner, scenario: Path, out_dir: Path, timeout_s: float) -> Verdict:
    """Run `scenario` into `out_dir` and return its verdict (infra-error when the run broke)."""
    return runner.run(scenario, out_dir, timeout_s).verdict()


def normalise(text: str, roots: list[str]) -> str:
    """`text` with each project root replaced by `<root>`, so two folders' reasons compare."""
    for root in sorted({r for r in roots if r}, key=len, reverse=True):
        text = text.replace(root, "<root>")
    return re.sub(r"\s+", " ", text).strip()
