"""The Tier-2 pre-merge check: compare a run with a baseline and say merge or not, in Markdown.

Exit codes: 0 nothing regressed, 1 a gate regressed (a verdict, so it wins), 2 no verdict:
a run was broken (infra-error, config-error), the baseline cannot be found, or a refusal
(`harness.history.refusals`: a missing scenario, a not-comparable pair, a ledger gap, an
unpinned checkpoint) that no `--allow-*` flag let through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import LedgerError
from harness.gates import BROKEN
from harness.history import baseline as baselines
from harness.history import refusals as refusing
from harness.history import views
from harness.history.baseline import GREEN_STATUSES
from harness.history.ledger import BISECT_PREFIX, Ledger, Row
from harness.history.refusals import Refusal
from harness.history.transitions import Transition, compare
from harness.history.views import Format

LAST_GREEN = ("last green", "last-green", "lastgreen")
OK, REGRESSED, NO_VERDICT = 0, 1, 2


def is_green(rows: list[Row]) -> bool:
    """A run where every scenario ended as expected (pass, expected stop or SKIP)."""
    return bool(rows) and all(r.status in GREEN_STATUSES for r in rows)


def resolve_run(ledger: Ledger, ref: str, *, before: str | None = None) -> str:
    """A run id from REF: a ledger run id, a git sha (prefix) or "last green".

    With `before`, only runs older than that run are considered (a baseline is never the
    head run itself). The newest matching run wins.
    """
    runs = ledger.runs()
    if before is not None and before in runs:
        runs = runs[: runs.index(before)]
    if ref in runs:
        return ref
    runs = [r for r in runs if not r.startswith(BISECT_PREFIX)]
    rows = ledger.rows()
    by_run: dict[str, list[Row]] = {}
    for row in rows:
        by_run.setdefault(row.run_id, []).append(row)
    if ref.lower() in LAST_GREEN:
        for run in reversed(runs):
            if is_green(by_run[run]):
                return run
        raise LedgerError(f"{ledger.path}: no green run to use as the baseline")
    if re.fullmatch(r"[0-9a-fA-F]{4,40}", ref):
        for run in reversed(runs):
            if any((r.git_sha or "").startswith(ref.lower()) for r in by_run[run]):
                return run
        raise LedgerError(f"{ledger.path}: no run of git sha {ref} in the ledger")
    raise LedgerError(
        f"{ledger.path}: {ref!r} is neither a run id, a git sha nor 'last green' "
        f"(runs: {', '.join(runs[-5:]) or 'none'})"
    )


@dataclass(frozen=True)
class CheckResult:
    baseline: str
    head: str
    transitions: list[Transition]
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def regressions(self) -> list[Transition]:
        return [t for t in self.transitions if t.regressed]

    @property
    def broken(self) -> list[Transition]:
        """Scenarios the head run could not judge (infra-error, config-error)."""
        return [t for t in self.transitions if t.after is not None and t.after.gate in BROKEN]

    @property
    def refused(self) -> list[Refusal]:
        """Refusals no flag allowed: each alone withholds the OK."""
        return [r for r in self.refusals if not r.allowed]

    @property
    def exit_code(self) -> int:
        if self.regressions:
            return REGRESSED
        if self.broken or self.refused:
            return NO_VERDICT
        return OK

    @property
    def headline(self) -> str:
        if self.exit_code == REGRESSED:
            return f"**Regression**: {len(self.regressions)} scenario(s) stopped at an earlier gate"
        if self.exit_code == NO_VERDICT and self.broken:
            return f"**No verdict**: {len(self.broken)} scenario(s) broken (infra/config error)"
        if self.exit_code == NO_VERDICT:
            return f"**No verdict**: {'; '.join(r.line() for r in self.refused)}"
        forward = sum(t.move == "forward" and not t.flaky for t in self.transitions)
        return f"**OK**: no gate regressed ({forward} moved forward)"


def check(
    ledger: Ledger,
    baseline_ref: str,
    head: str | None = None,
    *,
    runs_dir: Path | None = None,
    allow: frozenset[str] = frozenset(),
) -> CheckResult:
    """Compare the head run (default: the newest) with the baseline REF.

    'last green' is chosen per scenario (`harness.history.baseline.last_green`); a run id
    or git sha names one run for every scenario. `runs_dir` (the sessions' folders) lets
    the check find head verdicts that never reached the ledger; `allow` holds the refusal
    kinds (`harness.history.refusals.FLAGS`) the user let through.
    """
    runs = ledger.runs()
    if not runs:
        raise LedgerError(f"{ledger.path}: the gate ledger is empty")
    sessions = [r for r in runs if not r.startswith(BISECT_PREFIX)] or runs
    head = resolve_run(ledger, head) if head else sessions[-1]
    history = ledger.rows()
    head_rows = [r for r in history if r.run_id == head]
    if baseline_ref.lower() in LAST_GREEN:
        before = [r for r in runs[: runs.index(head)] if not r.startswith(BISECT_PREFIX)]
        base_rows, label = baselines.last_green(history, head_rows, before)
        if not base_rows:
            raise LedgerError(
                f"{ledger.path}: no green run before {head} on the same runner and device "
                "to use as the baseline; name one with --baseline RUN_ID"
            )
    else:
        run = resolve_run(ledger, baseline_ref, before=head)
        if run == head:
            raise LedgerError(f"baseline {baseline_ref!r} is the head run {head} itself")
        base_rows = [r for r in history if r.run_id == run]
        label = f"run `{run}`"
    transitions = compare(base_rows, head_rows, history)
    gaps = refusing.ledger_gaps(runs_dir, head, head_rows, set(runs))
    return CheckResult(label, head, transitions, refusing.find(transitions, head_rows, gaps, allow))


def diff(ledger: Ledger, a: str, b: str) -> list[Transition]:
    """Transitions of every scenario from run `a` to run `b`, flakiness from all history."""
    return compare(ledger.rows(run_id=a), ledger.rows(run_id=b), ledger.rows())


def summary(result: CheckResult, fmt: Format = "md") -> str:
    """The merge-request summary (Markdown), or the same for a terminal (text)."""
    counts: dict[str, int] = {}
    for t in result.transitions:
        counts[t.move] = counts.get(t.move, 0) + 1
    tally = ", ".join(f"{n} {m}" for m, n in sorted(counts.items()))
    headline = result.headline if fmt == "md" else result.headline.replace("**", "")
    head = f"`{result.head}`" if fmt == "md" else result.head
    title = ["## Tier-2 gate check", ""] if fmt == "md" else ["Tier-2 gate check", ""]
    return "\n".join(
        [
            *title,
            headline,
            "",
            f"Baseline {result.baseline} {'→' if fmt == 'md' else '->'} head run {head}: {tally}.",
            "",
            *[f"- {r.line()}" for r in result.refusals],
            *([""] if result.refusals else []),
            views.transitions(result.transitions, fmt),
            "",
            f"Exit code {result.exit_code} (0 ok, 1 regression, 2 no verdict).",
            "",
        ]
    )
