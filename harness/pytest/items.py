"""Scenario items: *.scenario.yaml files become items that run, get a verdict, and ratchet.

The collector and the item, the runner each item runs on, then the hooks. The gate -> outcome
decision is `harness.gates.expectation.decide`; this module only enacts it (skip, xfail,
fail) so every reporter sees the native pytest outcome.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.errors import RunnerError
from harness.pytest import farm
from harness.pytest.keys import (
    CANCEL_KEY,
    DECISION_KEY,
    DEVICE_KEY,
    FIGURES_KEY,
    NAMES_KEY,
    PREFLIGHT_KEY,
    RUN_DIR_KEY,
    RUNNER_KEY,
    RUNNER_NAME_KEY,
    VERDICT_KEY,
)
from harness.pytest.started import Started
from harness.pytest.verdict_log import log_verdict
from harness.runners import runner_class
from harness.scenario import SCENARIO_SUFFIX

# Every pytest session in the environment loads this plugin: the scenario model, the gates
# and the runners (pydantic, numpy, docker) are imported when a scenario is collected or run.
if TYPE_CHECKING:
    from harness.report.figure_jobs import FigureJobs
    from harness.runners.base import Runner
    from harness.scenario.load import Loaded


def _cancel_as_ctrl_c(config: pytest.Config) -> None:
    """A CI job's cancel (SIGTERM) ends a session that runs scenarios as Ctrl-C does: the
    runs and containers are taken down and farm places released, not left behind."""
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, interrupt)
    config.stash[CANCEL_KEY] = True


def _runner(config: pytest.Config) -> Runner:
    """The session's runner, made on first use (its module may import docker)."""
    if CANCEL_KEY not in config.stash:
        _cancel_as_ctrl_c(config)
    if RUNNER_KEY not in config.stash:
        jetson_host = config.getoption("--jetson-host")
        if config.getoption("--jetson") or jetson_host:
            from harness.runners.jetson import container_runner

            runner = container_runner(config.rootpath, True, jetson_host)
        else:
            runner = runner_class(config.stash[RUNNER_NAME_KEY])(config.rootpath)
        config.stash[RUNNER_KEY] = runner
    return config.stash[RUNNER_KEY]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name.endswith(SCENARIO_SUFFIX):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self):
        from harness.scenario.load import check, duplicate_name
        from harness.scenario.problems import ScenarioInvalid

        loaded = check(self.path, self.config.rootpath)
        if isinstance(loaded, list):
            raise self.CollectError(str(ScenarioInvalid(loaded))) from None
        names = self.config.stash.setdefault(NAMES_KEY, {})
        first = names.setdefault(loaded.scenario.name, loaded)
        if first is not loaded:
            raise self.CollectError(str(ScenarioInvalid([duplicate_name(loaded, first)])))
        for marker in loaded.scenario.markers:
            self.config.addinivalue_line("markers", f"{marker}: scenario marker")
        # --farm-each-place: one item per place, `name[place]`; else one item.
        for place in farm.places(self.config) or [None]:
            name = f"{loaded.scenario.name}[{place}]" if place else loaded.scenario.name
            yield ScenarioItem.from_parent(self, name=name, loaded=loaded, place=place)


class GateFailure(AssertionError):
    """A product verdict that fails the scenario (regression, forward move, no-data)."""


class RunBroken(Exception):
    """The run itself broke (infra-error, config-error): not a product verdict."""


