"""pytest hooks for reporting: Allure for scenario sessions, a ledger row per scenario, side files.

Loaded from `harness.plugin` (`pytest_plugins`). Allure is switched on for any session that
collects scenarios (results in `reports/allure-results` unless `--alluredir` says otherwise;
the ini key `harness_alluredir = ""` turns that off); sessions of ordinary tests stay as
they were. A scenario's pictures are not waited for: those made after its result was written
are added to it between items and at the session's end, by the process (xdist worker) that ran
it. Every worker appends its own rows to the ledger (SQLite: safe with `-n N`); the
controller writes the results directory's side files at the end.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.errors import LedgerError, RecordError
from harness.history.ledger import DEFAULT_LEDGER, Ledger, Row, row_from_run
from harness.scenario import SCENARIO_SUFFIX

if TYPE_CHECKING:
    from harness.report.allure_late import LatePictures

# Loaded with the harness plugin by every pytest session: Allure, the gates and the record
# (numpy, pydantic) are imported in the hooks that use them, once scenarios are in play.

log = logging.getLogger(__name__)
STARTED_KEY = pytest.StashKey[float]()
DEFAULT_DIR_KEY = pytest.StashKey[bool]()
LATE_KEY = pytest.StashKey["LatePictures"]()  # results written before their pictures


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness-report", "GPS-denied navigation: reports and gate ledger")
    group.addoption(
        "--gate-ledger",
        default=None,
        metavar="PATH",
        help=f"the gate ledger to append to (default {DEFAULT_LEDGER}; 'none' disables)",
    )
    parser.addini("harness_ledger", "the gate ledger file", default=str(DEFAULT_LEDGER))
    parser.addini(
        "harness_alluredir",
        "Allure results folder for scenario sessions without --alluredir ('' disables)",
        default="reports/allure-results",
    )


def _path(config: pytest.Config, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else config.rootpath / path


def ledger_for(config: pytest.Config) -> Ledger | None:
    value = config.getoption("--gate-ledger") or config.getini("harness_ledger")
    return None if value in ("", "none") else Ledger(_path(config, value))


def alluredir(config: pytest.Config) -> Path | None:
    """Where this session's Allure results go (None: no Allure)."""
    given = getattr(config.option, "allure_report_dir", None)
    if given:
        return Path(given).resolve()
    default = config.getini("harness_alluredir")
    if not default:
        return None
    from harness.report import allure_report

    return _path(config, default) if allure_report.AVAILABLE else None


def _scenario_items(items: list[pytest.Item]) -> list[pytest.Item]:
    from harness.pytest_scenarios import ScenarioItem

    return [i for i in items if isinstance(i, ScenarioItem)]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Switch Allure on for a scenario session that did not ask for --alluredir."""
    if getattr(config.option, "allure_report_dir", None) or not _scenario_items(items):
        return
    target = alluredir(config)
    if target is None or config.option.collectonly:
        return
    config.option.allure_report_dir = str(target)
    from harness.report import allure_report

    allure_report.start_listener(config, target)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item):
    """After the scenario ran (verdict known), add its steps while its Allure test is open."""
    try:
        return (yield)
    finally:
        _report(item)


def _report(item: pytest.Item) -> None:
    from harness.pytest_scenarios import (
        DEVICE_KEY,
        FIGURES_KEY,
        RUN_ID_KEY,
        RUNNER_KEY,
        VERDICT_KEY,
        ScenarioItem,
    )
    from harness.ratchet import decide
    from harness.record import read_record
    from harness.report import allure_report

    if not isinstance(item, ScenarioItem) or VERDICT_KEY not in item.stash:
        return
    results = alluredir(item.config)
    jobs = item.config.stash.get(FIGURES_KEY, None)
    # Pictures not made yet are not waited for: they are added to the result when they are.
    late = results is not None and jobs is not None and jobs.pending(item.out_dir)
    verdict = item.stash[VERDICT_KEY]
    record_path = item.out_dir / "record.jsonl"
    run_id = item.config.stash[RUN_ID_KEY]
    runner = item.config.stash[RUNNER_KEY].name
    place = item.stash.get(DEVICE_KEY, None)  # a farm board
    try:  # read once for the report and the ledger (a 300 s flight's record: ~0.1 s)
        record = read_record(record_path)
    except RecordError as exc:
        log.warning("%s: %s", item.nodeid, exc)
        record = None
    try:
        attached = allure_report.report_run(
            item,
            verdict,
            record_path,
            record,
            item.out_dir,
            runner=runner,
            run_id=run_id,
            device=place,
        )
        if late and results is not None and allure_report.AVAILABLE:
            _late_pictures(item.config, results).expect(item.out_dir, attached)
    except Exception:  # a report problem must never change the scenario's outcome
        log.exception("allure reporting failed for %s", item.nodeid)
    ledger = ledger_for(item.config)
    if ledger is None:
        return
    expect = item.loaded.scenario.expect
    row = row_from_run(
        run_id,
        item.loaded.scenario.name,  # one scenario on three boards: one name, three devices
        verdict,
        record,
        scenario_path=str(item.path),
        expect=expect,
        status=decide(expect, verdict, item.loaded.scenario.expect_reason).outcome,
    )
    if not row.runner:
        row = dataclasses.replace(row, runner=runner)
    if not row.device and place:  # broke before its record named the accelerator
        row = dataclasses.replace(row, device=place)
    _append(item.config, ledger, row)


def _late_pictures(config: pytest.Config, results: Path) -> LatePictures:
    if LATE_KEY not in config.stash:
        from harness.report.allure_late import LatePictures

        config.stash[LATE_KEY] = LatePictures(results)
    return config.stash[LATE_KEY]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Once an item's result is written (allure-pytest, at its logfinish), add the pictures
    made since, of it or of earlier items, without waiting for any."""
    try:
        return (yield)
    finally:
        _add_late_pictures(item.config, drain=False)


