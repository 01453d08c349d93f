"""`harness scenario lint|schema`: check scenario files, print the JSON Schema for editors."""

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
    p = sub.add_parser("schema", help="print the scenario JSON Schema")
    p.set_defaults(func=run_schema)


def run_lint(args: argparse.Namespace) -> int:
    from harness.scenario.load import discover, lint

    files = discover(args.paths)
    problems = lint(args.paths)
    for problem in problems:
        print(problem)
    bad = len({p.path for p in problems})
    print(f"{len(files)} scenario file(s), {bad} with errors, {len(problems)} error(s)")
    return 1 if problems or not files else 0


def run_schema(args: argparse.Namespace) -> int:
    from harness.scenario.model import Scenario

    print(json.dumps(Scenario.model_json_schema(), indent=2))
    return 0
