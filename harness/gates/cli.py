"""`harness gates update`: raise each scenario's `expect` to where its last run stopped."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.errors import LedgerError


def register(groups) -> None:
    sub = groups.group("gates", "gate verdicts: ratchet, transitions, Tier-2 check")
    p = sub.add_parser("update", help="raise `expect` from the last run (never lowers it)")
    p.add_argument("paths", nargs="*", type=Path, help="only scenarios under these paths")
    p.add_argument(
        "--runs",
        type=Path,
        default=Path("reports/runs"),
        help="folder of session run folders (default reports/runs); the newest is used",
    )
    p.set_defaults(func=run_update)


def last_verdicts(runs: Path) -> list[dict]:
    sessions = sorted(runs.glob("*/verdicts.jsonl"), key=lambda p: p.stat().st_mtime)
    if not sessions:
        raise LedgerError(f"no run under {runs}; run `pytest scenarios/` first")
    rows = []
    for line in sessions[-1].read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a torn last line from a killed worker
    return rows


def run_update(args: argparse.Namespace) -> int:
    from harness.ratchet import raise_expect

    scope = [p.resolve() for p in args.paths]
    changed = 0
    for row in last_verdicts(args.runs):
        path = Path(row["scenario"])
        if scope and not any(path.resolve().is_relative_to(s) for s in scope):
            continue
        if not path.is_file():
            continue
        old = raise_expect(path, row["gate"])
        if old is not None:
            changed += 1
            print(f"{path}: expect {old} -> {row['gate']}")
    print(f"{changed} scenario(s) raised")
    return 0
