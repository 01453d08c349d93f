"""The board farm against a real labgrid coordinator and exporters on this machine.

The lab: `labgrid-coordinator` on a free loopback port and one `labgrid-exporter` per place,
each exporting a Docker engine as a NetworkService. board-1 and board-2 export this
machine's engine (one engine exported twice: each board here is a full e2e-runner image
away, and a second copy of 1.5 GB per board buys nothing a test can see); board-3 exports a
stand-in dockerd that cannot see the checkout. hp-1/hp-2 form a pool whose hp-2 engine is
dead (its health check fails); solo is one place for the in-process tests.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.errors import RunnerError
from harness.history.ledger import Ledger
from harness.runners.farm import FarmOptions, FarmRunner, FarmState
from harness.runners.places import Coordinator, FarmError, identity
from harness.testing.farm_lab import Lab
from tests.docker.conftest import REPO, fake, hears_ctrl_c

pytest.importorskip("labgrid", reason="the farm needs labgrid (pip install 'harness[farm]')")
pytestmark = pytest.mark.docker
LOCAL = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
PROVISIONING = REPO / "scenarios" / "provisioning"
EMPTY = PROVISIONING / "empty-backbones.scenario.yaml"
RING = REPO / "scenarios" / "process" / "ring-stack.scenario.yaml"


@pytest.fixture(scope="module")
def lab(tmp_path_factory, engine, runner_image, board_with_runner):
    with Lab(tmp_path_factory.mktemp("lab")) as lab:
        cpu = {"target": "cpu"}
        lab.add_board("board-1", LOCAL, {"board": "standin", **cpu})
        lab.add_board("board-2", LOCAL, {"board": "standin", **cpu})
        lab.add_board("board-3", board_with_runner.url, {"board": "standin", **cpu})
        lab.add_board("hp-1", LOCAL, {"pool": "health", **cpu})
        lab.add_board("hp-2", "unix:///nonexistent/docker.sock", {"pool": "health", **cpu})
        lab.add_board("dead-1", "unix:///nonexistent/docker.sock", {"pool": "dead", **cpu})
        lab.add_board("solo", LOCAL, {"pool": "solo", **cpu})
        yield lab


def held(lab: Lab) -> dict[str, str | None]:
    look = Coordinator(lab.address, "harness-test-observer")
    try:
        places = {name: p.acquired for name, p in look.places().items()}
        pending = [r.owner for r in look._rpc("GetReservations").reservations]
    finally:
        look.close()
    return {**places, "reservations": ",".join(pending) or None}


def _env(**extra: str) -> dict[str, str]:
    """The child's environment, with labgrid's pytest plugin (and its --lg-coordinator)."""
    env = {**os.environ, **extra}
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _pytest(lab: Lab, tmp_path: Path, *args: str, **kw) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs",
        "--harness-runs", str(tmp_path / "runs"), "--lg-coordinator", lab.address,
        "--gate-ledger", str(tmp_path / "ledger.sqlite"),
        "--alluredir", str(tmp_path / "allure"), *args,
    ]  # fmt: skip
    kw.setdefault("env", _env())
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900, **kw)


def test_three_workers_three_places_same_verdicts(lab: Lab, tmp_path: Path) -> None:
    farm = _pytest(lab, tmp_path, str(PROVISIONING), "-n", "3", "--farm-tags", "board=standin")
    local = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(PROVISIONING),
         "--harness-runs", str(tmp_path / "local"), "--gate-ledger", "none",
         "--alluredir", str(tmp_path / "local-allure")],
        cwd=REPO, capture_output=True, text=True, timeout=900, env=_env(),
    )  # fmt: skip
    summary = farm.stdout.strip().splitlines()[-1]
    assert summary.split(" in ")[0] == local.stdout.strip().splitlines()[-1].split(" in ")[0], (
        farm.stdout + farm.stderr
    )
    assert "board farm" in farm.stdout
    reserved = {p for p in ("board-1", "board-2", "board-3") if f"{p}: gw" in farm.stdout}
    assert reserved == {"board-1", "board-2", "board-3"}, farm.stdout
    assert not any(held(lab).values())  # everything released, nothing pending


def test_one_scenario_on_three_boards_is_three_results(lab: Lab, tmp_path: Path) -> None:
    """Allure keeps a history per board (device parameter), the ledger a row per board."""
    for place in ("board-1", "board-2", "board-3"):
        done = _pytest(lab, tmp_path, str(EMPTY), "--farm-tags", f"board=standin,name={place}")
        assert "1 skipped" in done.stdout, done.stdout + done.stderr
    results = [json.loads(p.read_text()) for p in (tmp_path / "allure").glob("*-result.json")]
    devices = {  # allure-pytest writes parameter values as repr()
        next(p["value"] for p in r["parameters"] if p["name"] == "device").strip("'"): r[
            "historyId"
        ]
        for r in results
    }
    assert sorted(devices) == ["board-1", "board-2", "board-3"]  # the place: the board
    assert len(set(devices.values())) == 3  # three histories, one per board
    rows = Ledger(tmp_path / "ledger.sqlite").rows(scenario="empty-backbones")
    assert sorted(r.device for r in rows) == [f"{d}/cpu" for d in sorted(devices)]


def test_a_process_stack_runs_on_a_board_that_shares_nothing(lab: Lab, tmp_path: Path) -> None:
    """The product's black-box scenario on board-3, whose engine sees nothing of the checkout:
    the stack's program folder travels there with the scenario and runs in its sandbox in the
    board's container, to the same PASS as on this machine."""
    subprocess.run(["make", "-s", "-C", str(REPO / "examples" / "ring-stack")], check=True)
    done = _pytest(lab, tmp_path, str(RING), "--farm-tags", "board=standin,name=board-3")
    assert "1 passed" in done.stdout, done.stdout + done.stderr
    (row,) = Ledger(tmp_path / "ledger.sqlite").rows(scenario="ring-stack")
    assert (row.gate, row.device) == ("pass", "board-3/cpu")


