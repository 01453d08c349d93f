"""pytest hooks for the board farm: options, one place per worker, sweeps, the summary.

`pytest scenarios/ -n 3 --lg-coordinator HOST:PORT --farm-tags board=orin-nano,jetpack=6.2`:
the coordinator option is labgrid's own (its pytest plugin defines `--lg-coordinator`; without
that plugin, `LG_COORDINATOR`), the tag filter ours. With `--farm-each-place` every scenario
becomes one item per matching place (`name[place]`, xdist group = the place; with `-n`,
`--dist loadgroup`), see harness.runners.farm_each. Each xdist worker gets a FarmRunner; the
controller (or the only process, without xdist) releases what a dead worker held and, at the
end, whatever this session still holds; the summary says which board ran what, which left.
Importing this module imports no labgrid.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from harness.pytest.keys import RUN_DIR_KEY, RUNNER_KEY

SESSION_ENV = "HARNESS_FARM_PID"  # the session's pid, inherited by its xdist workers
_OWNS_SESSION = pytest.StashKey[bool]()
_PLACES = pytest.StashKey["dict[str, dict[str, str]]"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness")
    group.addoption(
        "--farm-tags",
        default=None,
        metavar="K=V,...",
        help="run on a labgrid board farm: each worker reserves a place with these tags "
        "(coordinator from --lg-coordinator or LG_COORDINATOR)",
    )
    group.addoption(
        "--farm-wait",
        type=float,
        default=None,
        metavar="S",
        help="how long a worker waits for a matching place (default 600)",
    )
    group.addoption(
        "--farm-health",
        default=None,
        metavar="SCENARIO",
        help="a scenario each place must pass (reach its expect) before it runs others",
    )
    group.addoption(
        "--farm-each-place",
        action="store_true",
        default=None,
        help="run every scenario on every place matching --farm-tags: one result per place "
        "(with -n, also --dist loadgroup)",
    )
    parser.addini("farm_tags", "labgrid place tags for --farm-tags", default="")
    parser.addini("farm_each_place", "run every scenario on every matching place", type="bool")
    parser.addini("farm_wait", "seconds a worker waits for a place", default="600")


def coordinator_address(config: pytest.Config) -> str:
    given = getattr(config.option, "lg_coordinator", None)  # labgrid's own option
    return given or os.environ.get("LG_COORDINATOR") or "127.0.0.1:20408"


def enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("--farm-tags") or config.getini("farm_tags"))


def each_place(config: pytest.Config) -> bool:
    return bool(config.getoption("--farm-each-place") or config.getini("farm_each_place"))


def places(config: pytest.Config) -> dict[str, dict[str, str]]:
    """The places every scenario runs on (name -> tags); empty unless --farm-each-place."""
    return config.stash.get(_PLACES, {})


def _tags(config: pytest.Config) -> dict[str, str]:
    from harness.runners.places import FarmError, parse_tags

    try:
        return parse_tags(config.getoption("--farm-tags") or config.getini("farm_tags"))
    except FarmError as exc:
        raise pytest.UsageError(str(exc)) from None


def _find_places(config: pytest.Config) -> dict[str, dict[str, str]]:
    """The controller asks the coordinator; its workers read the answer it left them."""
    from harness.runners import farm_each
    from harness.runners.places import FarmError

    if (found := farm_each.places_from_env()) is not None:
        return found
    if config.getoption("dist", "no") not in ("no", "loadgroup"):
        raise pytest.UsageError(
            "--farm-each-place with -n needs --dist loadgroup (each place's scenarios go to "
            "one worker, which holds that place): add --dist loadgroup"
        )
    try:
        found = farm_each.find_places(coordinator_address(config), _tags(config), os.getpid())
    except FarmError as exc:
        raise pytest.UsageError(str(exc)) from None
    os.environ[farm_each.PLACES_ENV] = json.dumps(found)
    return found


def make_runner(config: pytest.Config, run_dir: Path) -> Any:
    """This process's FarmRunner, or with --farm-each-place its runners per place (no
    connection until a scenario runs)."""
    from harness.runners.farm import FarmOptions, FarmRunner

    try:
        import labgrid  # noqa: F401
    except ImportError:
        raise pytest.UsageError(
            "--farm-tags needs labgrid: pip install 'harness[farm]' (or labgrid>=26)"
        ) from None
    tags = _tags(config)
    wait = config.getoption("--farm-wait") or float(config.getini("farm_wait"))
    health = config.getoption("--farm-health")
    if health and not Path(health).is_file():
        raise pytest.UsageError(f"--farm-health {health}: no such scenario file")
    options = FarmOptions(
        address=coordinator_address(config),
        tags=tags,
        wait_s=wait,
        health=Path(health).resolve() if health else None,
        session_pid=int(os.environ[SESSION_ENV]),
        worker=os.environ.get("PYTEST_XDIST_WORKER", "main"),
    )
    if each_place(config):
        from harness.runners.farm_each import EachPlace

        config.stash[_PLACES] = _find_places(config)
        runner: Any = EachPlace(config.rootpath, options=options, run_dir=run_dir)
    else:
        runner = FarmRunner(config.rootpath, options=options, run_dir=run_dir)
    atexit.register(runner.close)  # a worker killed by a signal pytest did not catch
    return runner


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if each_place(config) and not enabled(config):
        raise pytest.UsageError(
            "--farm-each-place runs on a labgrid farm: name the places with --farm-tags K=V,..."
        )
    if each_place(config):  # xdist registers it too; pytest without xdist does not
        config.addinivalue_line("markers", "xdist_group(name): the place an item runs on")
    if enabled(config) and SESSION_ENV not in os.environ:
        os.environ[SESSION_ENV] = str(os.getpid())
        config.stash[_OWNS_SESSION] = True


def pytest_unconfigure(config: pytest.Config) -> None:
    """Release this process's place; the session's owner then sweeps every worker's."""
    if not enabled(config):
        return
    runner = config.stash.get(RUNNER_KEY, None)
    if runner is not None and hasattr(runner, "close"):
        runner.close()
    if config.stash.get(_OWNS_SESSION, False):
        with contextlib.suppress(Exception):  # no coordinator: nothing can be held there
            from harness.runners.farm import sweep_session

            sweep_session(coordinator_address(config), os.getpid())
        os.environ.pop(SESSION_ENV, None)
        from harness.runners.farm_each import PLACES_ENV

        os.environ.pop(PLACES_ENV, None)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist: a worker died; release what it held so the others (and other teams) can."""
    config = node.config
    if not error or not enabled(config):
        return
    from harness.runners.farm import sweep_session

    worker = node.gateway.id
    try:
        swept = sweep_session(coordinator_address(config), os.getpid(), worker)
    except Exception as exc:
        swept = [f"(sweep failed: {exc})"]
    if swept:
        config.get_terminal_writer().line(f"farm: {worker} died; released {', '.join(swept)}")


def summary_lines(events: list[dict[str, Any]]) -> list[str]:
    """What the farm did, one line per place: pure, from farm.jsonl events."""
    ran: dict[str, int] = defaultdict(int)
    for e in events:
        if e["event"] == "ran":
            ran[e["place"]] += 1
    lines = []
    for e in events:
        place = e.get("place")
        if e["event"] == "healthy":
            lines.append(
                f"{place}: {e['worker']} reserved it in {e['waited_s']:.2f} s; "
                f"ran {ran.get(place, 0)} scenario(s) in all"
            )
        elif e["event"] == "left" and e.get("pinned"):
            lines.append(f"{place}: left the session ({e['reason']}); its items end there")
        elif e["event"] == "left":
            others = sorted(p for p in ran if p != place)
            lines.append(
                f"{place}: left the session ({e['reason']}); its scenarios ran on "
                f"{', '.join(others) or 'no other place'}"
            )
        elif e["event"] == "shared":
            lines.append(f"{place}: shared with {e['worker']} (its own place left the session)")
        elif e["event"] == "lost":
            during = f" during {e['scenario']} (infra-error)" if e.get("scenario") else ""
            lines.append(f"{place}: lost{during}: {e['reason']}")
    return lines


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not enabled(config) or hasattr(config, "workerinput"):
        return
    from harness.runners.farm import FarmState

    lines = summary_lines(FarmState(config.stash[RUN_DIR_KEY]).events())
    if lines:
        terminalreporter.section("board farm")
        for line in lines:
            terminalreporter.line(line)
