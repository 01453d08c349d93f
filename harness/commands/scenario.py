"""`harness scenario lint|schema|migrate`: check scenario files, print the JSON Schema for
editors, rewrite format_version 1 files as 2."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(groups) -> None:
    sub = groups.group("scenario", "check and describe scenario files")
    p = sub.add_parser(
        "lint",
        help="report every error in every scenario file (each file on its own); exit 1 on any",
    )
    p.add_argument("paths", nargs="+", type=Path, help="scenario files or folders")
    p.set_defaults(func=run_lint)
    p = sub.add_parser(
        "schema", help="print the scenario JSON Schema (the shared keys and each stack's section)"
    )
    p.set_defaults(func=run_schema)
    p = sub.add_parser(
        "migrate",
        help="rewrite format_version 1 scenario files as 2, in place (comments kept)",
    )
    p.add_argument("paths", nargs="+", type=Path, help="scenario files or folders")
    p.set_defaults(func=run_migrate)


def run_lint(args: argparse.Namespace) -> int:
    from harness.scenario.load import discover, lint

    files = discover(args.paths)
    problems = [_with_suggestion(p) for p in lint(args.paths)]
    for problem in problems:
        print(problem)
    bad = len({p.path for p in problems})
    print(f"{len(files)} scenario file(s), {bad} with errors, {len(problems)} error(s)")
    return 1 if problems or not files else 0


def _with_suggestion(problem):
    """A missing `expect_reason` gets the one the last recorded run of the file suggests."""
    from dataclasses import replace

    from harness.gates.expectation import suggested_reason
    from harness.scenario.ratchet import quoted

    if "needs an expect_reason" not in problem.message:
        return problem
    row = last_run_of(problem.path)
    if row is None:
        return replace(problem, message=problem.message + " (no recorded run of it yet)")
    said = f"the last run stopped at {row['gate']}: {row.get('reason', '')!r}"
    fix = f"expect_reason: {quoted(suggested_reason(row.get('reason', '')))}"
    return replace(problem, message=f"{problem.message}; {said}; e.g. {fix}")


def last_run_of(path: Path) -> dict | None:
    """The newest verdicts.jsonl line of the scenario file `path` under its project's
    reports/runs (None when no session ran it)."""
    from harness.scenario.load import project_root

    runs = project_root(path.parent) / "reports" / "runs"
    sessions = sorted(runs.glob("*/verdicts.jsonl"), key=lambda p: p.stat().st_mtime)
    for session in reversed(sessions):
        for line in reversed(session.read_text(encoding="utf-8").splitlines()):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a killed worker
            if isinstance(row, dict) and Path(str(row.get("scenario"))).resolve() == path.resolve():
                return row
    return None


def run_schema(args: argparse.Namespace) -> int:
    from harness.scenario.stacks import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    """Each file's changes, then the count; a file that does not read as YAML is named and
    left as it is (lint says why)."""
    from harness.scenario.load import discover
    from harness.scenario.migrate import migrate_file
    from harness.scenario.problems import ScenarioInvalid

    changed = refused = 0
    files = discover(args.paths)
    for path in files:
        try:
            changes = migrate_file(path)
        except ScenarioInvalid as exc:
            refused += 1
            print(f"{path}: left as it is: {exc.problems[0].message if exc.problems else exc}")
            continue
        if changes:
            changed += 1
            print(f"{path}: {'; '.join(changes)}")
    print(f"{len(files)} scenario file(s), {changed} migrated, {refused} left (run lint)")
    return 1 if refused or not files else 0
