"""`harness report build|open|table`: the offline Allure HTML report, a local server for it, and
the README's table of what `pytest scenarios/` shows."""

from __future__ import annotations

import argparse
import webbrowser
from pathlib import Path

from harness.report.build import DEFAULT_REPORT, DEFAULT_RESULTS, build_sessions, serve


def register(groups) -> None:
    sub = groups.group("report", "the Allure HTML report")
    p = sub.add_parser(
        "build",
        help="generate the HTML report (every session since the last build joins its history)",
    )
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="allure-results folder")
    p.add_argument("--out", type=Path, default=DEFAULT_REPORT, help="report folder")
    p.set_defaults(func=run_build)
    p = sub.add_parser("open", help="serve the report on http://127.0.0.1:PORT until Ctrl-C")
    p.add_argument("--out", type=Path, default=DEFAULT_REPORT, help="report folder")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument("--no-browser", action="store_true", help="only serve, open no browser")
    p.set_defaults(func=run_open)
    p = sub.add_parser("table", help="the table of what `pytest scenarios/` shows, from a run")
    p.add_argument("--runs", type=Path, default=Path("reports/runs"), help="session folders")
    p.add_argument("--session", help="the session id (default: the newest)")
    p.add_argument("--scenarios", type=Path, default=Path("scenarios"), help="scenario folder")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--write", type=Path, metavar="README", help="replace the table in it")
    mode.add_argument(
        "--check", type=Path, metavar="README", help="exit 1 when its table differs from the run"
    )
    p.set_defaults(func=run_table)


def run_build(args: argparse.Namespace) -> int:
    built, added = build_sessions(args.results, args.out, progress=print)
    if built is None:
        print(f"report: {args.out / 'index.html'} (up to date: it holds every kept session)")
        return 0
    if added:
        how = f"{added} session(s) added to its history"
    else:
        how = "history carried over" if built.history_carried else "first report, no history"
    print(f"report: {built.index} ({how})")
    return 0


def run_open(args: argparse.Namespace) -> int:
    server = serve(args.out, port=args.port)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    print(f"serving {args.out} at {url} (Ctrl-C stops)", flush=True)
    if not args.no_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def run_table(args: argparse.Namespace) -> int:
    from harness.report import table

    verdicts = table.session_file(args.runs, args.session)
    lines = table.lines_from_run(verdicts, args.scenarios)
    if args.write:
        table.write(args.write, lines)
        print(f"{args.write}: table of {len(lines)} scenarios from {verdicts}")
        return 0
    if args.check:
        shown = table.parse(args.check.read_text(encoding="utf-8"), args.check)
        diffs = table.differences(shown, lines)
        for d in diffs:
            print(f"{args.check}: {d}")
        if diffs:
            print(
                f"{args.check}: the table differs from the run {verdicts}; fix the regression, "
                f"or run `harness report table --write {args.check}` if the change is intended"
            )
            return 1
        print(f"{args.check}: the table matches the run ({len(lines)} scenarios)")
        return 0
    print(table.render(lines))
    return 0
