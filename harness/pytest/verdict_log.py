"""The session's verdicts.jsonl: one line per scenario run, written by whichever process ran it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.gates import Verdict


def log_verdict(
    run_dir: Path,
    path: str,
    name: str,
    expect: str,
    verdict: Verdict,
    status: str | None = None,
    device: str | None = None,
) -> None:
    """Append to the session's verdicts.jsonl (one write per line: safe across xdist workers).

    `status` is the pytest outcome after the ratchet (`harness report table` lists it); when
    not given it is decided from `expect` alone. `device`: the farm place it ran on."""
    from harness.gates.expectation import decide

    if status is None:
        status = decide(expect, verdict, None).outcome
    run_dir.mkdir(parents=True, exist_ok=True)
    line = (
        json.dumps(
            {
                "scenario": path,
                "name": name,
                "expect": expect,
                "gate": verdict.gate,
                "outcome": verdict.outcome,
                "reason": verdict.reason,
                "status": status,
                **({"device": device} if device else {}),
            }
        )
        + "\n"
    )
    with (run_dir / "verdicts.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(line)