def test_each_place_runs_every_scenario_on_every_board(lab: Lab, tmp_path: Path) -> None:
    """2 scenarios x 3 boards = 6 results: six Allure histories with the board as the device,
    six ledger rows; a move on one board is that board's transition alone."""
    two = [str(EMPTY), str(PROVISIONING / "missing-checkpoint.scenario.yaml")]
    done = _pytest(
        lab, tmp_path, *two, "-n", "3", "--dist", "loadgroup", "--farm-each-place",
        "--farm-tags", "board=standin",
    )  # fmt: skip
    assert "3 skipped, 3 xfailed" in done.stdout, done.stdout + done.stderr
    results = [json.loads(p.read_text()) for p in (tmp_path / "allure").glob("*-result.json")]
    params = [{p["name"]: p["value"].strip("'") for p in r["parameters"]} for r in results]
    assert sorted(
        (r["name"].split("[")[0], p["device"]) for r, p in zip(results, params, strict=True)
    ) == [
        (scenario, board)
        for scenario in ("empty-backbones", "missing-checkpoint")
        for board in ("board-1", "board-2", "board-3")
    ]
    assert {p["board"] for p in params} == {"board=standin target=cpu"}
    assert len({r["historyId"] for r in results}) == 6  # one history per scenario and board
    ledger = Ledger(tmp_path / "ledger.sqlite")
    rows = ledger.rows()
    assert sorted((r.scenario, r.device) for r in rows) == [
        (scenario, f"{board}/cpu")
        for scenario in ("empty-backbones", "missing-checkpoint")
        for board in ("board-1", "board-2", "board-3")
    ]
    assert not any(held(lab).values())
    # The next run: missing-checkpoint regresses on board-2 only.
    for row in rows:
        moved = row.scenario == "missing-checkpoint" and row.device == "board-2/cpu"
        gate = "empty-backbones" if moved else row.gate  # a gate below provisioning
        later = dataclasses.replace(row, run_id="next", time=row.time + 1000, git_sha="c0ffee")
        ledger.append(dataclasses.replace(later, gate=gate))
    check = subprocess.run(
        [sys.executable, "-m", "harness.commands.main", "gates", "check",
         "--baseline", rows[0].run_id, "--run", "next", "--ledger", str(ledger.path),
         "--runs", str(tmp_path / "runs"), "--allow-unpinned", "--format", "md"],
        cwd=REPO, capture_output=True, text=True, timeout=120, env=_env(),
    )  # fmt: skip
    lines = [line for line in check.stdout.splitlines() if line.startswith("| ")]
    moved = [line for line in lines if "backward" in line]
    assert check.returncode == 1 and len(moved) == 1, check.stdout + check.stderr
    assert moved[0].startswith("| missing-checkpoint @ board-2/cpu |"), check.stdout
    assert sum("| = |" in line for line in lines) == 5, check.stdout  # the others: same


