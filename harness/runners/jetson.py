"""The Jetson runner: the Docker runner's container on a board's engine (`--jetson`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.runners.docker import DockerRunner
from harness.runners.engine import Engine


class JetsonRunner(DockerRunner):
    """The same container on a Jetson's engine (--jetson): NVIDIA runtime, one run per board."""

    name = "jetson"
    jetson = True


def container_runner(
    root: Path, jetson: bool = False, jetson_host: str | None = None, **kw: Any
) -> DockerRunner:
    """The runner the plugin's --jetson/--jetson-host options ask for: the board's, or the
    local engine's."""
    if jetson:
        return JetsonRunner(root, engine=Engine.resolve(jetson_host), **kw)
    return DockerRunner(root, **kw)
