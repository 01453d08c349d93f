"""Flake adjudication: after a gate move, reruns decide whether the head regressed, by
comparing its move rate with the baseline's.

The rule (docs/surprises.md): of n attempts at the head (the first, which moved, and N
reruns), m moved away from `expect`; of the scenario's N_b earlier runs (the baseline's
observed rate, `observed`), k did. With the one-sided Fisher exact test of "the head moves
more often than the baseline" at 95% confidence (p < 0.05):

- p < 0.05: the head moves clearly more often: "regressed" (or "moved forward");
- the baseline never moved (k = 0): "regressed" when every attempt moved, else
  "intermittent regression" (a regression that happens sometimes, not noise);
- the baseline moved too and the head not clearly more often: "flaky".

Only "flaky" exempts a move (harness.history.transitions); the other labels fail a Tier-2
check. Numbers only, plus the ledger's `attempts` table that keeps every attempt's verdict.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

from harness.gates import LADDER
from harness.history.ledger import BISECT_PREFIX, Ledger, Row, key_metrics
from harness.history.transitions import rank

Label = Literal["regressed", "moved forward", "intermittent regression", "flaky"]
ALPHA = 0.05  # one-sided, 95% confidence
BASELINE_RUNS = 20  # the newest earlier runs that give the baseline's rate
GREEN = ("passed", "skipped", "xfailed")


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
        return self.status in GREEN


@dataclass(frozen=True)
class Observed:
    """How often the scenario moved off its expect in its earlier runs."""

    moved: int = 0
    runs: int = 0


@dataclass(frozen=True)
class Adjudication:
    label: Label
    moved: int
    attempts: int
    baseline: Observed
    p_value: float

    @property
    def figures(self) -> str:
        base = self.baseline
        return (
            f"moved in {self.moved}/{self.attempts} attempts, the baseline in "
            f"{base.moved}/{base.runs} earlier runs; one-sided Fisher exact test p = "
            f"{self.p_value:.3f} (a clearly higher move rate below {ALPHA:g})"
        )

    def line(self) -> str:
        return f"{self.label}: {self.figures}"


def fisher_greater(moved: int, n: int, base_moved: int, base_n: int) -> float:
    """One-sided Fisher exact p-value that a rate of moved/n exceeds base_moved/base_n: the
    hypergeometric chance of at least `moved` of all the moves falling in the n attempts."""
    total, both = moved + base_moved, n + base_n
    top = min(n, total)
    hits = sum(math.comb(n, x) * math.comb(base_n, total - x) for x in range(moved, top + 1))
    return hits / math.comb(both, total)


def adjudicate(
    attempts: list[Attempt], expect: str, baseline: Observed = Observed()
) -> Adjudication:
    """The label for a move seen in `attempts[0]`, from every attempt's outcome and the
    baseline's observed move rate."""
    n = len(attempts)
    moved = sum(not a.landed for a in attempts)
    p = fisher_greater(moved, n, baseline.moved, baseline.runs)
    first = attempts[0]
    first_rank = rank(first.gate, first.reason)
    forward = first_rank is not None and first_rank > LADDER.index(expect)
    if p < ALPHA or (baseline.moved == 0 and moved == n):
        label: Label = "moved forward" if forward else "regressed"
    elif baseline.moved == 0:
        label = "intermittent regression"
    else:
        label = "flaky"
    return Adjudication(label, moved, n, baseline, p)


def observed(rows: Iterable[Row], run_id: str) -> Observed:
    """The baseline's rate: of the scenario's newest BASELINE_RUNS earlier runs that judged it
    (not this run, not a bisect step, not broken), how many moved off their expect."""
    judged = [
        r
        for r in rows
        if r.run_id != run_id
        and not r.run_id.startswith(BISECT_PREFIX)
        and (r.status in GREEN or (r.status or "").startswith("failed"))
    ][-BASELINE_RUNS:]
    return Observed(sum(r.status not in GREEN for r in judged), len(judged))


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