def test_each_place_a_broken_board_ends_its_own_items_only(lab: Lab, tmp_path: Path) -> None:
    two = [str(EMPTY), str(PROVISIONING / "missing-checkpoint.scenario.yaml")]
    done = _pytest(
        lab, tmp_path, *two, "-n", "2", "--dist", "loadgroup", "--farm-each-place",
        "--farm-tags", "pool=health",
    )  # fmt: skip
    out = done.stdout
    # hp-1 runs both; hp-2's first item is infra-error, its second skips saying why.
    assert out.strip().splitlines()[-1].startswith("1 failed, 2 skipped, 1 xfailed"), out
    assert "hp-2: left the session" in out and "its items end there" in out, out
    assert "farm runner unavailable: place hp-2 left the session" in out, out
    assert held(lab)["hp-1"] is None and held(lab)["hp-2"] is None


def test_each_place_with_n_but_not_loadgroup_is_a_usage_error(lab: Lab, tmp_path: Path) -> None:
    done = _pytest(
        lab, tmp_path, str(EMPTY), "-n", "2", "--farm-each-place", "--farm-tags", "board=standin"
    )
    assert "--dist loadgroup" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 4


def test_a_place_failing_its_health_check_leaves_the_session(lab: Lab, tmp_path: Path) -> None:
    done = _pytest(lab, tmp_path, str(PROVISIONING), "-n", "2", "--farm-tags", "pool=health")
    out = done.stdout
    assert "hp-2: left the session" in out and "no Docker engine answers" in out, out
    assert "its scenarios ran on hp-1" in out, out
    assert " failed" not in out.splitlines()[-1], out
    assert held(lab)["hp-1"] is None and held(lab)["hp-2"] is None


def test_every_place_failing_its_health_check_ends_at_once(lab: Lab, tmp_path: Path) -> None:
    # no sibling can turn a place healthy: the session must not sit out --farm-wait
    options = FarmOptions(address=lab.address, tags={"pool": "dead"}, wait_s=900, worker="gw0")
    runner = FarmRunner(REPO, options=options, run_dir=tmp_path / "run")
    start = time.monotonic()
    try:
        with pytest.raises(
            RunnerError, match=r"every place with .* failed its health check \(dead-1\)"
        ):
            runner.preflight()
    finally:
        runner.close()
    assert time.monotonic() - start < 300  # the wait was 900 s
    assert held(lab)["dead-1"] is None


def _solo(tmp_path: Path, **kw) -> FarmRunner:
    options = FarmOptions(
        address=kw.pop("address"), tags={"pool": "solo"}, wait_s=kw.pop("wait_s", 30),
        worker=kw.pop("worker", "gw0"),
    )  # fmt: skip
    return FarmRunner(REPO, options=options, run_dir=tmp_path / "run", **kw)


