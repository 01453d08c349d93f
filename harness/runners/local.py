"""Local runners: a subprocess with a timeout (the default), and in-process for debugging."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.deathsig import die_with_parent
from harness.runners import preloaded
from harness.runners.base import CHILD_PID_NAME, STDERR_NAME, Runner, RunResult, tail
from harness.runners.device_telemetry import Sampler, merge_into_record

TELEMETRY_INTERVAL_S = 0.5
log = logging.getLogger(__name__)


class SubprocessRunner(Runner):
    """`python -m harness.run` in a child process group, killed whole on timeout or when the
    process that started it dies; its pid is left in CHILD_PID_NAME while it runs.

    The child is forked from a preloaded run process (`harness.runners.preloaded`) unless
    `preload` is False or HARNESS_PRELOAD=0; if that process cannot be started, each run is
    a fresh process.
    """

    name = "local"

    def __init__(self, root: Path, cache_dir: Path | None = None, preload: bool | None = None):
        super().__init__(root, cache_dir)
        use = preloaded.enabled() if preload is None else preload
        self.zygote = preloaded.Zygote(self.root) if use else None

    def _start(self, scenario_path: Path, out_dir: Path, stderr_path: Path, err) -> Any:
        """The run's process: a preloaded child, else a fresh one (both waited on alike)."""
        command = self.command(scenario_path, out_dir)
        if self.zygote is not None:
            try:
                return self.zygote.start(command[3:], stderr_path)
            except preloaded.PreloadUnavailable as exc:
                log.warning("%s; fresh run processes from now on", exc)
                self.zygote = None
        return subprocess.Popen(
            command,
            cwd=self.root,
            stdout=err,
            stderr=err,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )

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
            proc = self._start(scenario_path, out_dir, stderr_path, err)
            pid_file = out_dir / CHILD_PID_NAME
            pid_file.write_text(str(proc.pid), encoding="utf-8")
            try:
                rc: int | None = proc.wait(timeout=timeout_s)
                problem = None if rc == 0 else _exit_problem(rc)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                rc, problem = None, f"timed out after {timeout_s:g} s and was killed"
            except preloaded.PreloadLost as exc:  # the child went with it
                rc, problem = None, str(exc)
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
