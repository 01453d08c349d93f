"""pytest hooks for surprises: reruns on a gate move (flake adjudication) and failure bundles.

Loaded from `harness.pytest` (`pytest_plugins`). Around a scenario's call phase, outside the
reporting wrapper (so the first attempt already has its Allure steps and ledger row): when the
ratchet says the gate moved and `--rerun-on-move N` asks for it, the scenario runs N more times,
every attempt goes to the ledger's `attempts` table and the rule in `harness.history.flake`
labels the move; then a scenario that did not land on its `expect` (or any, with `--bundle
all`) is packed into one archive under `reports/failures/`. Paths and sizes are printed at
the end of the session.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.errors import HarnessError
from harness.pytest.keys import DECISION_KEY, RUN_ID_KEY, VERDICT_KEY
from harness.rerun.failure_bundle import DEFAULT_MAX_MB, FAILURES_DIR, INCLUDABLE

if TYPE_CHECKING:
    from harness.history.flake import Adjudication, Attempt

log = logging.getLogger(__name__)
STARTED_KEY = pytest.StashKey[float]()
BUNDLE_PROP, ATTEMPTS_PROP = "harness_bundle", "harness_attempts"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness-surprises", "GPS-denied navigation: bundles and reruns")
    group.addoption(
        "--bundle",
        choices=("failures", "all", "none"),
        default=None,
        help="write a failure bundle for scenarios off their expect (default), every "
        "scenario, or none",
    )
    group.addoption(
        "--bundle-max-mb",
        type=float,
        default=None,
        metavar="MB",
        help=f"size bound of a bundle's optional parts (default {DEFAULT_MAX_MB:g})",
    )
    group.addoption(
        "--bundle-include",
        action="append",
        choices=INCLUDABLE,
        default=[],
        help="put the checkpoint / the clip in every bundle even above the bound (repeatable)",
    )
    group.addoption(
        "--bundle-dir",
        default=None,
        metavar="DIR",
        help=f"where bundles go (default {FAILURES_DIR})",
    )
    group.addoption(
        "--rerun-on-move",
        type=int,
        default=None,
        metavar="N",
        help="when a scenario's gate moves off its expect, run it N more times and label the "
        "move regressed, intermittent regression or flaky against the move rate of its "
        "earlier runs (one-sided Fisher exact test, 95%% confidence)",
    )
    parser.addini("harness_bundle", "failures | all | none", default="failures")
    parser.addini("harness_bundle_max_mb", "size bound of a bundle", default=str(DEFAULT_MAX_MB))
    parser.addini("harness_bundle_dir", "where failure bundles go", default=str(FAILURES_DIR))
    parser.addini("harness_rerun_on_move", "reruns after a gate move", default="0")


def _opt(config: pytest.Config, name: str, ini: str) -> str:
    value = config.getoption(name)
    return str(value) if value is not None else str(config.getini(ini))


def _number(config: pytest.Config, name: str, ini: str, kind: type) -> Any:
    raw = _opt(config, name, ini)
    try:
        value = kind(raw)
    except ValueError:
        raise pytest.UsageError(f"{name} / ini {ini} = {raw!r}: give a number") from None
    if value < 0:
        raise pytest.UsageError(f"{name} / ini {ini} = {raw!r}: give a number >= 0")
    return value


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(Summary(config), "harness-surprises-summary")
    mode = _opt(config, "--bundle", "harness_bundle")
    if mode not in ("failures", "all", "none"):
        raise pytest.UsageError(f"ini harness_bundle = {mode!r}: choose failures, all or none")
    _number(config, "--bundle-max-mb", "harness_bundle_max_mb", float)
    _number(config, "--rerun-on-move", "harness_rerun_on_move", int)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item):
    """After the scenario's first attempt was judged and reported: reruns, then the bundle."""
    from harness.pytest.items import ScenarioItem

    if not isinstance(item, ScenarioItem):
        return (yield)
    try:
        result = yield
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        replacement = _after_run(item)
        if replacement is not None:
            raise replacement from None
        raise exc
    replacement = _after_run(item)
    if replacement is not None:
        raise replacement from None
    return result


