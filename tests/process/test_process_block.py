"""The scenario's `process:` block: located errors; numbers in a command line are text."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario.load import load
from harness.scenario.problems import ScenarioInvalid

REPO = Path(__file__).resolve().parents[2]
HEAD = """format_version: 1
name: block
config: configs/operator_replay.yaml
clip:
  synth: {preset: derkachi-10s, seed: 7}
expect: pass
"""


def problems(tmp_path: Path, tail: str) -> list[str]:
    path = tmp_path / "block.scenario.yaml"
    path.write_text(HEAD + tail)
    with pytest.raises(ScenarioInvalid) as info:
        load(path, REPO)
    return [f"{p.line}: {p.message}" for p in info.value.problems]


def test_pipeline_process_without_a_block_points_at_the_pipeline_line(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path, "pipeline: process\n")
    assert problem.startswith("7: `pipeline: process` runs the command of a `process:` block")


def test_a_block_without_pipeline_process_is_refused(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path, "process: {command: [stack]}\n")
    assert "read only with `pipeline: process`" in problem


def test_a_bad_block_is_reported_at_its_key_and_only_there(tmp_path: Path) -> None:
    found = problems(tmp_path, "pipeline: process\nprocess: {command: [], speed: 0}\n")
    assert len(found) == 2 and all(p.startswith("8: ") for p in found)  # command, speed


def test_numbers_in_the_command_are_text(tmp_path: Path) -> None:
    path = tmp_path / "ok.scenario.yaml"
    path.write_text(HEAD + "pipeline: process\nprocess: {command: [stack, --agl-m, 300, 1.5]}\n")
    assert load(path, REPO).scenario.process.command == ["stack", "--agl-m", "300", "1.5"]


def _run_verdict(tmp_path: Path, process: str, runner: str):
    from harness.gates import conclude
    from harness.run.driver import run

    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "run").write_text("#!/bin/sh\n")
    (tmp_path / "stack" / "run").chmod(0o755)
    path = tmp_path / "where.scenario.yaml"
    path.write_text(
        "format_version: 2\nname: where\nclip: {synth: {preset: derkachi-10s, seed: 7}}\n"
        f"pipeline: process\nprocess:\n{process}expect: pass\n"
    )
    out = run(path, tmp_path / "out", runner, root=tmp_path, cache_dir=REPO / ".cache")
    return conclude(out)


def test_an_image_stack_inside_a_runner_container_is_refused_at_its_line(tmp_path: Path) -> None:
    """The run driver inside the e2e-runner container (`--runner docker`, what the docker,
    jetson and farm runners start) has no Docker engine: config-error at `process.image`."""
    verdict = _run_verdict(tmp_path, "  command: [--x]\n  image: ring-stack:dev\n", "docker")
    assert verdict.gate == "config-error", verdict.reason
    assert "where.scenario.yaml:7:" in verdict.reason and "process.image" in verdict.reason
    assert "docker-in-docker is not supported" in verdict.reason


def test_a_mount_missing_on_the_runners_machine_is_refused_at_its_line(tmp_path: Path) -> None:
    process = "  command: [stack/run]\n  mounts: [stack, /nonexistent/ros]\n"
    verdict = _run_verdict(tmp_path, process, "docker")
    assert verdict.gate == "config-error", verdict.reason
    assert "where.scenario.yaml:7:19:" in verdict.reason and "process.mounts.1" in verdict.reason
    assert "/nonexistent/ros is not a folder on this machine (runner docker)" in verdict.reason
