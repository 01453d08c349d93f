"""A process stack goes where a scenario goes: a `command:` stack's program folder travels into
the e2e-runner container as a clip bundle does and runs there in its bubblewrap sandbox, with
the local run's verdict and fixes; a launched stack's fault is the same located infra-error
there; an `image:` stack under a container runner is a located config-error; a failure bundle
of a process scenario replays on the container runner."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness.gates import conclude
from harness.process.settings import ProcessSettings
from harness.record import read_record
from harness.rerun.failure_bundle import RunFacts, write_bundle
from harness.rerun.replay import RUNNER_FILES, replay
from harness.run.driver import run
from harness.runners.docker import DockerRunner
from tests.docker.conftest import REPO, leftovers
from tests.process.test_launchers import LAUNCHERS, assert_reported, stack_folder
from tests.process.test_process_stack import SHORT

pytestmark = pytest.mark.docker
RING = REPO / "examples" / "ring-stack"


@pytest.fixture(scope="module")
def built() -> Path:
    subprocess.run(["make", "-s", "-C", str(RING)], check=True)
    return RING / "build" / "ring-stack"


def _project(root: Path, built: Path) -> Path:
    """A project of its own (the runner's compose files and image recipe, as a replay has
    them) with stack/: ring-stack and its launchers. Nothing of it is mounted in a container."""
    root.mkdir()
    for rel in RUNNER_FILES:
        src = REPO / rel
        if src.is_dir():
            shutil.copytree(src, root / rel)
        else:
            shutil.copy2(src, root / rel)
    stack_folder(root, built)
    return root


def _scenario(root: Path, process: str, name: str = "s") -> Path:
    path = root / f"{name}.scenario.yaml"
    path.write_text(
        f"format_version: 2\nname: {name}\nclip:\n  synth: {SHORT}\npipeline: process\n"
        f"process: {process}\ngates:\n  vpr_contract: {{descriptor_dim: 24}}\n"
        "  retrieval_quality: {recall_at: 5, min_recall: 0.6, min_queries: 15}\n"
        "timeout_s: 180\nexpect: pass\n"
    )
    return path


def _fixes(record_path: Path) -> list[tuple]:
    record = read_record(record_path)
    return [(f["t_s"], tuple(f["z_ne_m"]), f["accepted"]) for f in record.select("eskf", "fix")]


def _in_container(root: Path, scenario: Path, out: Path):
    runner = DockerRunner(root)
    runner.preflight()
    result = runner.run(scenario, out, timeout_s=240)
    verdict = result.verdict()
    return runner, result, verdict


def test_a_command_stack_runs_in_the_container_as_it_does_locally(
    engine, runner_image, built: Path, tmp_path: Path
) -> None:
    root = _project(tmp_path / "project", built)
    process = '{command: [stack/bash, "0", --agl-m, "300", --rate-hz, "2"], speed: 10}'
    scenario = _scenario(root, process)
    local = conclude(run(scenario, tmp_path / "local", root=root, cache_dir=REPO / ".cache"))
    runner, result, boxed = _in_container(root, scenario, tmp_path / "boxed")
    assert result.infra_error is None, result.stderr_tail
    assert boxed.gate not in ("infra-error", "config-error"), boxed.reason
    assert (boxed.gate, boxed.reason) == (local.gate, local.reason)
    assert _fixes(tmp_path / "boxed" / "record.jsonl") == _fixes(
        tmp_path / "local" / "record.jsonl"
    )
    record = read_record(tmp_path / "boxed" / "record.jsonl")
    assert record.provenance["runner"] == "docker"
    (program,) = [a for a in record.provenance["artifacts"] if a["kind"] == "program"]
    assert program["path"] == "stack/bash"  # the project's program, by content
    assert leftovers(engine, runner.session) == []


PEEK = """#!/bin/sh
for p in /cache /results /work/project/harness /work/project/s.scenario.yaml; do
    if [ -e "$p" ]; then echo "peek: $p visible" >&2; else echo "peek: $p hidden" >&2; fi
