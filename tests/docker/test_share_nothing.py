"""A board that cannot see this machine's files gives the same verdicts as a local run."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.runners.docker import DockerRunner
from harness.runners.local import SubprocessRunner
from tests.docker.conftest import REPO, leftovers

pytestmark = pytest.mark.docker
PROVISIONING = REPO / "scenarios" / "provisioning"
# Cheap scenarios that need the checkout's configs and models/scenarios/ checkpoints.
NAMES = ["empty-backbones", "missing-checkpoint", "sha256-mismatch", "pickled-code"]


def test_the_board_cannot_see_the_checkout(board_with_runner, runner_image) -> None:
    """The premise: a bind mount of the checkout shows an empty folder on that engine."""
    client = board_with_runner.client()
    out = client.containers.run(
        runner_image.tag, ["ls", "-A", "/mnt"], remove=True, network_mode="none",
        volumes={str(REPO): {"bind": "/mnt", "mode": "ro"}}, labels={"org.harness.e2e": "1"},
    )  # fmt: skip
    assert out.decode().split() == []


def test_same_verdicts_as_local(board_with_runner, runner_image, tmp_path: Path) -> None:
    board = DockerRunner(REPO, engine=board_with_runner, image=runner_image.tag, device="b1")
    local = SubprocessRunner(REPO)
    seen = {}
    for name in NAMES:
        scenario = PROVISIONING / f"{name}.scenario.yaml"
        there = board.run(scenario, tmp_path / "board" / name, timeout_s=300)
        here = local.run(scenario, tmp_path / "local" / name, timeout_s=300)
        assert there.infra_error is None, there.stderr_tail
        a, b = there.verdict(), here.verdict()
        seen[name] = (a.gate, a.outcome, a.reason)
        assert (a.gate, a.outcome) == (b.gate, b.outcome), (name, a.reason, b.reason)
    assert seen["empty-backbones"][:2] == ("empty-backbones", "skip")
    # The checkpoint went across (its digest was checked there), not merely its absence.
    assert seen["sha256-mismatch"][:2] == ("provisioning", "fail")
    assert "sha256 failed" in seen["sha256-mismatch"][2]
    assert leftovers(board_with_runner, board.session) == []
