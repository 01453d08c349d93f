"""Runners start `python -m harness.run` in-process, in a subprocess or in a container."""

from __future__ import annotations

from harness.runners.base import Runner, RunResult
from harness.runners.docker import DockerRunner, JetsonRunner
from harness.runners.local import InProcessRunner, SubprocessRunner

RUNNERS: dict[str, type[Runner]] = {
    SubprocessRunner.name: SubprocessRunner,
    InProcessRunner.name: InProcessRunner,
    DockerRunner.name: DockerRunner,
    JetsonRunner.name: JetsonRunner,
}

__all__ = ["RUNNERS", "RunResult", "Runner"]
