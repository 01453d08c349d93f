"""pytest hooks for Allure: results for scenario sessions, steps per scenario, side files.

Loaded from `harness.pytest` (`pytest_plugins`). Allure is switched on for any session that
collects scenarios (results in `reports/allure-results` unless `--alluredir` says otherwise;
the ini key `harness_alluredir = ""` turns that off); sessions of ordinary tests stay as
they were. A scenario's pictures are not waited for: those made after its result was written
are added to it between items and at the session's end, by the process (xdist worker) that ran
it. Every worker appends its own rows to the ledger (SQLite: safe with `-n N`); the
controller writes the results directory's side files at the end.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.errors import LedgerError, RecordError
from harness.pytest.keys import (
    DECISION_KEY,
    DEVICE_KEY,
    FIGURES_KEY,
    RUN_ID_KEY,
    RUNNER_KEY,
    VERDICT_KEY,
)
from harness.pytest.ledger import ledger_for, record_item, rooted

if TYPE_CHECKING:
    from harness.report.allure_late import LatePictures

# Loaded with the harness plugin by every pytest session: Allure, the gates and the record
# (numpy, pydantic) are imported in the hooks that use them, once scenarios are in play.

log = logging.getLogger(__name__)
STARTED_KEY = pytest.StashKey[float]()
DEFAULT_DIR_KEY = pytest.StashKey[bool]()
LATE_KEY = pytest.StashKey["LatePictures"]()  # results written before their pictures
KEEP_KEY = pytest.StashKey[tuple]()  # (results, run id, order): kept for the report's history


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "harness_alluredir",
        "Allure results folder for scenario sessions without --alluredir ('' disables)",
        default="reports/allure-results",
    )


def alluredir(config: pytest.Config) -> Path | None:
    """Where this session's Allure results go (None: no Allure)."""
    given = getattr(config.option, "allure_report_dir", None)
    if given:
        return Path(given).resolve()
    default = config.getini("harness_alluredir")
    if not default:
        return None
    from harness.report import allure_report

    return rooted(config, default) if allure_report.AVAILABLE else None


def _scenario_items(items: list[pytest.Item]) -> list[pytest.Item]:
    from harness.pytest.items import ScenarioItem

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
    from harness.pytest.items import ScenarioItem
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
    decision = item.stash.get(DECISION_KEY, None)
    story = ""
    if decision is not None:
        from harness.report.allure_story import story as tell

        story = tell(decision.outcome, decision.message)[1]
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
            story=story,
        )
        if late and results is not None and allure_report.AVAILABLE:
            _late_pictures(item.config, results).expect(item.out_dir, attached)
    except Exception:  # a report problem must never change the scenario's outcome
        log.exception("allure reporting failed for %s", item.nodeid)
    record_item(item, verdict, record, run_id=run_id, runner=runner, place=place)


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
        _tell_story(item)
        _add_late_pictures(item.config, drain=False)


def _tell_story(item: pytest.Item) -> None:
    """The scenario's result, written by now, rewritten to read as its gate story
    (harness.report.allure_story: an expected stop is a success, no class names)."""
    decision = item.stash.get(DECISION_KEY, None)
    results = alluredir(item.config)
    if decision is None or results is None:
        return  # not a scenario, or no Allure (a crash is reported by the controller)
    from harness.report import allure_story

    result = _late_pictures(item.config, results).result_for(item.out_dir)
    if result is None:
        log.warning("allure: no result names run folder %s: its story is not told", item.out_dir)
        return
    try:
        allure_story.rewrite(result, decision.outcome, decision.message)
    except (OSError, ValueError, TypeError, AttributeError) as exc:  # not as written
        log.warning("allure: the result of %s is left as written: %s", item.nodeid, exc)


def _add_late_pictures(config: pytest.Config, *, drain: bool) -> None:
    """Pictures answered by the figure helper into results written without them; `drain`
    waits for all (the session's end)."""
    late = config.stash.get(LATE_KEY, None)
    if late is None:  # no result waits for pictures (every plain test session)
        return
    jobs = config.stash[FIGURES_KEY]  # a run that waits for pictures was submitted to it
    if drain:
        jobs.drain()
    try:
        late.attach(jobs.finished())
    except Exception:  # a report problem must never fail the session
        log.exception("allure: adding pictures to results failed")


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
        config.stash[KEEP_KEY] = (target, run_id, order)
    allure_report.write_side_files(target, rows, order, run_id)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Once every plugin's session end has written its results (retries too), keep a copy of
    this session's for the next report's Trend and History (harness.report.build)."""
    kept = config.stash.get(KEEP_KEY, None)
    if kept is None:
        return
    from harness.report.build import keep_session

    try:
        keep_session(*kept)
    except OSError as exc:  # a report problem must never fail the session
        log.warning("allure: this session's results are not kept for the history: %s", exc)