class ScenarioItem(pytest.Item):
    # labgrid's pytest plugin (installed with the farm) reads this on every item; none used.
    fixturenames: tuple[str, ...] = ()

    def __init__(self, *, loaded: Loaded, place: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded = loaded
        self.place = place  # --farm-each-place: the one place this item runs on
        self.add_marker(f"tier{loaded.scenario.tier}")
        if place is not None:  # --dist loadgroup sends a place's items to one worker
            self.add_marker(pytest.mark.xdist_group(name=place))
        for marker in loaded.scenario.markers:
            self.add_marker(marker)

    @property
    def out_dir(self) -> Path:
        return self.config.stash[RUN_DIR_KEY] / self.name

    def runner(self) -> Runner:
        """The runner of this item: the session's, or its place's (--farm-each-place)."""
        runner = _runner(self.config)
        return runner.runner(self.place) if self.place is not None else runner

    def runtest(self) -> None:
        from harness.gates.expectation import decide
        from harness.report.allure_report import full_name

        runner = self.runner()
        if self.place is not None:  # known before the run: a broken run keeps its history
            _farm_device(self, self.place, farm.places(self.config)[self.place])
        _preflight(self.config, runner, self.place or "")
        _held_place(self, runner)
        timeout = self.config.getoption("--harness-timeout") or self.loaded.scenario.timeout_s
        scenario = self.loaded.scenario
        # What the controller needs to report this run should the worker die during it.
        Started(
            self.nodeid, scenario.name, str(self.path), scenario.expect, runner.name,
            full_name(self), self.stash.get(DEVICE_KEY, ""),
        ).write(self.out_dir)  # fmt: skip
        verdict = runner.run(self.path, self.out_dir, timeout).verdict()
        _held_place(self, runner)  # a place lost between runs is reserved anew in run()
        self.stash[VERDICT_KEY] = verdict
        _figure_jobs(self.config).submit(self.out_dir)
        decision = decide(scenario.expect, verdict, scenario.expect_reason)
        self.stash[DECISION_KEY] = decision
        log_verdict(
            self.config.stash[RUN_DIR_KEY],
            str(self.path),
            scenario.name,
            scenario.expect,
            verdict,
            decision.outcome,
            self.stash.get(DEVICE_KEY, "") or None,
        )
        if decision.outcome == "skipped":
            pytest.skip(decision.message)
        if decision.outcome == "xfailed":
            pytest.xfail(decision.message)
        if decision.outcome == "broken":
            raise RunBroken(decision.message)
        if decision.outcome == "failed":
            raise GateFailure(decision.message)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style=None) -> str:
        if isinstance(excinfo.value, (GateFailure, RunBroken)):
            return f"{excinfo.value}\n(run record: {self.out_dir / 'record.jsonl'})"
        if isinstance(excinfo.value, pytest.xfail.Exception):  # an expected gate: its message
            return str(excinfo.value)  # (pytest's traceback repr cost ~0.2 s per scenario)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.loaded.line - 1, f"scenario {self.name}"


def _preflight(config: pytest.Config, runner: Runner, key: str) -> None:
    """Check a runner once per session (a farm place's once per place); its later items skip
    with the first failure's reason, and other places' items are not touched."""
    checked = config.stash.setdefault(PREFLIGHT_KEY, {})
    if key not in checked:
        checked[key] = ""
        try:
            runner.preflight()
        except RunnerError as exc:
            checked[key] = str(exc)
            raise RunBroken(f"infra-error: {runner.name} runner preflight failed: {exc}") from None
    if failed := checked[key]:
        pytest.skip(f"{runner.name} runner unavailable: {failed}")


def _farm_device(item: ScenarioItem, place: str | None, tags: dict[str, str]) -> None:
    """The board as the Allure `device` parameter (one history per board), its tags beside."""
    from harness.report.allure_report import device_parameters

    if place:
        item.stash[DEVICE_KEY] = place
        device_parameters(place, tags)


def _held_place(item: ScenarioItem, runner: Runner) -> None:
    """One place per worker (no --farm-each-place): the place this worker holds now."""
    if item.place is not None or not farm.enabled(item.config):
        return
    from harness.runners.farm import FarmRunner

    if isinstance(runner, FarmRunner):
        _farm_device(item, runner.device, runner.tags)


def _figure_jobs(config: pytest.Config) -> FigureJobs:
    if FIGURES_KEY not in config.stash:
        from harness.report.figure_jobs import FigureJobs

        config.stash[FIGURES_KEY] = FigureJobs()
    return config.stash[FIGURES_KEY]


def figures_ready(item: pytest.Item) -> None:
    """Wait for a scenario's pictures, for whoever must show them at once (a failure bundle);
    the Allure report does not wait (harness.report.allure_late adds them when made)."""
    if isinstance(item, ScenarioItem) and FIGURES_KEY in item.config.stash:
        item.config.stash[FIGURES_KEY].wait(item.out_dir)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Point a scenario's SKIP at its YAML line rather than at this plugin."""
    report = yield
    if isinstance(item, ScenarioItem) and report.skipped and isinstance(report.longrepr, tuple):
        report.longrepr = (str(item.path), item.loaded.line, report.longrepr[2])
    return report
