"""The offline HTML report: Allure 2 generation with the previous report's history carried over.

The generator is npm's `allure-commandline` installed by the set-up (`npm install` in the
project root puts it in node_modules/.bin/allure); nothing is downloaded at run time.

Allure's Trend and History grow by one point per generation, so a session after which nobody
built a report would be missing from them. Every scenario session therefore keeps a copy of
its results (`keep_session`, the last KEEP_SESSIONS, beside the results folder), and
`build_sessions` generates once per session not yet in the report, oldest first, each
carrying the history of the one before.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

DEFAULT_RESULTS = Path("reports/allure-results")
DEFAULT_REPORT = Path("reports/allure-report")
SESSIONS = "allure-sessions"  # beside the results folder: one folder per scenario session
KEEP_SESSIONS = 20  # sessions kept for a report not yet built (bounded: disks fill)
BUILT = "harness-sessions.json"  # in the report: the kept sessions its history holds


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


def keep_session(results: Path, run_id: str, order: int, keep: int = KEEP_SESSIONS) -> Path:
    """A copy of one session's results (hard links where the disk allows) under
    `results/../allure-sessions/<order>-<run id>`, for the next report's history; the oldest
    beyond `keep` are removed. The copy appears whole or not at all."""
    sessions = results.parent / SESSIONS
    sessions.mkdir(parents=True, exist_ok=True)
    name = f"{order:06d}-{re.sub(r'[^A-Za-z0-9_.-]', '_', run_id)}"
    staging = Path(tempfile.mkdtemp(dir=sessions, prefix=".keeping-"))
    try:
        for path in results.iterdir():
            if path.is_file():
                try:
                    os.link(path, staging / path.name)
                except OSError:
                    shutil.copy2(path, staging / path.name)
        target = sessions / name
        shutil.rmtree(target, ignore_errors=True)  # a run id used twice: the newer wins
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for old in kept_sessions(results)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def kept_sessions(results: Path) -> list[Path]:
    """The kept sessions of this results folder, oldest first."""
    sessions = results.parent / SESSIONS
    if not sessions.is_dir():
        return []
    return sorted(p for p in sessions.iterdir() if p.is_dir() and not p.name.startswith("."))


def build_sessions(
    results: Path = DEFAULT_RESULTS,
    report: Path = DEFAULT_REPORT,
    root: Path | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> tuple[Built | None, int]:
    """Generate the report once per kept session it does not hold yet (oldest first, each
    carrying the previous history), so Trend and History show every session; returns the
    last build and how many sessions it added. A report that holds every kept session is left
    as it is (None: a new generation would add the last session to the trend a second time);
    without kept sessions, it is generated from `results`."""
    done: list[str] = []
    with contextlib.suppress(OSError, ValueError, TypeError):  # no report yet, or a plain one
        done = list(json.loads((report / BUILT).read_text(encoding="utf-8")))
    kept = kept_sessions(results)
    pending = [p for p in kept if p.name not in done]
    if kept and not pending and (report / "index.html").is_file():
        return None, 0
    if not pending:
        return build(results, report, root), 0
    built = None
    for n, session in enumerate(pending, 1):
        progress(f"report: session {n}/{len(pending)} ({session.name})")
        built = build(session, report, root)
        done.append(session.name)
        (report / BUILT).write_text(json.dumps(done[-KEEP_SESSIONS * 5 :]), encoding="utf-8")
    return built, len(pending)


def serve(report: Path = DEFAULT_REPORT, host: str = "127.0.0.1", port: int = 0):
    """An HTTP server for the report folder (the report's scripts need http://, not file://)."""
    if not (report / "index.html").is_file():
        raise ReportError(f"{report}: no report here; run `harness report build` first")
    handler = functools.partial(_QuietHandler, directory=str(report))
    return http.server.ThreadingHTTPServer((host, port), handler)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass
