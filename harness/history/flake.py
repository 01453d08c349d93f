"""Flake adjudication: after a gate move, reruns decide "regressed" or "flaky" by a Wilson bound.

The rule (docs/surprises.md): of n attempts (the first, which moved, and N reruns), m moved
away from `expect`. With the Wilson 95% score interval [lo, hi] of the move rate m/n:

- lo >= 0.5: the move is real: "regressed" (or "moved forward" for a forward move);
- lo < 0.5 and some attempt landed on `expect`: "flaky";
- lo < 0.5 and every attempt moved: "inconclusive" (too few attempts: 4 decide a unanimous
  move, so ask for --rerun-on-move 3 or more).

Numbers only, plus the ledger's `attempts` table that keeps every attempt's verdict.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from typing import Literal

from harness.gates import LADDER
from harness.history.ledger import Ledger, key_metrics
from harness.history.transitions import rank

Label = Literal["regressed", "moved forward", "flaky", "inconclusive"]
Z_95 = 1.959963984540054
MIN_MOVE_RATE = 0.5


@dataclass(frozen=True)
class Attempt:
    """One run of the scenario: its verdict and the pytest outcome the ratchet gives it."""

    number: int
    gate: str
    reason: str
    status: str  # passed, skipped, xfailed, failed, broken
    start: float
    stop: float
    out_dir: str = ""
    metrics: dict | None = None

    @property
    def landed(self) -> bool:
        """Did this attempt land on the scenario's expect (whatever the pytest word)?"""
        return self.status in ("passed", "skipped", "xfailed")


@dataclass(frozen=True)
class Adjudication:
    label: Label
    moved: int
    attempts: int
    low: float
    high: float
    min_rate: float

    @property
    def figures(self) -> str:
        return (
            f"moved in {self.moved}/{self.attempts} attempts; Wilson 95% interval of the move "
            f"rate [{self.low:.2f}, {self.high:.2f}], rule: lower bound >= {self.min_rate:.2f} "
            "is a real move"
        )

    def line(self) -> str:
        return f"{self.label}: {self.figures}"


def wilson(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion successes/n (z = 1.96: 95%)."""
    if n <= 0:
        raise ValueError("wilson needs at least one trial")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def adjudicate(
    attempts: list[Attempt], expect: str, *, min_rate: float = MIN_MOVE_RATE
) -> Adjudication:
    """The label for a move seen in `attempts[0]`, from every attempt's outcome."""
    n = len(attempts)
    moved = sum(not a.landed for a in attempts)
    low, high = wilson(moved, n)
    first = attempts[0]
    first_rank = rank(first.gate, first.reason)
    forward = first_rank is not None and first_rank > LADDER.index(expect)
    if low >= min_rate:
        label: Label = "moved forward" if forward else "regressed"
    elif moved < n:
        label = "flaky"
    else:
        label = "inconclusive"
    return Adjudication(label, moved, n, low, high, min_rate)


def is_move(status: str) -> bool:
    """A ratchet outcome that moved off `expect` (broken runs are no move: no verdict)."""
    return status == "failed"


_ATTEMPTS = """
CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT, scenario TEXT, attempt INTEGER, time REAL, gate TEXT, status TEXT,
    reason TEXT, out_dir TEXT, metrics TEXT, adjudication TEXT,
    PRIMARY KEY (run_id, scenario, attempt)
);
"""


def store_attempts(
    ledger: Ledger, run_id: str, scenario: str, attempts: list[Attempt], adj: Adjudication
) -> None:
    """Every attempt in the ledger's `attempts` table, one transaction."""
    with ledger.connect(write=True) as con:
        con.executescript(_ATTEMPTS)
        con.execute("BEGIN")
        for a in attempts:
            con.execute(
                "INSERT OR REPLACE INTO attempts VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    scenario,
                    a.number,
                    a.start or time.time(),
                    a.gate,
                    a.status,
                    a.reason,
                    a.out_dir,
                    json.dumps(key_metrics(a.metrics or {}), sort_keys=True),
                    json.dumps(asdict(adj)),
                ),
            )
        con.execute("COMMIT")


def stored_attempts(ledger: Ledger, run_id: str, scenario: str) -> list[dict]:
    """The attempts of one scenario in one run, in order (empty when it was not rerun)."""
    with ledger.connect(write=True) as con:
        con.executescript(_ATTEMPTS)
        cur = con.execute(
            "SELECT attempt, gate, status, reason, adjudication FROM attempts "
            "WHERE run_id = ? AND scenario = ? ORDER BY attempt",
            (run_id, scenario),
        )
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
