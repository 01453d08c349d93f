"""The example foreign stack in its own container (examples/ring-stack/Dockerfile on the
no-registry base image) gives the same run as the same stack as a local process."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.gates import conclude
from harness.record import read_record
from harness.run.driver import run
from harness.runners import image
from harness.runners.engine import Engine
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
