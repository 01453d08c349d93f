"""The runner interface: start `python -m harness.run` somewhere and say how it ended.

A runner never judges the product: it reports where the record is and, when the machinery
broke (crash, timeout, kill, engine loss), an `infra_error` that overrides the record.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from harness.gates import Verdict, conclude, write_verdict
from harness.record import RECORD_NAME

STDERR_NAME = "stderr.log"
CHILD_PID_NAME = "child.pid"  # the run's process (group leader) while a runner waits for it
CONTAINER_NAME = "container.json"  # the run's container {engine, name} while a runner waits


@dataclass(frozen=True)
class RunResult:
    record_path: Path
    returncode: int | None
    seconds: float
    stderr_tail: list[str] = field(default_factory=list)
    infra_error: str | None = None
    image_digest: str | None = None

    def verdict(self) -> Verdict:
        """Classify the collected record once, here on the host, and write the verdict into it;
        when the machinery broke, infra-error with the stderr tail instead."""
        if self.infra_error is None:
            return conclude(self.record_path)
        tail = "\n".join(self.stderr_tail)
        verdict = Verdict.broken("infra-error", f"{self.infra_error}\n{tail}".strip())
        write_verdict(self.record_path, verdict)
        return verdict


class Runner(ABC):
    """Where and how a scenario runs. Subclasses name themselves for `--runner`."""

    name: ClassVar[str]

    def __init__(self, root: Path, cache_dir: Path | None = None) -> None:
        self.root = root
        self.cache_dir = cache_dir or root / ".cache"

    def preflight(self) -> None:  # noqa: B027 - optional hook, most runners need none
        """Check once per session that this runner can work; raise RunnerError if not."""

    @abstractmethod
    def run(self, scenario_path: Path, out_dir: Path, timeout_s: float) -> RunResult: ...

    @staticmethod
    def record_path(out_dir: Path) -> Path:
        return out_dir / RECORD_NAME


def tail(path: Path, lines: int = 20) -> list[str]:
    """The last lines of a log file (empty when it does not exist)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            return [line.rstrip("\n") for line in deque(fh, maxlen=lines)]
    except OSError:
        return []


def pid_alive(pid: int) -> bool:
    """Whether a process of this host still runs (for sweeping what dead sessions left)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
