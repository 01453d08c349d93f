"""The local runner's preloaded run process (`harness.run.preload`): started on first use, asked
to fork one child per scenario, started again when it died.

`HARNESS_PRELOAD=0` turns it off: each run is then a fresh `python -m harness.run` process.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

from harness.deathsig import die_with_parent
from harness.errors import RunnerError
from harness.runners.base import tail

PRELOAD_ENV = "HARNESS_PRELOAD"
READY_TIMEOUT_S = 120.0  # the preload imports numpy, scipy, pydantic: seconds on a busy host
COMMAND = [sys.executable, "-m", "harness.run.preload"]


def enabled() -> bool:
    """Whether runs go through a preloaded process (the default; HARNESS_PRELOAD=0: not)."""
    return os.environ.get(PRELOAD_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


class PreloadUnavailable(RunnerError):
    """The preloaded process could not be started: the caller starts a fresh process instead."""


class PreloadLost(RunnerError):
    """The preloaded process died while one of its children ran (that run is infra-error)."""


class Child:
    """A run forked by the preloaded process, waited for like a `subprocess.Popen`."""

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self.zygote = zygote
        self.pid = pid
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        """Its returncode (-N when killed by signal N); TimeoutExpired as Popen.wait raises it,
        PreloadLost when the preloaded process died (taking this child with it)."""
        if self.returncode is None:
            reply = self.zygote.receive(timeout)
            self.returncode = int(reply["status"])
        return self.returncode


class Zygote:
    """One preloaded process for a project root (the runner's), in its own session."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc: subprocess.Popen[bytes] | None = None
        self._buf = b""
        self._err: Any = None

    def start(self, argv: list[str], stderr_path: Path) -> Child:
        """Fork a child running `python -m harness.run ARGV`, in this process's environment."""
        request = {
            "argv": argv,
            "env": dict(os.environ),
            "cwd": str(self.root),
            "stderr": str(stderr_path),
        }
        line = (json.dumps(request) + "\n").encode()
        problem = ""
        for _ in range(2):  # a process that died since the last run is started again
            proc = self._running()
            try:
                proc.stdin.write(line)
                return Child(self, int(self.receive(READY_TIMEOUT_S)["pid"]))
            except (BrokenPipeError, PreloadLost, subprocess.TimeoutExpired) as exc:
                problem = str(exc)
                self.close()
        raise PreloadUnavailable(f"the preloaded run process takes no runs: {problem}")

    def _running(self) -> subprocess.Popen[bytes]:
        if self.proc is not None and self.proc.poll() is None:
            return self.proc
        self.close()
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            COMMAND,
            cwd=self.root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            bufsize=0,
            start_new_session=True,  # a Ctrl-C in the terminal is the runner's to handle
            preexec_fn=die_with_parent(),
        )
        weakref.finalize(self, _stop, self.proc)
        try:
            self.receive(READY_TIMEOUT_S)
        except (PreloadLost, subprocess.TimeoutExpired) as exc:
            why = self._stderr_tail() or str(exc)
            self.close()
            raise PreloadUnavailable(f"{' '.join(COMMAND)} did not start: {why}") from None
        return self.proc

    def receive(self, timeout: float | None) -> dict[str, Any]:
        """The next reply line; TimeoutExpired when none came in `timeout` s, PreloadLost when
        the process ended."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(COMMAND, timeout or 0.0)
            if not select.select([fd], [], [], left)[0]:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                self.proc.wait()
                raise PreloadLost(
                    f"the preloaded run process (pid {self.proc.pid}) ended "
                    f"({self.proc.returncode}) during the run"
                )
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)

    def _stderr_tail(self) -> str:
        if self._err is None:
            return ""
        self._err.flush()
        name = f"/proc/self/fd/{self._err.fileno()}"
        return " | ".join(tail(Path(name), 5)) if Path(name).exists() else ""

    def close(self) -> None:
        """Stop the process (its stdin closes: it exits) and forget it."""
        if self.proc is not None:
            _stop(self.proc)
        if self._err is not None:
            self._err.close()
        self.proc, self._err, self._buf = None, None, b""


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