def _add_late_pictures(config: pytest.Config, *, drain: bool) -> None:
    """Pictures answered by the figure helper into results written without them; `drain`
    waits for all (the session's end)."""
    late = config.stash.get(LATE_KEY, None)
    if late is None:  # no result waits for pictures (every plain test session)
        return
    from harness.pytest_scenarios import FIGURES_KEY

    jobs = config.stash[FIGURES_KEY]  # a run that waits for pictures was submitted to it
    if drain:
        jobs.drain()
    try:
        late.attach(jobs.finished())
    except Exception:  # a report problem must never fail the session
        log.exception("allure: adding pictures to results failed")


def _append(config: pytest.Config, ledger: Ledger, row: Row) -> None:
    """Store a row; a failed write is logged and noted in the session's run folder, where
    `harness gates check` finds it and withholds its OK (see harness.history.refusals)."""
    from harness.pytest_scenarios import RUN_DIR_KEY

    try:
        ledger.append(row)
    except LedgerError as exc:
        log.error("gate ledger: %s", exc)
        run_dir = config.stash[RUN_DIR_KEY]
        line = json.dumps({"name": row.scenario, "error": str(exc)}) + "\n"
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            with (run_dir / "ledger-errors.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(line)
        except OSError as err:
            log.error("cannot note the failed ledger write in %s: %s", run_dir, err)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """A scenario file that does not load still gets a ledger row: config-error."""
    outcome = yield
    report: pytest.CollectReport = outcome.get_result()
    from harness.pytest_scenarios import RUN_ID_KEY, ScenarioFile

    if not report.failed or not isinstance(collector, ScenarioFile):
        return
    if collector.config.option.collectonly:  # a lint, not a run
        return
    ledger = ledger_for(collector.config)
    if ledger is None:
        return
    row = Row(
        run_id=collector.config.stash[RUN_ID_KEY],
        scenario=collector.path.name.removesuffix(SCENARIO_SUFFIX),
        gate="config-error",
        outcome="error",
        status="broken",
        scenario_path=str(collector.path),
        reason=str(report.longrepr).strip(),
    )
    _append(collector.config, ledger, row)


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[STARTED_KEY] = time.time()
    session.config.stash[DEFAULT_DIR_KEY] = not getattr(
        session.config.option, "allure_report_dir", None
    )


@pytest.hookimpl(tryfirst=True)  # before the retries copy the results (harness-surprises)
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    _add_late_pictures(config, drain=True)  # every worker its own
    if hasattr(config, "workerinput"):
        return  # xdist workers: the controller writes the side files once
    target = alluredir(config)
    ledger = ledger_for(config)
    if target is None or ledger is None or not ledger.path.exists():
        return
    from harness.pytest_scenarios import RUN_ID_KEY

    run_id = config.stash[RUN_ID_KEY]
    try:
        rows = ledger.rows(run_id=run_id)
        order = len(ledger.runs())
    except LedgerError as exc:
        log.error("gate ledger: %s", exc)
        return
    if not rows:
        return
    from harness.report import allure_report

    if config.stash.get(DEFAULT_DIR_KEY, False):
        # Our default folder holds this session only (trends live in the report's history);
        # with an explicit --alluredir the user decides (--clean-alluredir).
        allure_report.drop_older_results(target, config.stash[STARTED_KEY])
    allure_report.write_side_files(target, rows, order, run_id)
