"""A real scenario through the e2e-runner container, via the runner and via pytest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.history.ledger import Ledger
from harness.record import read_record
from harness.runners import image
from harness.runners.docker import DockerRunner
from tests.docker.conftest import REPO, leftovers

pytestmark = pytest.mark.docker
EMPTY = REPO / "scenarios" / "provisioning" / "empty-backbones.scenario.yaml"


def test_rebuilding_unchanged_inputs_is_a_no_op(runner_image: image.BuildResult) -> None:
    again = image.build(REPO)
    assert again.cached and again.seconds < 5
    assert (again.tag, again.image_id) == (runner_image.tag, runner_image.image_id)


def test_empty_backbones_runs_in_the_container(engine, runner_image, tmp_path: Path) -> None:
    runner = DockerRunner(REPO)
    runner.preflight()
    result = runner.run(EMPTY, tmp_path / "out", timeout_s=120)
    assert result.infra_error is None, result.stderr_tail
    verdict = result.verdict()
    assert (verdict.gate, verdict.outcome) == ("empty-backbones", "skip")
    record = read_record(result.record_path)
    prov = record.provenance
    assert prov["runner"] == "docker"
    assert prov["image_digest"] == runner_image.image_id == result.image_digest
    assert prov["git_sha"]  # the container has no .git: the runner passes it in
    # the engine's stats stream sends its first frame after a second or two: a run that ends
    # sooner (an empty-backbones run imports no torch) may have none
    assert list(record.select("telemetry", "sample")) or result.seconds < 3
    assert record.verdict is not None  # telemetry went in before the verdict line
    assert leftovers(engine, runner.session) == []


def _pytest(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """pytest on the project's own scenarios, with every output in tmp_path: the framework's
    tests never write into the project's ledger, Allure results or run folders."""
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs",
           "--harness-runs", str(tmp_path / "runs"),
           "--gate-ledger", str(tmp_path / "ledger.sqlite"),
           "--alluredir", str(tmp_path / "allure"), *args]  # fmt: skip
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_pytest_runner_docker_runs_a_scenario(engine, runner_image, tmp_path: Path) -> None:
    done = _pytest(str(EMPTY), "--runner", "docker", tmp_path=tmp_path)
    assert "1 skipped" in done.stdout, done.stdout + done.stderr
    assert "empty-backbones" in done.stdout
    (row,) = Ledger(tmp_path / "ledger.sqlite").rows()  # the row went to the given ledger
    assert (row.scenario, row.runner) == ("empty-backbones", "docker")


def test_jetson_preflight_fails_the_session_once(tmp_path: Path) -> None:
    """An unreachable board: the first item errors with the fix, the rest skip with it."""
    scenarios = sorted((REPO / "scenarios" / "provisioning").glob("*.scenario.yaml"))[:2]
    done = _pytest(
        *map(str, scenarios), "--jetson", "--jetson-host", "unix:///nonexistent/docker.sock",
        tmp_path=tmp_path,
    )  # fmt: skip
    out = done.stdout
    assert "1 failed, 1 skipped" in out, out + done.stderr
    assert out.count("no Docker engine answers at unix:///nonexistent/docker.sock") >= 2