def _after_run(item: Any) -> BaseException | None:
    """Adjudicate a move and write the bundle; a problem here never changes the verdict."""
    from harness.history.flake import is_move
    from harness.pytest.items import GateFailure

    if DECISION_KEY not in item.stash:
        return None
    decision = item.stash[DECISION_KEY]
    replacement, adjudication = None, None
    reruns = _number(item.config, "--rerun-on-move", "harness_rerun_on_move", int)
    if reruns and is_move(decision.outcome):
        try:
            adjudication = _rerun(item, reruns)
        except Exception:
            log.exception("reruns of %s failed", item.nodeid)
        if adjudication is not None:
            message = f"{adjudication.line()}\n{decision.message}"
            replacement = GateFailure(message)
            item.stash[DECISION_KEY] = dataclasses.replace(decision, message=message)
    mode = _opt(item.config, "--bundle", "harness_bundle")
    if mode == "all" or (mode == "failures" and decision.outcome in ("failed", "broken")):
        try:
            _bundle(item, decision, adjudication)
        except HarnessError as exc:
            log.error("failure bundle for %s: %s", item.name, exc)
        except Exception:
            log.exception("failure bundle for %s failed", item.nodeid)
    return replacement


def _rerun(item: Any, reruns: int) -> Adjudication:
    from harness.gates import Verdict
    from harness.history.flake import adjudicate
    from harness.report import allure_report
    from harness.rerun.attempt import run_scenario

    scenario = item.loaded.scenario
    first: Verdict = item.stash[VERDICT_KEY]
    started = item.stash.get(STARTED_KEY, time.time())
    attempts = [_attempt(1, first, scenario, started, time.time(), item.out_dir)]
    timeout = item.config.getoption("--harness-timeout") or scenario.timeout_s
    runner = item.runner()
    for k in range(2, reruns + 2):
        out = item.out_dir.with_name(f"{item.name}.attempt-{k}")
        t0 = time.time()
        verdict = run_scenario(runner, item.path, out, timeout)
        attempts.append(_attempt(k, verdict, scenario, t0, time.time(), out))
    adj = adjudicate(attempts, scenario.expect, _baseline(item))
    log.info("%s: %s", item.name, adj.line())
    _store(item, item.config.stash[RUN_ID_KEY], attempts, adj)
    allure_report.adjudication_step(adj.line(), attempts)
    rows = [dataclasses.asdict(a) for a in attempts]
    item.user_properties.append((ATTEMPTS_PROP, {"line": adj.line(), "attempts": rows}))
    return adj


def _baseline(item: Any) -> Any:
    """How often the scenario moved in its earlier runs in the ledger (none without one)."""
    from harness.history.flake import Observed, observed
    from harness.pytest.ledger import ledger_for

    ledger = ledger_for(item.config)
    if ledger is None:
        return Observed()
    try:
        rows = ledger.rows(scenario=item.loaded.scenario.name)
    except HarnessError as exc:
        log.error("gate ledger: %s", exc)
        return Observed()
    return observed(rows, item.config.stash[RUN_ID_KEY])


def _attempts_prop(item: Any) -> dict | None:
    """The adjudication line and attempts this item recorded (for the bundle's manifest)."""
    return next((v for k, v in item.user_properties if k == ATTEMPTS_PROP), None)


def _attempt(k: int, verdict: Any, scenario: Any, t0: float, t1: float, out: Path) -> Attempt:
    from harness.gates.expectation import decide
    from harness.history.flake import Attempt

    status = decide(scenario.expect, verdict, scenario.expect_reason).outcome
    return Attempt(k, verdict.gate, verdict.reason, status, t0, t1, str(out), verdict.metrics)


def _store(item: Any, run_id: str, attempts: list[Attempt], adj: Adjudication) -> None:
    from harness.history.flake import store_attempts
    from harness.history.ledger import on_place
    from harness.pytest.ledger import ledger_for

    ledger = ledger_for(item.config)
    if ledger is None:
        return
    try:
        store_attempts(ledger, run_id, item.name, attempts, adj)
        for row in ledger.rows(scenario=item.loaded.scenario.name, run_id=run_id):
            if item.place is not None and not on_place(row.device, item.place):
                continue  # --farm-each-place: this item's board only
            label = adj.label.replace(" ", "-")
            reason = f"{row.reason} [{adj.line()}]"
            ledger.append(dataclasses.replace(row, status=f"failed:{label}", reason=reason))
    except HarnessError as exc:
        log.error("gate ledger: %s", exc)


