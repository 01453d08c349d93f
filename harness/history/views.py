"""The ledger read by a person: a scenario's history, a diff and the Tier-2 check, as plain text
for a terminal or as Markdown for a pull request.

Words, not pytest's statuses: an expected stop reads "as expected" (never `fail`), a gate that
moved "moved", a run that could not be judged "broken". Runs are named by run id, git sha and
worktree (a hash of the uncommitted changes: every row of uncommitted work shares one sha).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from harness.history.ledger import Row
from harness.history.transitions import Transition

Format = Literal["text", "md"]
MOVES = {  # a move in a terminal; Markdown marks the two that matter
    "forward": "forward",
    "backward": "BACKWARD",
    "same": "=",
    "broken": "broken",
    "new": "new",
    "missing": "missing",
    "not-comparable": "not comparable",
}
MD_MOVES = {**MOVES, "forward": "⬆ forward", "backward": "⬇ **backward**", "broken": "⚠ broken"}


def story(row: Row) -> str:
    """What the run did against its `expect`, in the words a reader expects."""
    status = (row.status or "").split(":", 1)
    kind, how = status[0], status[1] if len(status) > 1 else ""
    if kind == "passed":
        return "pass"
    if kind in ("xfailed", "skipped"):
        return "as expected"
    if kind == "broken":
        return "broken"
    if kind == "failed":
        return f"moved ({how})" if how else "moved"
    return kind or "?"


def worktree(row: Row) -> str:
    """`clean`, or the first characters of the hash of the uncommitted changes it ran with."""
    return f"+{row.worktree_hash[:7]}" if row.worktree_hash else "clean"


def side(rows: Sequence[Row], run_id: str) -> str:
    """A run named by id, git sha and worktree."""
    shas = sorted({(r.git_sha or "?")[:10] for r in rows}) or ["?"]
    trees = sorted({worktree(r) for r in rows}) or ["?"]
    return f"run {run_id} (git {', '.join(shas)}, worktree {', '.join(trees)})"


# A throughput sweep's sustained rate per stage (harness.gates.sweep) is always a column: its
# history is how a board getting slower shows, even while it holds still.
SUSTAINED = ".sustained_speed"


def informative_metrics(rows: Sequence[Row], limit: int = 4) -> list[str]:
    """The metrics worth a column: a sweep's sustained rates, then those that change between
    the rows (a constant says nothing), the ones of the gates the runs stopped at first, then
    by how much they vary."""
    stopped_at = {r.gate for r in rows}
    names = sorted({k for r in rows for k in r.metrics})
    sustained = [n for n in names if n.endswith(SUSTAINED)]
    scored = []
    for name in names:
        if name in sustained:
            continue
        values = [r.metrics[name] for r in rows if name in r.metrics]
        finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
        if len(set(values)) < 2 or not finite:
            continue
        spread = (max(finite) - min(finite)) / (abs(max(finite)) + abs(min(finite)) or 1.0)
        gate = name.split(".", 1)[0]
        scored.append((gate not in stopped_at, -spread, name))
    return [*sustained, *(name for *_, name in sorted(scored)[: max(0, limit - len(sustained))])]


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def render(header: list[str], rows: list[list[str]], fmt: Format) -> str:
    """A table: aligned columns for a terminal, or a Markdown table."""
    if fmt == "md":

        def cell(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    out = []
    for row in [header, *rows]:
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(out)


def history(rows: Sequence[Row], fmt: Format = "text") -> str:
    """A scenario's runs, oldest first: who ran it where, the gate and what it meant."""
    names = informative_metrics(rows)
    header = ["run", "git", "worktree", "runner", "device", "gate", "story", *names]
    table = [
        [
            r.run_id,
            (r.git_sha or "?")[:7],
            worktree(r),
            r.runner or "?",
            r.device or "?",
            r.gate,
            story(r),
            *(_number(r.metrics.get(n)) for n in names),
        ]
        for r in rows
    ]
    return render(header, table, fmt)


def deltas(t: Transition, sep: str, limit: int = 4) -> str:
    parts = [f"{k}: {_number(a)} -> {_number(b)}" for k, (a, b) in list(t.deltas.items())[:limit]]
    if len(t.deltas) > limit:
        parts.append(f"... {len(t.deltas) - limit} more")
    return sep.join(parts)


def transitions(items: Sequence[Transition], fmt: Format = "text", only_moved: bool = False) -> str:
    """One row per scenario: its gate on each side, the move, metric deltas and a note."""
    shown = [t for t in items if not only_moved or t.move != "same"]
    if not shown:
        return "(no scenario moved)" if only_moved else "(no scenario on either side)"
    sep = "<br>" if fmt == "md" else "; "
    header = ["scenario", "before", "after", "move", "metric deltas", "note"]
    table = [
        [
            t.label,
            t.before.gate if t.before else "-",
            t.after.gate if t.after else "-",
            (MD_MOVES if fmt == "md" else MOVES)[t.move] + (" (flaky)" if t.flaky else ""),
            deltas(t, sep),
            t.note,
        ]
        for t in shown
    ]
    return render(header, table, fmt)


def sides(a_rows: Sequence[Row], a: str, b_rows: Sequence[Row], b: str) -> list[str]:
    """The two sides' names, and a warning when they are the same run or the same code."""
    lines = [f"before: {side(a_rows, a)}", f"after:  {side(b_rows, b)}"]
    if a == b:
        lines.append("both sides are the same run: nothing can have moved")
    elif _code(a_rows) and _code(a_rows) == _code(b_rows):
        lines.append("both sides ran the same code (git sha and worktree): a move is the machine's")
    return lines


def _code(rows: Sequence[Row]) -> set[tuple[str | None, str | None]]:
    return {(r.git_sha, r.worktree_hash) for r in rows}
