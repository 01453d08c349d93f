"""Starts a stack (a local program or `docker run`), releases frames to it on a paced clock,
and hands each stdout line to the caller with its arrival time; stderr goes to a file.

The clock starts when the stack writes its `ready` line: frame i is released (a
`{"frame": i, "t_s": t}` line on the stack's stdin) `t / speed` seconds later; stdin closes
after the last frame. A line that answers
frame i arrives `latency` after that release. The whole run has one deadline; past it the
stack's process group (and its container) is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import StackError

CONTAINER_INPUT = "/input"
LABEL = "org.harness.e2e=stack"
TAIL_LINES = 12


@dataclass(frozen=True)
class Launch:
    """How to start the stack: argv (with "{input}" replaced) and, for a container, the image."""

    command: Sequence[str]
    input_dir: Path
    image: str | None = None

    def argv(self, container_name: str) -> list[str]:
        where = CONTAINER_INPUT if self.image else str(self.input_dir)
        command = [part.replace("{input}", where) for part in self.command]
        if not self.image:
            return command
        return [
            "docker", "run", "--rm", "-i", "--network", "none", "--name", container_name,
            "--label", LABEL, "-v", f"{self.input_dir}:{CONTAINER_INPUT}:ro",
            "-e", f"HARNESS_STACK_INPUT={CONTAINER_INPUT}", self.image, *command,
        ]  # fmt: skip


class Clock:
    """Release times of the frames, shared by the feeding thread and the reader."""

    def __init__(self, frames: int) -> None:
        self.released: list[float | None] = [None] * frames
        self.started = 0.0
        self.ready = threading.Event()

    def start(self) -> None:
        """The stack said it is ready: frame 0's time is now."""
        if not self.ready.is_set():
            self.started = time.monotonic()
            self.ready.set()

    def latency_ms(self, frame: int | None, arrived: float) -> tuple[bool, float | None]:
        if frame is None or not 0 <= frame < len(self.released):
            return True, None
        at = self.released[frame]
        return (False, None) if at is None else (True, (arrived - at) * 1e3)


def tick(frame: int, t_s: float) -> bytes:
    """The stdin line that releases one frame to the stack."""
    return json.dumps({"frame": frame, "t_s": float(t_s)}).encode() + b"\n"


def _feed(proc: subprocess.Popen, frame_t: Sequence[float], speed: float, clock: Clock) -> None:
    clock.ready.wait()
    try:
        for i, t in enumerate(frame_t):
            delay = clock.started + float(t) / speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            clock.released[i] = time.monotonic()
            proc.stdin.write(tick(i, t))
            proc.stdin.flush()
        proc.stdin.close()
    except (BrokenPipeError, OSError, ValueError):
        pass  # the stack exited or stopped reading; its exit status tells why


def stderr_tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-TAIL_LINES:])


def run_stack(
    launch: Launch,
    frame_t: Sequence[float],
    speed: float,
    deadline_s: float,
    stderr_path: Path,
    on_line: Callable[[int, bytes, Clock, float], None],
) -> None:
    """Run the stack to its end; StackError if it cannot start, crashes, hangs or `on_line`
    refuses a line (the stack is stopped first). The message carries the stderr tail."""
    name = f"harness-stack-{uuid.uuid4().hex[:12]}"
    env = {**os.environ, "HARNESS_STACK_INPUT": str(launch.input_dir)}
    stderr_path.parent.mkdir(parents=True, exist_ok=True)
    with stderr_path.open("wb") as err:
        try:
            proc = subprocess.Popen(
                launch.argv(name),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise StackError(f"the stack could not start: {exc}; check process.command") from None
        clock = Clock(len(frame_t))
        expired = threading.Event()
        timer = threading.Timer(deadline_s, _expire, (proc, launch, name, expired))
        timer.start()
        feeder = threading.Thread(target=_feed, args=(proc, frame_t, speed, clock), daemon=True)
        feeder.start()
        try:
            for number, raw in enumerate(proc.stdout, start=1):
                on_line(number, raw, clock, time.monotonic())
            code = proc.wait()
        except BaseException:
            _stop(proc, launch, name)
            proc.wait()
            raise
        finally:
            timer.cancel()
            proc.stdout.close()
            never_ready = not clock.ready.is_set()
            clock.ready.set()  # lets the feeding thread end
    tail = stderr_tail(stderr_path)
    if expired.is_set():
        waiting = ' (it never wrote its {"type": "ready"} line)' if never_ready else ""
        raise StackError(
            f"the stack did not finish within {deadline_s:g} s (process.timeout_s) and was "
            f"killed{waiting}; its stderr ends:\n{tail or '(empty)'}"
        )
    if code != 0:
        how = f"signal {-code}" if code < 0 else f"exit status {code}"
        raise StackError(
            f"the stack stopped with {how} before the end of the clip; its stderr ends:\n"
            f"{tail or '(empty)'}"
        )


def _expire(proc: subprocess.Popen, launch: Launch, name: str, expired: threading.Event) -> None:
    if proc.poll() is None:
        expired.set()
        _stop(proc, launch, name)


def _stop(proc: subprocess.Popen, launch: Launch, name: str) -> None:
    """Kill the stack's process group, and its container if it runs in one."""
    if launch.image:
        subprocess.run(["docker", "kill", name], capture_output=True, timeout=30, check=False)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
