"""Preflight fails once with one message; every later run reports it, nothing retries."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import RunnerError
from harness.runners.docker import DockerRunner, harness_run
from harness.runners.engine import Engine

REPO = Path(__file__).resolve().parents[2]


def test_unreachable_engine_fails_once_with_the_fix(tmp_path: Path) -> None:
    runner = DockerRunner(REPO, engine=Engine("unix:///nonexistent/docker.sock"), image="x:y")
    calls = []
    real = runner._preflight
    runner._preflight = lambda: calls.append(1) or real()  # type: ignore[method-assign]
    with pytest.raises(RunnerError) as first:
        runner.preflight()
    message = str(first.value)
    assert "no Docker engine answers at unix:///nonexistent/docker.sock" in message
    assert "scripts/start-dockerd" in message
    with pytest.raises(RunnerError) as second:
        runner.preflight()
    assert str(second.value) == message
    result = runner.run(REPO / "x.scenario.yaml", tmp_path / "out", 5)
    assert result.infra_error == message and result.returncode is None
    verdict = result.verdict()
    assert verdict.gate == "infra-error" and "no Docker engine answers" in verdict.reason
    assert calls == [1]


def test_the_container_runs_the_one_entry_point() -> None:
    cmd = harness_run("/work/project/scenarios/a.scenario.yaml")
    assert cmd[:4] == ["python", "-m", "harness.run", "/work/project/scenarios/a.scenario.yaml"]
    assert cmd[cmd.index("--out") + 1] == "/results"
    assert cmd[cmd.index("--runner") + 1] == "docker"
