"""The pytest plugin: *.scenario.yaml files become items that run, get a verdict, and ratchet.

Loaded by pytest through `harness.plugin` (the `pytest11` entry point). Options and ini keys
first, then the collector and the item, then the hooks. The gate -> outcome decision is
`harness.ratchet.decide`; this module only enacts it (skip, xfail, fail) so every reporter sees
the native pytest outcome.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.errors import RunnerError
from harness.runners import RUNNER_CLASSES, farm_plugin, runner_class
from harness.scenario import SCENARIO_SUFFIX

# Every pytest session in the environment loads this plugin: the scenario model, the gates
# and the runners (pydantic, numpy, docker) are imported when a scenario is collected or run.
if TYPE_CHECKING:
    from harness.gates import Verdict
    from harness.report.figure_jobs import FigureJobs
    from harness.runners.base import Runner
    from harness.scenario.load import Loaded

RUNNER_NAME_KEY = pytest.StashKey[str]()
RUNNER_KEY = pytest.StashKey["Runner"]()  # made when the first scenario runs
# Per runner (a farm place's, or "" for the session's): its first preflight failure, or "".
PREFLIGHT_KEY = pytest.StashKey[dict[str, str]]()
VERDICT_KEY = pytest.StashKey["Verdict"]()
DEVICE_KEY = pytest.StashKey[str]()  # the farm place a scenario ran on (its Allure device)
RUN_DIR_KEY = pytest.StashKey[Path]()
RUN_ID_KEY = pytest.StashKey[str]()
RUN_ID_OWNED_KEY = pytest.StashKey[bool]()  # this session made the id: drop it when done
NAMES_KEY = pytest.StashKey["dict[str, Loaded]"]()  # scenario name -> the file that has it
CANCEL_KEY = pytest.StashKey[bool]()  # SIGTERM handled as Ctrl-C (True: this plugin set it)
FIGURES_KEY = pytest.StashKey["FigureJobs"]()  # the runs' pictures, made in the background


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
    if farm_plugin.enabled(config):  # --farm-tags: each worker on its own labgrid place
        config.stash[RUNNER_KEY] = farm_plugin.make_runner(config, run_dir)
    if not hasattr(config, "workerinput"):  # the xdist controller, or a session without xdist
        from harness.crash import CrashReporter

        config.pluginmanager.register(CrashReporter(config, run_dir, run_id), "harness-crash")


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(CANCEL_KEY, False):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if config.stash.get(RUN_ID_OWNED_KEY, False):
        os.environ.pop("HARNESS_RUN_ID", None)


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
            from harness.runners.docker import DockerRunner

            runner = DockerRunner.from_options(config.rootpath, True, jetson_host)
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
        for place in farm_plugin.places(self.config) or [None]:
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
        from harness.crash import Started
        from harness.ratchet import decide
        from harness.report.allure_report import full_name

        runner = self.runner()
        if self.place is not None:  # known before the run: a broken run keeps its history
            _farm_device(self, self.place, farm_plugin.places(self.config)[self.place])
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
    if item.place is not None or not farm_plugin.enabled(item.config):
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


def log_verdict(
    run_dir: Path,
    path: str,
    name: str,
    expect: str,
    verdict: Verdict,
    status: str | None = None,
    device: str | None = None,
) -> None:
    """Append to the session's verdicts.jsonl (one write per line: safe across xdist workers).

    `status` is the pytest outcome after the ratchet (`harness report table` lists it); when
    not given it is decided from `expect` alone. `device`: the farm place it ran on."""
    from harness.ratchet import decide

    if status is None:
        status = decide(expect, verdict, None).outcome
    run_dir.mkdir(parents=True, exist_ok=True)
    line = (
        json.dumps(
            {
                "scenario": path,
                "name": name,
                "expect": expect,
                "gate": verdict.gate,
                "outcome": verdict.outcome,
                "reason": verdict.reason,
                "status": status,
                **({"device": device} if device else {}),
            }
        )
        + "\n"
    )
    with (run_dir / "verdicts.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if FIGURES_KEY in session.config.stash:
        session.config.stash[FIGURES_KEY].drain()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Point a scenario's SKIP at its YAML line rather than at this plugin."""
    report = yield
    if isinstance(item, ScenarioItem) and report.skipped and isinstance(report.longrepr, tuple):
        report.longrepr = (str(item.path), item.loaded.line, report.longrepr[2])
    return report
