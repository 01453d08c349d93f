"""A worker killed mid-scenario: infra-error in pytest, ledger and Allure; its child dies too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.history import tier2
from harness.history.ledger import Ledger, Row
from harness.pytest.crash import crash_verdict, last_record_line
from tests.helpers import scenario_text

pytest.importorskip("xdist")

SLEEPER = '''
"""A stack that says who it is, then works for a long time."""
import os, sys, time

class Sleeps:
    def provision(self, ctx):
        print("provisioning the sleeper", file=sys.stderr, flush=True)
        with open("pids.txt", "w") as fh:
            fh.write(f"{os.getpid()} {os.getppid()}")
        time.sleep(600)
    def fixes(self, ctx, engines): return []
    def navigate(self, ctx, fixes): pass
'''
EMPTY = "{c10_provisioning.backbones: []}"


def _wait_for(predicate, what: str, limit_s: float = 240.0) -> None:
    """Poll until `predicate()`; the limit only stops a broken test from hanging the suite."""
    deadline = time.monotonic() + limit_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.2)


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")  # a zombie is dead, just not reaped


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_killed_worker_is_an_infra_error_everywhere(project: pytest.Pytester) -> None:
    project.makepyfile(sleeper=textwrap.dedent(SLEEPER))
    project.makefile(
        ".scenario.yaml",
        a_sleeps=scenario_text("sleeps", "pass", pipeline="sleeper:Sleeps"),
        z_after=scenario_text("after", "empty-backbones", overrides=EMPTY),
    )
    ledger = Ledger(project.path / "reports" / "gate-ledger.sqlite")
    ledger.append(Row("baseline", "sleeps", "pass", "pass", time=1.0, status="passed"))
    ledger.append(Row("baseline", "after", "empty-backbones", "skip", time=1.0, status="skipped"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project.path), *sys.path])}
    env.pop("HARNESS_RUN_ID", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "xdist", "-n", "1", "-rA", "-p", "no:cacheprovider"],
        cwd=project.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        pids = project.path / "pids.txt"
        _wait_for(lambda: pids.exists() and " " in pids.read_text(), "the run to start")
        child, parent = map(int, pids.read_text().split())
        # the run is forked by the worker's preloaded run process, which dies with the worker
        assert b"harness.run.preload" in Path(f"/proc/{parent}/cmdline").read_bytes()
        worker = _parent_of(parent)
        assert worker != proc.pid  # the xdist worker, not the controller
        os.kill(worker, signal.SIGKILL)
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    # the run died with its worker, instead of sleeping on and writing a record nobody reads
    _wait_for(lambda: _gone(child), "the run's process to die")
    _wait_for(lambda: _gone(parent), "the preloaded run process to die")
    assert proc.returncode == 1, out
    assert "Traceback" not in out
    assert "1 failed, 1 skipped" in out
    assert "FAILED a_sleeps.scenario.yaml::sleeps - infra-error: the pytest-xdist worker" in out
    assert "record line" in out  # its last line, or that none reached the disk
    assert "stderr tail:\nprovisioning the sleeper" in out

    rows = {r.scenario: r for r in ledger.rows() if r.run_id != "baseline"}
    assert rows["sleeps"].gate == "infra-error" and rows["sleeps"].status == "broken"
    assert "worker 'gw0' running this scenario died" in rows["sleeps"].reason
    assert rows["after"].gate == "empty-backbones"

    results = [
        json.loads(p.read_text())
        for p in (project.path / "reports" / "allure-results").glob("*-result.json")
    ]
    [crashed] = [r for r in results if r["name"] == "sleeps"]
    assert crashed["status"] == "broken" and "infra-error" in crashed["statusDetails"]["message"]
    folder = {p["name"]: p["value"] for p in crashed["parameters"]}["run folder"]
    assert Path(folder, "stderr.log").is_file()  # where the dead run's record and log lie

    # `gates check`: the crashed scenario is a broken head (exit 2), never "missing" (exit 0)
    result = tier2.check(ledger, "baseline")
    assert result.exit_code == tier2.NO_VERDICT
    table = tier2.summary(result)
    assert "| sleeps | pass | infra-error | ⚠ broken |" in table and "missing" not in table


DIES_WITH_PARENT = """
import subprocess, sys, time
from harness.deathsig import die_with_parent
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(600)"],
    start_new_session=True,
    preexec_fn=die_with_parent(),
)
print(child.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_run_process_dies_with_the_process_that_started_it() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", DIES_WITH_PARENT], stdout=subprocess.PIPE, text=True
    )
    try:
        child = int(parent.stdout.readline())
        assert not _gone(child)
        parent.kill()  # SIGKILL: no handler, no cleanup code runs in the parent
        parent.wait()
        _wait_for(lambda: _gone(child), "the child to die with its parent")
    finally:
        parent.kill()


def test_crash_verdict_names_the_last_record_line_and_stderr(tmp_path: Path) -> None:
    (tmp_path / "record.jsonl").write_text('{"kind": "condition"}\n{"kind": "event", "t_s": 3')
    (tmp_path / "stderr.log").write_text("loading\nalmost there\n")
    verdict = crash_verdict(tmp_path, "'gw3'")
    assert verdict.gate == "infra-error"
    assert "worker 'gw3' running this scenario died" in verdict.reason
    assert 'last record line: {"kind": "event", "t_s": 3' in verdict.reason
    assert verdict.reason.endswith("stderr tail:\nloading\nalmost there")
    assert last_record_line(tmp_path / "nowhere") == ""
