"""The scenario session: options and ini keys, the session's run folder and id, its end.

Options first (one group, each with an ini key), then configure/unconfigure: the run id
(shared by xdist workers through the environment), the run folder, the farm's runner when
`--farm-tags` asks for one, and the dead-worker hook in the controller.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from harness.pytest import farm
from harness.pytest.keys import (
    CANCEL_KEY,
    FIGURES_KEY,
    RUN_DIR_KEY,
    RUN_ID_KEY,
    RUN_ID_OWNED_KEY,
    RUNNER_KEY,
    RUNNER_NAME_KEY,
)
from harness.runners import RUNNER_CLASSES


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "GPS-denied navigation scenarios")
    group.addoption(
        "--runner",
        choices=sorted(RUNNER_CLASSES),
        default=None,
        help="where scenarios run: local (subprocess, default), inprocess (debugging), ...",
    )
    group.addoption(
        "--harness-runs",
        default=None,
        metavar="DIR",
        help="folder for run records, one sub-folder per session (default reports/runs)",
    )
    group.addoption(
        "--harness-timeout",
        type=float,
        default=None,
        metavar="S",
        help="override every scenario's timeout_s",
    )
    group.addoption(
        "--jetson",
        action="store_true",
        default=False,
        help="run scenarios in the e2e-runner container on a Jetson's Docker engine "
        "(docker-compose.test.jetson.yml; engine from --jetson-host or DOCKER_HOST)",
    )
    group.addoption(
        "--jetson-host",
        default=None,
        metavar="URL",
        help="the board's Docker engine, e.g. ssh://user@jetson (implies --jetson)",
    )
    group.addoption(
        "--show-runs",
        action="store_true",
        default=False,
        help="list every scenario's run folder (its record, pictures, stderr) in the summary",
    )
    parser.addini("harness_runner", "default runner for scenarios", default="local")
    parser.addini("harness_runs", "folder for run records", default="reports/runs")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tier1: runs on any host")
    config.addinivalue_line("markers", "tier2: runs on the target device (Tier-2)")
    name = config.getoption("--runner") or config.getini("harness_runner")
    if name not in RUNNER_CLASSES:
        raise pytest.UsageError(
            f"harness_runner = {name!r}: choose one of {sorted(RUNNER_CLASSES)}"
        )
    config.stash[RUNNER_NAME_KEY] = name
    root = config.rootpath
    # One folder per session, shared by xdist workers (they inherit the environment).
    # HARNESS_RUN_ID may also be set by the caller (CI) to name the session.
    if "HARNESS_RUN_ID" not in os.environ:
        os.environ["HARNESS_RUN_ID"] = time.strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:6]
        config.stash[RUN_ID_OWNED_KEY] = True
    run_id = config.stash[RUN_ID_KEY] = os.environ["HARNESS_RUN_ID"]
    runs = Path(config.getoption("--harness-runs") or config.getini("harness_runs"))
    run_dir = config.stash[RUN_DIR_KEY] = (runs if runs.is_absolute() else root / runs) / run_id
    if farm.enabled(config):  # --farm-tags: each worker on its own labgrid place
        config.stash[RUNNER_KEY] = farm.make_runner(config, run_dir)
    if not hasattr(config, "workerinput"):  # the xdist controller, or a session without xdist
        from harness.pytest.crash import CrashReporter

        config.pluginmanager.register(CrashReporter(config, run_dir, run_id), "harness-crash")


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(CANCEL_KEY, False):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if config.stash.get(RUN_ID_OWNED_KEY, False):
        os.environ.pop("HARNESS_RUN_ID", None)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if FIGURES_KEY in session.config.stash:
        session.config.stash[FIGURES_KEY].drain()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Where this session's runs lie: one line, or (--show-runs) one per scenario."""
    run_dir = config.stash.get(RUN_DIR_KEY, None)
    if run_dir is None or not (run_dir / "verdicts.jsonl").is_file():
        return  # no scenario ran (plain tests, collection only)
    shown = _relative(run_dir, config.rootpath)
    if not config.getoption("--show-runs"):
        terminalreporter.write_line(f"scenario runs: {shown}/ (--show-runs lists each)")
        return
    terminalreporter.section("scenario runs")
    for line in (run_dir / "verdicts.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            name, status = str(row["name"]), str(row["status"])
        except (ValueError, KeyError, TypeError):
            continue  # a torn line of a killed worker
        terminalreporter.write_line(f"{status:<8} {name:<40} {shown}/{name}/")


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
