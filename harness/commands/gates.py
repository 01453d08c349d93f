"""`harness gates diff|check|history|update`: transitions, the Tier-2 pre-merge check, trends,
and the expectation ratchet."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.errors import LedgerError
from harness.history import refusals
from harness.history.ledger import DEFAULT_LEDGER, Ledger

ALLOW_HELP = {
    "missing": "baseline scenarios the head run lacks",
    "not-comparable": "scenarios whose clip or corpus changed since the baseline",
    "ledger-gap": "head verdicts that never reached the ledger (a failed write)",
    "unpinned": "head scenarios run with a checkpoint their stack does not pin",
}


FORMAT_HELP = "text for a terminal (default) or md: Markdown for a pull request"


def register(groups) -> None:
    sub = groups.group("gates", "gate verdicts: ratchet, transitions, Tier-2 check")
    ledger_help = f"the gate ledger (default {DEFAULT_LEDGER})"

    p = sub.add_parser("diff", help="scenarios whose gate moved between two runs")
    p.add_argument("a", help="the earlier run: run id, git sha or 'last green'")
    p.add_argument("b", help="the later run: run id, git sha or 'last green'")
    p.add_argument("--ledger", type=Path, default=DEFAULT_LEDGER, help=ledger_help)
    p.add_argument("--all", action="store_true", help="list unmoved scenarios too")
    p.add_argument("--format", choices=("text", "md"), default="text", help=FORMAT_HELP)
    p.set_defaults(func=run_diff)

    p = sub.add_parser("check", help="Tier-2 pre-merge check: exit 0 ok, 1 regression, 2 broken")
    p.add_argument("--baseline", required=True, help="run id, git sha or 'last green'")
    p.add_argument("--run", help="the run to judge (default: the newest in the ledger)")
    p.add_argument("--ledger", type=Path, default=DEFAULT_LEDGER, help=ledger_help)
    p.add_argument("--markdown", type=Path, help="write the merge-request summary here")
    p.add_argument("--format", choices=("text", "md"), default="text", help=FORMAT_HELP)
    p.add_argument(
        "--runs",
        type=Path,
        default=Path("reports/runs"),
        help="the sessions' run folders, to find verdicts that never reached the ledger "
        "(default reports/runs)",
    )
    for kind, (flag, _) in refusals.FLAGS.items():
        p.add_argument(
            flag,
            dest="allow",
            action="append_const",
            const=kind,
            default=[],
            help=f"do not withhold the OK for {ALLOW_HELP[kind]}",
        )
    p.set_defaults(func=run_check)

    p = sub.add_parser("history", help="a scenario's gate and key metrics over the ledger's runs")
    p.add_argument("scenario", help="scenario name")
    p.add_argument("--ledger", type=Path, default=DEFAULT_LEDGER, help=ledger_help)
    p.add_argument("--device", help="one farm board's rows only (default: each on its own)")
    p.add_argument("--plot", type=Path, help="PNG path (default reports/history/SCENARIO.png)")
    p.add_argument("--format", choices=("text", "md"), default="text", help=FORMAT_HELP)
    p.set_defaults(func=run_history)

    p = sub.add_parser(
        "update",
        help="raise `expect` (and rewrite `expect_reason`) from the last run (never lowers it)",
    )
    p.add_argument("paths", nargs="*", type=Path, help="only scenarios under these paths")
    p.add_argument(
        "--runs",
        type=Path,
        default=Path("reports/runs"),
        help="folder of session run folders (default reports/runs); the newest is used",
    )
    p.set_defaults(func=run_update)


def run_diff(args: argparse.Namespace) -> int:
    from harness.history import tier2, views

    ledger = Ledger(args.ledger)
    a, b = tier2.resolve_run(ledger, args.a), tier2.resolve_run(ledger, args.b)
    transitions = tier2.diff(ledger, a, b)
    bullet = "- " if args.format == "md" else ""
    for line in views.sides(ledger.rows(run_id=a), a, ledger.rows(run_id=b), b):
        print(bullet + line)
    print()
    print(views.transitions(transitions, args.format, only_moved=not args.all))
    return 0


def run_check(args: argparse.Namespace) -> int:
    from harness.history import tier2

    ledger = Ledger(args.ledger)
    try:
        result = tier2.check(
            ledger, args.baseline, args.run, runs_dir=args.runs, allow=frozenset(args.allow)
        )
    except LedgerError as exc:  # no baseline, no ledger: no verdict is possible
        text = f"## Tier-2 gate check\n\n**No verdict**: {exc}\n"
        if args.markdown:
            args.markdown.parent.mkdir(parents=True, exist_ok=True)
            args.markdown.write_text(text, encoding="utf-8")
        print(f"harness: error: {exc}", file=sys.stderr)
        return tier2.NO_VERDICT
    print(tier2.summary(result, args.format))
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(tier2.summary(result, "md"), encoding="utf-8")
    return result.exit_code


def run_history(args: argparse.Namespace) -> int:
    ledger = Ledger(args.ledger)
    rows = ledger.rows(scenario=args.scenario)
    boards = _by_board(rows)
    if args.device is not None:
        boards = {b: own for b, own in boards.items() if b == args.device}
    if not boards:
        on = f" on board {args.device!r}" if args.device is not None else ""
        raise LedgerError(f"{ledger.path}: no row for scenario {args.scenario!r}{on}")
    for board, own in boards.items():
        plot = args.plot or Path("reports/history") / f"{args.scenario}.png"
        if len(boards) > 1:
            print(f"board {board or '(this host)'}")
            plot = plot.with_name(f"{plot.stem}@{board or 'host'}{plot.suffix}")
        _history(args.scenario, own, plot, args.format)
    return 0


def _by_board(rows: list) -> dict[str, list]:
    """A scenario on several farm boards: one history each, never mixed. A board is the place
    of a `place/accelerator` device (a bare place: a run that broke before naming its
    accelerator); everything else (`cpu`, none) ran on this host."""
    places = {r.device.split("/")[0] for r in rows if r.device and "/" in r.device}
    boards: dict[str, list] = {}
    for r in rows:
        d = r.device or ""
        board = d.split("/")[0] if "/" in d else d if d in places else ""
        boards.setdefault(board, []).append(r)
    return boards


def _history(scenario: str, rows: list, plot: Path, fmt: str) -> None:
    from harness.history import views
    from harness.history.transitions import flaky_scenarios
    from harness.report.history_plots import plot_history

    flaky = flaky_scenarios(rows).get(scenario)
    print(views.history(rows, fmt))  # type: ignore[arg-type]
    if flaky:
        print(f"FLAKY: {flaky}")
    print(f"plot: {plot_history(rows, plot, flaky=flaky)}")


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
    from harness.scenario.ratchet import raise_expect

    scope = [p.resolve() for p in args.paths]
    changed = 0
    for row in last_verdicts(args.runs):
        path = Path(row["scenario"])
        if scope and not any(path.resolve().is_relative_to(s) for s in scope):
            continue
        if not path.is_file():
            continue
        old = raise_expect(path, row["gate"], row.get("reason", ""))
        if old is not None:
            changed += 1
            print(f"{path}: expect {old} -> {row['gate']} (expect_reason from the run's reason)")
    print(f"{changed} scenario(s) raised")
    return 0
