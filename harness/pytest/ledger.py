"""pytest hooks for the gate ledger: one row per scenario run, and a config-error row for a
scenario file that does not load (so aggregation always finds one).

Every process that runs scenarios (each xdist worker) appends its own rows (SQLite: safe with
`-n N`). A failed write is logged and noted in the session's run folder, where `harness gates
check` finds it and withholds its OK (harness.history.refusals).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.errors import LedgerError
from harness.history.ledger import DEFAULT_LEDGER, Ledger, Row, row_from_run
from harness.pytest.keys import RUN_DIR_KEY, RUN_ID_KEY
from harness.scenario import SCENARIO_SUFFIX

if TYPE_CHECKING:
    from harness.gates import Verdict

log = logging.getLogger(__name__)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness-report", "GPS-denied navigation: reports and gate ledger")
    group.addoption(
        "--gate-ledger",
        default=None,
        metavar="PATH",
        help=f"the gate ledger to append to (default {DEFAULT_LEDGER}; 'none' disables)",
    )
    parser.addini("harness_ledger", "the gate ledger file", default=str(DEFAULT_LEDGER))


def rooted(config: pytest.Config, value: str) -> Path:
    """A configured path, relative ones taken from the rootdir."""
    path = Path(value)
    return path if path.is_absolute() else config.rootpath / path


def ledger_for(config: pytest.Config) -> Ledger | None:
    value = config.getoption("--gate-ledger") or config.getini("harness_ledger")
    return None if value in ("", "none") else Ledger(rooted(config, value))


def record_item(
    item: Any, verdict: Verdict, record: Any, *, run_id: str, runner: str, place: str | None
) -> None:
    """The ledger row of a scenario item that ran (its record read once by the caller)."""
    from harness.gates.expectation import decide

    ledger = ledger_for(item.config)
    if ledger is None:
        return
    scenario = item.loaded.scenario
    row = row_from_run(
        run_id,
        scenario.name,  # one scenario on three boards: one name, three devices
        verdict,
        record,
        scenario_path=str(item.path),
        expect=scenario.expect,
        status=decide(scenario.expect, verdict, scenario.expect_reason).outcome,
    )
    if not row.runner:
        row = dataclasses.replace(row, runner=runner)
    if not row.device and place:  # broke before its record named the accelerator
        row = dataclasses.replace(row, device=place)
    _append(item.config, ledger, row)


def _append(config: pytest.Config, ledger: Ledger, row: Row) -> None:
    """Store a row; a failed write is logged and noted in the session's run folder, where
    `harness gates check` finds it and withholds its OK (harness.history.refusals)."""
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
    from harness.pytest.items import ScenarioFile

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
