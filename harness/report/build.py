"""The offline HTML report: Allure 2 generation with the previous report's history carried over.

The generator is npm's `allure-commandline` installed by the set-up (`npm install` in the
project root puts it in node_modules/.bin/allure); nothing is downloaded at run time.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

DEFAULT_RESULTS = Path("reports/allure-results")
DEFAULT_REPORT = Path("reports/allure-report")


class ReportError(HarnessError):
    """The HTML report cannot be generated or served."""


def find_allure(root: Path) -> Path:
    """The Allure 2 command line: $HARNESS_ALLURE, then node_modules/.bin/allure."""
    here = Path(__file__).resolve().parents[2]  # the checkout this package runs from
    candidates = (
        os.environ.get("HARNESS_ALLURE"),
        root / "node_modules" / ".bin" / "allure",
        here / "node_modules" / ".bin" / "allure",
    )
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise ReportError(
        f"no Allure 2 generator under {root}/node_modules/.bin; run `npm install` in {root} "
        "(package.json pins allure-commandline) or set HARNESS_ALLURE"
    )


@dataclass(frozen=True)
class Built:
    report: Path
    index: Path
    seconds: float
    history_carried: bool


def build(
    results: Path = DEFAULT_RESULTS,
    report: Path = DEFAULT_REPORT,
    root: Path | None = None,
    timeout_s: float = 300,
) -> Built:
    """Generate `report` from `results`, carrying `report/history` into the results first."""
    import time

    root = (root or Path.cwd()).resolve()
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise ReportError(f"{results}: no Allure results; run `pytest scenarios/` first")
    allure = find_allure(root)
    carried = (report / "history").is_dir()
    if carried:  # trends: the previous report's history becomes this generation's input
        shutil.copytree(report / "history", results / "history", dirs_exist_ok=True)
    env = {**os.environ, "ALLURE_NO_ANALYTICS": "true"}
    start = time.monotonic()
    try:
        done = subprocess.run(
            [str(allure), "generate", "--clean", "-o", str(report), str(results)],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReportError(f"{allure} generate failed: {exc}") from None
    if done.returncode != 0 or not (report / "index.html").is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise ReportError(f"{allure} generate exited {done.returncode}: {' | '.join(tail)}")
    return Built(report, report / "index.html", time.monotonic() - start, carried)


def serve(report: Path = DEFAULT_REPORT, host: str = "127.0.0.1", port: int = 0):
    """An HTTP server for the report folder (the report's scripts need http://, not file://)."""
    if not (report / "index.html").is_file():
        raise ReportError(f"{report}: no report here; run `harness report build` first")
    handler = functools.partial(_QuietHandler, directory=str(report))
    return http.server.ThreadingHTTPServer((host, port), handler)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass
