"""`harness report build|open`: the offline Allure HTML report and a local server for it."""

from __future__ import annotations

import argparse
import webbrowser
from pathlib import Path

from harness.report.build import DEFAULT_REPORT, DEFAULT_RESULTS, build, serve


def register(groups) -> None:
    sub = groups.group("report", "the Allure HTML report")
    p = sub.add_parser("build", help="generate the HTML report (history carried over)")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="allure-results folder")
    p.add_argument("--out", type=Path, default=DEFAULT_REPORT, help="report folder")
    p.set_defaults(func=run_build)
    p = sub.add_parser("open", help="serve the report on http://127.0.0.1:PORT until Ctrl-C")
    p.add_argument("--out", type=Path, default=DEFAULT_REPORT, help="report folder")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument("--no-browser", action="store_true", help="only serve, open no browser")
    p.set_defaults(func=run_open)


def run_build(args: argparse.Namespace) -> int:
    built = build(args.results, args.out)
    carried = "history carried over" if built.history_carried else "first report, no history"
    print(f"report: {built.index} ({built.seconds:.1f} s, {carried})")
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
