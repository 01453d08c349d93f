"""`harness stack input|check`: what a black-box stack's author needs without a run: the
input folder a scenario's stack gets, and an offline check of its recorded stdout."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(groups) -> None:
    sub = groups.group("stack", "a process stack's input folder and a check of its output")
    p = sub.add_parser(
        "input", help="write the input folder (and stdin ticks) a scenario's process stack gets"
    )
    p.add_argument("scenario", type=Path, help="a `pipeline: process` scenario file")
    p.add_argument(
        "-o", "--out", type=Path, help="folder to write (must not exist; default stack-input-NAME)"
    )
    p.add_argument("--cache-dir", type=Path, help="clip cache (default: the project's .cache)")
    p.set_defaults(func=run_input)
    p = sub.add_parser(
        "check", help="validate a recorded stack stdout against stack output v2, offline"
    )
    p.add_argument("output", type=Path, help="the stack's stdout, one JSON object per line")
    p.add_argument(
        "--input", type=Path, help="the input folder it ran on: frames, tiles and stamps too"
    )
    p.set_defaults(func=run_check)


def run_input(args: argparse.Namespace) -> int:
    from harness.process.offline import write_input

    out = args.out or Path(f"stack-input-{args.scenario.name.split('.')[0]}")
    made = write_input(args.scenario, out, args.cache_dir)
    rate = f"{made.rate_hz:g} Hz" if made.rate_hz else "none"
    print(
        f"{made.folder}: {made.frames} frames; query rate {rate}: {len(made.query_frames)} "
        f"query frames due a query and a fix ({made.query_frames[:5]}...)"
    )
    print(f"run by hand: HARNESS_STACK_INPUT={made.folder} YOUR-STACK < {made.ticks} > out.jsonl")
    print(f"then: harness stack check out.jsonl --input {made.folder}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from harness.process.offline import check_output

    read, problems = check_output(args.output, args.input)
    for problem in problems:
        print(problem)
    print(f"{args.output}: {read} line(s), {len(problems)} problem(s)")
    return 1 if problems or not read else 0
