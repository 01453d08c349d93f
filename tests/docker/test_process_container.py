"""The example foreign stack in its own container (examples/ring-stack/Dockerfile on the
no-registry base image) gives the same run as the same stack as a local process, and behind
`docker run` (the adapter's launcher for an `image:` stack) a broken line, a crash or an early
exit is reported as the bare stack's: located, its stderr kept, the record ended, no container
or client left; through the preloaded run process, a fresh one and the driver in-process."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from harness.gates import conclude
from harness.record import read_record
from harness.run.driver import run
from harness.runners import image
from harness.runners.engine import Engine
from tests.process.test_launchers import HOW, assert_reported, cmdline
from tests.process.test_process_stack import SHORT

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "ring-stack"
TAG = "harness-ring-stack:test"

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def stack_image(engine: Engine) -> str:
    recipe = image.Recipe.from_root(REPO)
    image.build_base(recipe, engine.client())
    subprocess.run(["make", "-s", "-C", str(EXAMPLE)], check=True)
    subprocess.run(
        ["docker", "build", "-q", "--build-arg", f"BASE_IMAGE={recipe.base_tag}", "-t", TAG,
         str(EXAMPLE)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return TAG


def _scenario(folder: Path, process: str) -> Path:
    folder.mkdir()
    path = folder / "ring.scenario.yaml"
    path.write_text(
        "format_version: 1\nname: ring-stack-container\nconfig: configs/operator_replay.yaml\n"
        f"clip:\n  synth: {SHORT}\npipeline: process\nprocess: {process}\n"
        "gates:\n  vpr_contract: {descriptor_dim: 24}\n"
        "  retrieval_quality: {recall_at: 5, min_recall: 0.6, min_queries: 15}\nexpect: pass\n"
    )
    return path


def _fixes(out: Path) -> list[tuple]:
    record = read_record(out / "record.jsonl")
    return [(f["t_s"], tuple(f["z_ne_m"]), f["accepted"]) for f in record.select("eskf", "fix")]


def test_the_container_runs_the_same_as_the_process(tmp_path: Path, stack_image: str) -> None:
    args = '--agl-m, "300", --rate-hz, "2"'
    local = _scenario(tmp_path / "local", f"{{command: [{EXAMPLE / 'run'}, {args}], speed: 10}}")
    boxed = _scenario(tmp_path / "boxed", f"{{image: {stack_image}, command: [{args}], speed: 10}}")
    v_local = conclude(run(local, tmp_path / "local" / "out", root=REPO))
    v_boxed = conclude(run(boxed, tmp_path / "boxed" / "out", root=REPO))
    assert v_boxed.gate not in ("infra-error", "config-error"), v_boxed.reason
    assert (v_boxed.gate, v_boxed.reason) == (v_local.gate, v_local.reason)
    assert _fixes(tmp_path / "boxed" / "out") == _fixes(tmp_path / "local" / "out")
    (check,) = read_record(tmp_path / "boxed" / "out" / "record.jsonl").select(
        "provisioning", "check"
    )
    assert check["ok"] and check["detail"].startswith(f"image {stack_image} sha256:")
    # what ran, for a failure bundle and a replay elsewhere: the reference and the image id
    prov = read_record(tmp_path / "boxed" / "out" / "record.jsonl").provenance
    (ran,) = prov["artifacts"]
    assert (ran["kind"], ran["path"]) == ("image", stack_image)
    assert check["detail"] == f"image {stack_image} {ran['sha256']}"


# ring-stack's own faults, as tests/process/test_launchers.py's FAULTS make them
FAULTS = {
    "broken-line": ("--fault", "malformed@10"),
    "crash": ("--fault", "crash@20"),
    "early-exit": ("--fault", "exit@20"),
}


def _stack_containers() -> list[str]:
    done = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=org.harness.e2e=stack"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.split()


def _clients_left(image_tag: str) -> list[str]:
    """`docker run` clients of the stack image still there (a few seconds' grace)."""
    deadline = time.monotonic() + 5
    while True:
        found = [c for c in map(cmdline, os.listdir("/proc")) if f" {image_tag} " in c]
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.mark.parametrize("how", sorted(HOW))
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_stack_behind_docker_run_fails_as_the_bare_one(
    tmp_path: Path, stack_image: str, fault: str, how: str
) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    args = ", ".join(f'"{a}"' for a in ("--agl-m", "300", "--rate-hz", "2", *FAULTS[fault]))
    scenario = tmp_path / "launched.scenario.yaml"
    scenario.write_text(
        f"format_version: 2\nname: launched\nclip:\n  synth: {SHORT}\npipeline: process\n"
        f"process: {{image: {stack_image}, command: [{args}], speed: 10, timeout_s: 30}}\n"
        "gates:\n  vpr_contract: {descriptor_dim: 24}\ntimeout_s: 120\nexpect: pass\n"
    )
    record_path = HOW[how](scenario, tmp_path / "out")
    assert read_record(record_path).ended, "the run lost its end line"
    verdict = conclude(record_path)
    assert_reported(verdict.gate, verdict.reason, fault)
    assert (tmp_path / "out" / "stack.stderr").stat().st_size > 0
    assert _stack_containers() == []
    assert _clients_left(stack_image) == []