done
exec "$(dirname "$0")/ring-stack" "$@"
"""


def test_in_the_container_the_stack_sees_neither_cache_nor_results_nor_project(
    engine, runner_image, built: Path, tmp_path: Path
) -> None:
    """The container's own wall is not the stack's: inside it, the sandbox still hides the
    run's cache (every clip's truth), /results (the record) and the rest of the project."""
    root = _project(tmp_path / "project", built)
    (root / "stack" / "peek").write_text(PEEK)
    (root / "stack" / "peek").chmod(0o755)
    process = '{command: [stack/peek, --agl-m, "300", --rate-hz, "2"], speed: 10}'
    runner, _, verdict = _in_container(root, _scenario(root, process), tmp_path / "out")
    assert verdict.gate not in ("infra-error", "config-error"), verdict.reason
    peeks = [
        line
        for line in (tmp_path / "out" / "stack.stderr").read_text().splitlines()
        if line.startswith("peek: ")
    ]
    assert len(peeks) == 4 and all(line.endswith(" hidden") for line in peeks), peeks
    assert leftovers(engine, runner.session) == []


@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_a_launched_crash_in_the_container_is_located(
    engine, runner_image, built: Path, tmp_path: Path, launcher: str
) -> None:
    root = _project(tmp_path / "project", built)
    process = (
        f'{{command: [stack/{launcher}, "0", --agl-m, "300", --rate-hz, "2", --fault, crash@20],'
        " speed: 10, timeout_s: 60}"
    )
    runner, result, verdict = _in_container(root, _scenario(root, process), tmp_path / "out")
    assert result.infra_error is None, result.stderr_tail  # the run ended; the stack did not
    assert read_record(result.record_path).ended
    assert_reported(verdict.gate, verdict.reason, "crash")
    assert "segment table corrupt" in (tmp_path / "out" / "stack.stderr").read_text()
    assert leftovers(engine, runner.session) == []


def test_an_image_stack_under_a_container_runner_is_a_located_config_error(
    engine, runner_image, built: Path, tmp_path: Path
) -> None:
    root = _project(tmp_path / "project", built)
    scenario = _scenario(root, '{image: ring-stack:dev, command: [--agl-m, "300"]}')
    runner, result, verdict = _in_container(root, scenario, tmp_path / "out")
    assert result.infra_error is None, result.stderr_tail
    assert verdict.gate == "config-error", verdict.reason
    assert "s.scenario.yaml:6:" in verdict.reason and "process.image" in verdict.reason
    assert "docker-in-docker is not supported" in verdict.reason
    assert leftovers(engine, runner.session) == []


def test_a_process_bundle_replays_on_the_container_runner(
    engine, runner_image, built: Path, tmp_path: Path
) -> None:
    """Bundled from a local run, the project gone, replayed in the container: the carried
    program folder reaches it and the verdict is reproduced."""
    root = _project(tmp_path / "project", built)
    process = '{command: [stack/python, "0", --agl-m, "300", --fault, crash@20], speed: 20}'
    scenario = _scenario(root, process)
    out = tmp_path / "run"
    record = read_record(run(scenario, out, root=root, cache_dir=REPO / ".cache"))
    verdict = conclude(out / "record.jsonl")
    facts = RunFacts(
        name="s", run_id="r", scenario_path=scenario, root=root,
        stack_files=ProcessSettings(root / "stack" / "python").files(), out_dir=out,
        expect="pass", expect_reason=None,
        verdict={"gate": verdict.gate, "outcome": verdict.outcome, "reason": verdict.reason},
        decision={"outcome": "failed", "message": "x"}, runner="local",
        command={"pytest": []}, cache_dir=REPO / ".cache",
    )  # fmt: skip
    written = write_bundle(facts, record, tmp_path / "bundles")
    assert {"project/stack/python", "project/stack/ring-stack", "run/stack.stderr"} <= {
        name for name, _ in written.members
    }
    shutil.rmtree(root)  # another machine: only the bundle and a harness checkout
    done = replay(written.path, tmp_path / "elsewhere", roots=[REPO], runner_name="docker")
    assert done.reproduced, (done.differences, done.replayed.reason)
    assert "provenance runner: local -> docker" in done.notes
    assert done.replayed.gate == "infra-error" and "injected crash" in done.replayed.reason
