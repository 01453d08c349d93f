"""What withholds a Tier-2 OK though no gate regressed, and the flag that allows each.

A verdict of "nothing regressed" is only worth something when every scenario of the
baseline was run again, on the same inputs, with every row in the ledger and a pinned
checkpoint. Each condition below refuses the OK (exit 2) unless its named flag allows it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.history.ledger import Row
from harness.history.transitions import Transition, label

# kind -> (the command-line flag that allows it, what to do instead)
FLAGS = {
    "missing": ("--allow-missing", "run the missing scenarios in the head run"),
    "not-comparable": (
        "--allow-not-comparable",
        "compare with a baseline on the same clip and corpus (or refresh the baseline)",
    ),
    "ledger-gap": ("--allow-ledger-gaps", "fix the ledger and rerun the session"),
    "unpinned": (
        "--allow-unpinned",
        "pin the checkpoint with `harness provision pin` and rerun",
    ),
}


@dataclass(frozen=True)
class Refusal:
    kind: str
    items: tuple[str, ...]
    allowed: bool

    @property
    def flag(self) -> str:
        return FLAGS[self.kind][0]

    def line(self) -> str:
        what = {
            "missing": "scenario(s) missing from the head run",
            "not-comparable": "scenario(s) not comparable with the baseline",
            "ledger-gap": "verdict(s) of the head session not in the ledger",
            "unpinned": "scenario(s) run with an unpinned checkpoint",
        }[self.kind]
        head = f"{len(self.items)} {what}: {', '.join(self.items[:8])}"
        if len(self.items) > 8:
            head += f", … {len(self.items) - 8} more"
        if self.allowed:
            return f"{head} (allowed by {self.flag})"
        return f"{head}; {FLAGS[self.kind][1]}, or pass {self.flag} to allow it"


def _jsonl(path: Path) -> list[dict]:
    out = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line from a killed worker
    return out


def ledger_gaps(
    runs_dir: Path | None, head: str, head_rows: list[Row], known: set[str]
) -> list[str]:
    """Scenarios the head session judged that have no ledger row (a failed or lost write),
    and sessions newer than the head that wrote verdicts but no ledger row at all."""
    if runs_dir is None or not runs_dir.is_dir():
        return []
    have = {r.scenario for r in head_rows}
    gaps = []
    session = runs_dir / head
    errors = {e.get("name"): e.get("error", "?") for e in _jsonl(session / "ledger-errors.jsonl")}
    logged = {v.get("name") for v in _jsonl(session / "verdicts.jsonl")} | set(errors)
    for name in sorted(n for n in logged if n and n not in have):
        gaps.append(f"{name} ({errors.get(name, 'no ledger row')})")
    newest = max((r.time for r in head_rows), default=0.0)
    for verdicts in runs_dir.glob("*/verdicts.jsonl"):
        run = verdicts.parent.name
        if run not in known and verdicts.stat().st_mtime > newest:
            gaps.append(f"session {run} (newer than the head, no ledger row at all)")
    return sorted(set(gaps))


def find(
    transitions: list[Transition],
    head_rows: list[Row],
    gaps: list[str],
    allow: frozenset[str] = frozenset(),
) -> list[Refusal]:
    """Every refusal that applies; `allow` holds the kinds the user let through."""
    found = {
        "missing": [t.label for t in transitions if t.move == "missing"],
        "not-comparable": [
            f"{t.label} ({t.note})" for t in transitions if t.move == "not-comparable"
        ],
        "ledger-gap": gaps,
        "unpinned": [
            label(r.scenario, r.device) for r in head_rows if r.checkpoint_pinned is False
        ],
    }
    return [Refusal(kind, tuple(items), kind in allow) for kind, items in found.items() if items]
