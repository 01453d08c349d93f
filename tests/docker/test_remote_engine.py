"""The remote (board) path against a second dockerd on its own socket."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import RunnerError
from harness.runners.docker import DockerRunner
from harness.runners.jetson import JetsonRunner
from tests.docker.conftest import REPO, fake, leftovers

pytestmark = pytest.mark.docker
SCENARIO = REPO / "scenarios" / "provisioning" / "empty-backbones.scenario.yaml"


def test_a_run_on_the_other_engine(engine, second_engine, base_tag, tmp_path: Path) -> None:
    r = DockerRunner(
        REPO, engine=second_engine, image=base_tag, command=fake("verdict"), telemetry=False
    )
    result = r.run(SCENARIO, tmp_path, timeout_s=60)
    assert result.infra_error is None, result.stderr_tail
    verdict = result.verdict()
    assert verdict.gate == "empty-backbones" and "fake run" in verdict.reason
    assert result.image_digest == second_engine.client().images.get(base_tag).id
    assert leftovers(second_engine, r.session) == [] == leftovers(engine, r.session)


def test_missing_image_is_named_never_pulled(second_engine) -> None:
    r = DockerRunner(REPO, engine=second_engine, image="harness-e2e-runner:absent")
    with pytest.raises(RunnerError, match="never pulled") as exc:
        r.preflight()
    assert second_engine.url in str(exc.value) and "harness runner build-image" in str(exc.value)


def test_jetson_needs_the_nvidia_runtime(second_engine, base_tag) -> None:
    r = JetsonRunner(REPO, engine=second_engine, image=base_tag)
    with pytest.raises(RunnerError, match="no 'nvidia' runtime") as exc:
        r.preflight()
    assert str(exc.value).startswith("jetson runner preflight failed")