def test_a_place_lost_mid_run_is_infra_error(lab, engine, base_tag, tmp_path: Path) -> None:
    runner = _solo(
        tmp_path, address=lab.address, image=base_tag, telemetry=False,
        command=fake("sleep", "--seconds", "8"),
    )  # fmt: skip
    try:
        runner.preflight()
        kicker = Coordinator(lab.address, "someone-else")
        threading.Timer(3, kicker._rpc, ("ReleasePlace",), {"placename": "solo"}).start()
        result = runner.run(EMPTY, tmp_path / "out", timeout_s=60)
        kicker.close()
        assert result.infra_error is not None
        assert result.infra_error.startswith("place solo was taken from this session")
        assert result.verdict().gate == "infra-error"
        events = [e["event"] for e in FarmState(tmp_path / "run").events()]
        assert events == ["healthy", "ran", "lost"]
        # The next scenario reserves again and runs.
        again = runner.run(EMPTY, tmp_path / "out2", timeout_s=60)
        assert again.infra_error is None or "timeout" not in again.infra_error
        assert held(lab)["solo"] is not None
    finally:
        runner.close()
    assert held(lab)["solo"] is None


def test_waiting_for_a_place_times_out_naming_the_option(lab, tmp_path: Path) -> None:
    holder = Coordinator(lab.address, identity(os.getpid(), "holder"))
    claim = holder.reserve({"pool": "solo"}, 10)
    try:
        waiter = Coordinator(lab.address, identity(os.getpid(), "waiter"))
        start = time.monotonic()
        with pytest.raises(FarmError) as exc:
            waiter.reserve({"pool": "solo"}, 2)
        waiter.close()
        assert time.monotonic() - start < 30
        message = str(exc.value)
        assert "within 2 s (--farm-wait)" in message and "solo by" in message
    finally:
        holder.release(claim)
        holder.close()
    assert held(lab)["solo"] is None and held(lab)["reservations"] is None


PLUGIN = """
import os, signal, time
import pytest

@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    try:
        return (yield)
    finally:  # the scenario ran, so this process holds its place now
        if os.environ.get("FARM_TEST") == "die" and os.environ.get("PYTEST_XDIST_WORKER"):
            os.kill(os.getpid(), signal.SIGKILL)
        if os.environ.get("FARM_TEST") == "hold":
            print("holding", flush=True)
            time.sleep(120)
"""


def _with_plugin(tmp_path: Path, mode: str) -> dict[str, str]:
    (tmp_path / "farm_test_plugin.py").write_text(PLUGIN)
    return _env(PYTHONPATH=f"{tmp_path}:{REPO}", FARM_TEST=mode)


def test_a_dead_worker_releases_its_place(lab, tmp_path: Path) -> None:
    done = _pytest(
        lab, tmp_path, str(EMPTY), "-n", "1", "--farm-tags", "pool=solo",
        "-p", "farm_test_plugin", env=_with_plugin(tmp_path, "die"),
    )  # fmt: skip
    assert "gw0 died; released solo" in done.stdout, done.stdout + done.stderr
    assert held(lab)["solo"] is None


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "ci-cancel"])
def test_ctrl_c_releases_the_place(lab, tmp_path: Path, sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s", str(EMPTY),
         "--harness-runs", str(tmp_path / "runs"), "--lg-coordinator", lab.address,
         "--gate-ledger", str(tmp_path / "ledger.sqlite"), "--alluredir", str(tmp_path / "allure"),
         "--farm-tags", "pool=solo", "-p", "farm_test_plugin"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=_with_plugin(tmp_path, "hold"), preexec_fn=hears_ctrl_c,
    )  # fmt: skip
    try:
        for line in proc.stdout:
            if "holding" in line:
                break
        assert held(lab)["solo"], "the session does not hold its place"
        proc.send_signal(sig)
        proc.wait(60)
    finally:
        proc.kill()
        proc.wait()
    assert held(lab)["solo"] is None and held(lab)["reservations"] is None
