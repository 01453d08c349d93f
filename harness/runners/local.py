"""Local runners: a subprocess with a timeout (the default), and in-process for debugging."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from harness.runners.base import CHILD_PID_NAME, STDERR_NAME, Runner, RunResult, tail
from harness.telemetry import Sampler, merge_into_record

TELEMETRY_INTERVAL_S = 0.5
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> Callable[[], None] | None:
    """A preexec hook that makes the child die with this process (Linux), or None elsewhere.

    The child leads its own process group (killed whole on timeout), so a killed xdist worker
    would otherwise leave it running and writing a record nothing reads. Linux ties the signal
    to the starting thread: call `run` from a thread that outlives the run (any caller that
    waits for it does).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above: follow it now
            os._exit(1)

    return preexec


class SubprocessRunner(Runner):
    """`python -m harness.run` in a child process group, killed whole on timeout or when the
    process that started it dies; its pid is left in CHILD_PID_NAME while it runs."""

    name = "local"

    def command(self, scenario_path: Path, out_dir: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "harness.run",
            str(scenario_path),
            "--out",
            str(out_dir),
            "--runner",
            self.name,
            "--root",
            str(self.root),
            "--cache-dir",
            str(self.cache_dir),
        ]

    def run(self, scenario_path: Path, out_dir: Path, timeout_s: float) -> RunResult:
        out_dir.mkdir(parents=True, exist_ok=True)
        stderr_path = out_dir / STDERR_NAME
        start = time.monotonic()
        # What this host was doing during the run: the latency gate reports it with its verdict.
        with Sampler(TELEMETRY_INTERVAL_S) as sampler, stderr_path.open("wb") as err:
            proc = subprocess.Popen(
                self.command(scenario_path, out_dir),
                cwd=self.root,
                stdout=err,
                stderr=err,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )
            pid_file = out_dir / CHILD_PID_NAME
            pid_file.write_text(str(proc.pid), encoding="utf-8")
            try:
                rc: int | None = proc.wait(timeout=timeout_s)
                problem = None if rc == 0 else _exit_problem(rc)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                rc, problem = None, f"timed out after {timeout_s:g} s and was killed"
            except BaseException:  # Ctrl-C: take the child down with us
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
            finally:
                pid_file.unlink(missing_ok=True)
        merge_into_record(self.record_path(out_dir), sampler.samples)
        return RunResult(
            self.record_path(out_dir),
            rc,
            time.monotonic() - start,
            tail(stderr_path),
            problem,
        )


def _exit_problem(rc: int) -> str:
    if rc < 0:
        return f"harness.run was killed by {signal.Signals(-rc).name}"
    return f"harness.run exited with status {rc}"


class InProcessRunner(Runner):
    """Runs in the pytest process: breakpoints work, but a crash takes the session down."""

    name = "inprocess"

    def run(self, scenario_path: Path, out_dir: Path, timeout_s: float) -> RunResult:
        from harness.run.driver import run

        start = time.monotonic()
        run(scenario_path, out_dir, self.name, self.root, self.cache_dir)
        return RunResult(self.record_path(out_dir), 0, time.monotonic() - start)
