"""Container faults become infra-error with the log tail, and leave nothing behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.pytest.crash import kill_left_behind
from harness.runners.docker import DockerRunner
from tests.docker.conftest import REPO, fake, hears_ctrl_c, leftovers

pytestmark = pytest.mark.docker
SCENARIO = REPO / "scenarios" / "provisioning" / "empty-backbones.scenario.yaml"


def runner(base_tag: str, mode: str, *extra: str, **kw) -> DockerRunner:
    return DockerRunner(REPO, image=base_tag, command=fake(mode, *extra), telemetry=False, **kw)


def test_allocating_past_the_memory_limit(engine, base_tag: str, tmp_path: Path) -> None:
    r = runner(base_tag, "oom", mem_limit="96m")
    result = r.run(SCENARIO, tmp_path, timeout_s=60)
    assert result.infra_error is not None and "out of memory" in result.infra_error
    assert "96 MiB" in result.infra_error
    assert any("fake: holding" in line for line in result.stderr_tail)
    assert result.verdict().gate == "infra-error"
    assert leftovers(engine, r.session) == []


def test_sleeping_past_the_timeout(engine, base_tag: str, tmp_path: Path) -> None:
    r = runner(base_tag, "sleep")
    start = time.monotonic()
    result = r.run(SCENARIO, tmp_path, timeout_s=2)
    assert result.infra_error is not None and result.infra_error.startswith("timeout")
    assert time.monotonic() - start < 30
    assert leftovers(engine, r.session) == []


def test_exiting_without_a_verdict(engine, base_tag: str, tmp_path: Path) -> None:
    r = runner(base_tag, "no-verdict")
    result = r.run(SCENARIO, tmp_path, timeout_s=60)
    assert result.infra_error == "the run exited 0 without ending its record"
    assert "fake: leaving without a verdict line" in result.stderr_tail
    verdict = result.verdict()
    assert verdict.gate == "infra-error" and "without ending its record" in verdict.reason
    assert leftovers(engine, r.session) == []


CTRL_C = """
import sys
from pathlib import Path
from harness.runners.docker import DockerRunner
from tests.docker.conftest import fake
r = DockerRunner(Path("."), image=sys.argv[1], command=fake("sleep"), telemetry=False)
print(r.session, flush=True)
r.run(Path(sys.argv[2]), Path(sys.argv[3]), timeout_s=120)
"""
# docs/runners.md: a Ctrl-C during a container run ends it within this bound, container
# removed. Checked here with every core busy; the margin is generous for shared CI hosts.
CTRL_C_BOUND_S = 30


@contextlib.contextmanager
def cpu_load() -> Iterator[None]:
    """One busy process per core for the duration."""
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 2)
    ]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def test_ctrl_c_takes_the_container_down(engine, base_tag: str, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CTRL_C, base_tag, str(SCENARIO), str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
        preexec_fn=hears_ctrl_c,
    )  # fmt: skip
    try:
        session = proc.stdout.readline().strip()
        for _ in range(300):  # wait until the container really runs
            if running(engine, session):
                break
            time.sleep(0.2)
        assert running(engine, session), "the container never started"
        with cpu_load():
            time.sleep(0.5)
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            proc.wait(CTRL_C_BOUND_S * 3)  # the assertion below names the bound
            took = time.monotonic() - sent
        assert took < CTRL_C_BOUND_S, f"Ctrl-C took {took:.1f} s (bound {CTRL_C_BOUND_S} s)"
        assert leftovers(engine, session) == []
    finally:
        proc.kill()
        proc.wait()


def test_a_dead_workers_container_is_removed_by_the_controller(
    engine, base_tag: str, tmp_path: Path
) -> None:
    # SIGKILL: no Ctrl-C handler runs, so the container would sleep on; the controller's
    # crash hook (harness.pytest.crash) removes it from what the runner left in the run folder.
    proc = subprocess.Popen(
        [sys.executable, "-c", CTRL_C, base_tag, str(SCENARIO), str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        session = proc.stdout.readline().strip()
        for _ in range(300):
            if running(engine, session) and (tmp_path / "container.json").exists():
                break
            time.sleep(0.2)
        assert running(engine, session), "the container never started"
        proc.kill()
        proc.wait()
        assert running(engine, session)  # nobody took it down
        said = kill_left_behind(tmp_path)
        assert said is not None and "was removed" in said, said
        assert leftovers(engine, session) == []
        assert not (tmp_path / "container.json").exists()
        assert kill_left_behind(tmp_path) is None  # nothing left to kill
    finally:
        proc.kill()
        proc.wait()


def running(engine, session: str) -> bool:
    client = engine.client()
    found = client.containers.list(filters={"label": f"org.harness.e2e.session={session}"})
    return any(c.status == "running" for c in found)
