"""Container faults become infra-error with the log tail, and leave nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.runners.docker import DockerRunner
from tests.docker.conftest import REPO, fake, leftovers

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


def test_ctrl_c_takes_the_container_down(engine, base_tag: str, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CTRL_C, base_tag, str(SCENARIO), str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    session = proc.stdout.readline().strip()
    client = engine.client()
    for _ in range(100):  # wait until the container really runs
        if leftovers(engine, session):
            break
        time.sleep(0.2)
    assert leftovers(engine, session), "the container never started"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    proc.wait(60)
    assert leftovers(engine, session) == []
    assert client.ping()