def _bundle(item: Any, decision: Any, adjudication: Adjudication | None) -> None:
    from harness.errors import RecordError
    from harness.pytest.items import figures_ready
    from harness.record import RECORD_NAME, read_record
    from harness.rerun.failure_bundle import RunFacts, write_bundle
    from harness.runners.local import SubprocessRunner

    figures_ready(item)  # the bundle carries the run's pictures
    config = item.config
    runner = item.runner()
    if isinstance(runner, SubprocessRunner):
        run_cmd = runner.command(item.path, item.out_dir)
    else:
        run_cmd = ["python", "-m", "harness.run", str(item.path), "--out", str(item.out_dir)]
    params = config.invocation_params
    pytest_cmd = [sys.executable, "-m", "pytest", *params.args]
    facts = RunFacts(
        name=item.name,
        run_id=config.stash[RUN_ID_KEY],
        scenario_path=item.path,
        root=item.loaded.root,
        stack_files=item.loaded.settings.files(),
        out_dir=item.out_dir,
        expect=item.loaded.scenario.expect,
        expect_reason=item.loaded.scenario.expect_reason,
        verdict=item.stash[VERDICT_KEY].as_dict(),
        decision={
            "outcome": decision.outcome,
            "message": decision.message,
            "reruns": _attempts_prop(item) if adjudication else None,
        },
        runner=runner.name,
        command={"pytest": pytest_cmd, "cwd": [str(params.dir)], "run": run_cmd},
        cache_dir=runner.cache_dir,
    )
    try:
        record = read_record(item.out_dir / RECORD_NAME)
    except RecordError:
        record = None
    folder = Path(_opt(config, "--bundle-dir", "harness_bundle_dir"))
    folder = folder if folder.is_absolute() else config.rootpath / folder
    max_mb = _number(config, "--bundle-max-mb", "harness_bundle_max_mb", float)
    written = write_bundle(facts, record, folder, max_mb, set(config.getoption("--bundle-include")))
    text = written.summary()
    if written.left_out:
        text += "; left out: " + "; ".join(written.left_out)
    item.user_properties.append((BUNDLE_PROP, text))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[STARTED_KEY] = time.time()  # the first attempt's start, for Allure's retries


class Summary:
    """Bundle paths and adjudications, from this process or xdist workers, for the session's end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.bundles: list[str] = []
        self.adjudications: list[tuple[str, str, list[dict]]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == BUNDLE_PROP:
                self.bundles.append(f"{report.nodeid}: {value}")
            elif key == ATTEMPTS_PROP:
                self.adjudications.append((report.nodeid, value["line"], value["attempts"]))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.adjudications:
            terminalreporter.section("gate moves: reruns")
            for nodeid, line, attempts in self.adjudications:
                terminalreporter.write_line(f"{nodeid}: {line}")
                for a in attempts:
                    terminalreporter.write_line(
                        f"    attempt {a['number']}: {a['gate']} ({a['status']}) "
                        f"{a['reason'][:100]}"
                    )
        if self.bundles:
            terminalreporter.section("failure bundles")
            for line in self.bundles:
                terminalreporter.write_line(line)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Allure: each attempt of an adjudicated scenario becomes a retry of its result."""
        if hasattr(self.config, "workerinput") or not self.adjudications:
            return
        from harness.pytest.allure import alluredir
        from harness.report import allure_retries

        target = alluredir(self.config)
        if target is None or not target.is_dir():
            return
        run_id = self.config.stash[RUN_ID_KEY]
        for nodeid, _line, attempts in self.adjudications:
            name = nodeid.rsplit("::", 1)[-1]
            try:
                allure_retries.write_retries(target, name, run_id, attempts)
            except (OSError, ValueError) as exc:
                log.error("allure retries for %s: %s", nodeid, exc)
