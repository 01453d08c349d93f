"""Runners start `python -m harness.run` in-process, in a subprocess or in a container.

The registry names each runner's class by import path, so choosing one (the pytest plugin
at start-up) costs nothing until a scenario runs; `RUNNERS` imports them all.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.runners.base import Runner, RunResult

RUNNER_CLASSES = {
    "local": "harness.runners.local:SubprocessRunner",
    "inprocess": "harness.runners.local:InProcessRunner",
    "docker": "harness.runners.docker:DockerRunner",
    "jetson": "harness.runners.jetson:JetsonRunner",
}

__all__ = ["RUNNERS", "RUNNER_CLASSES", "RunResult", "Runner", "runner_class"]


def runner_class(name: str) -> type[Runner]:
    """The runner registered as `name` (a key of RUNNER_CLASSES)."""
    module, _, attr = RUNNER_CLASSES[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def __getattr__(name: str) -> Any:
    if name == "RUNNERS":
        return {n: runner_class(n) for n in RUNNER_CLASSES}
    if name in ("Runner", "RunResult"):
        return getattr(importlib.import_module("harness.runners.base"), name)
    raise AttributeError(f"module 'harness.runners' has no attribute {name!r}")
