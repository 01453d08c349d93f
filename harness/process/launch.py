"""Starts a stack (a local program in its sandbox, or `docker run`), releases the clip to it on
the harness's clock (harness.run.feed) and hands each stdout line to the caller with its
arrival time; stderr goes to a file.

The clock starts when the stack writes its `ready` line: a sample at time t is released
`t / speed` seconds later, as one line on the stack's stdin (IMU, telemetry, frame); a frame's
pixels are written to `frames/NNNNNN.npy` in the stack's input at that moment, never earlier.
stdin closes after the last release. A line that answers frame i arrives `latency` after its
release. The whole run has one deadline; past it the stack (its sandbox or container) is
killed.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.errors import StackError
from harness.process import sandbox
from harness.process.inputs import FRAMES_DIR
from harness.record import json_ready
from harness.run import feed
from harness.run.feed import Clock, Sample, schedule

if TYPE_CHECKING:
    from harness.clip import Clip

LABEL = "org.harness.e2e=stack"
TAIL_LINES = 12
FEEDER_JOIN_S = 30.0  # a write to a stack that is gone fails at once; this is a backstop


@dataclass(frozen=True)
class Launch:
    """How to start the stack: argv (with "{input}" replaced by /input, where the stack sees
    its input) in the sandbox, or in a container of `image`. `input_dir` is the static input,
    `frames_dir` this run's own folder the frames are written to at release (seen at
    /input/frames); `shown` are the other host folders the sandbox shows (the program's, the
    scenario's `mounts`); `frame_store`, where a sweep keeps each frame's file once (never
    shown): a frame found there is linked into `frames_dir` at its release, not decoded."""

    command: Sequence[str]
    input_dir: Path
    frames_dir: Path
    image: str | None = None
    shown: Sequence[Path] = ()
    frame_store: Path | None = None

    def argv(self, container_name: str) -> list[str]:
        command = [part.replace("{input}", sandbox.INPUT) for part in self.command]
        if not self.image:
            return sandbox.wrap(command, self.input_dir, self.frames_dir, self.shown)
        frames = f"{sandbox.INPUT}/{FRAMES_DIR}"
        return [
            "docker", "run", "--rm", "-i", "--network", "none", "--name", container_name,
            "--label", LABEL, "-v", f"{self.input_dir}:{sandbox.INPUT}:ro",
            "-v", f"{self.frames_dir}:{frames}:ro",
            "-e", f"HARNESS_STACK_INPUT={sandbox.INPUT}", self.image, *command,
        ]  # fmt: skip


def frame_name(i: int) -> str:
    """Frame i's file name, in the frames folder and in a sweep's frame store alike."""
    return f"{i:06d}.npy"


def frame_file(i: int) -> str:
    """Where frame i's pixels appear at its release, relative to the input folder."""
    return f"{FRAMES_DIR}/{frame_name(i)}"


_IMU_LINE = (
    '{{"type":"imu","t_s":{!r},"gyro_rad_s":[{!r},{!r},{!r}],"accel_m_s2":[{!r},{!r},{!r}]}}\n'
)


def release_line(sample: Sample) -> bytes:
    """The stdin line of one release (stack input, docs/adapters.md section 3)."""
    r = sample.release
    if r.kind == "imu":  # the most frequent line, written directly (json_ready's walk is 10x)
        values = (r.t_s, *sample.gyro_rad_s.tolist(), *sample.accel_m_s2.tolist())
        if all(map(math.isfinite, values)):
            return _IMU_LINE.format(*values).encode()
        obj = {"type": "imu", "t_s": r.t_s, "gyro_rad_s": sample.gyro_rad_s,
               "accel_m_s2": sample.accel_m_s2}  # fmt: skip
    elif r.kind == "telemetry":
        obj = {"type": "telemetry", "t_s": r.t_s, "q_wxyz": sample.q_wxyz,
               "baro_height_m": sample.baro_height_m}  # fmt: skip
    else:
        obj = {"type": "frame", "frame": r.index, "t_s": r.t_s, "file": frame_file(r.index)}
    return json.dumps(json_ready(obj), separators=(",", ":")).encode() + b"\n"


def write_frame(frames_dir: Path, i: int, pixels: np.ndarray) -> None:
    """Frame i's file, whole or not at all (a stack never reads half a frame)."""
    final = frames_dir / frame_name(i)
    part = final.with_name(f".{final.name}.part")
    with part.open("wb") as fh:
        np.save(fh, np.ascontiguousarray(pixels, dtype=np.uint8))
    os.replace(part, final)


def release_frame(launch: Launch, i: int, pixels: np.ndarray | None) -> None:
    """Frame i's file into the stack's frames folder at its release: written (`pixels`), or
    linked from the frame store when an earlier replay left it there (`pixels` None)."""
    if launch.frame_store is None:
        write_frame(launch.frames_dir, i, pixels)
        return
    if pixels is not None:
        write_frame(launch.frame_store, i, pixels)
    name = frame_name(i)
    try:
        os.link(launch.frame_store / name, launch.frames_dir / name)  # whole, at once
    except OSError:  # a file system without hard links
        write_frame(launch.frames_dir, i, np.load(launch.frame_store / name))


def _feed(proc: subprocess.Popen, clip: Clip, launch: Launch, clock: Clock) -> None:
    """Release the clip on the clock: each sample prepared ahead, then sent when due."""
    store = launch.frame_store
    clock.ready.wait()
    try:
        for release in schedule(clip):
            kept = (
                store is not None
                and release.kind == "frame"
                and (store / frame_name(release.index)).is_file()
            )
            # a frame is decoded before its time comes, unless a replay before left its file
            sample = Sample(release) if kept else feed.sample(clip, release)
            if not clock.wait_for(release.t_s):
                return  # the stack is gone: nothing more is released, nor written
            if release.kind == "frame":
                release_frame(launch, release.index, sample.pixels)
                clock.released[release.index] = time.monotonic()
            proc.stdin.write(release_line(sample))
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
    clip: Clip,
    speed: float,
    deadline_s: float,
    stderr_path: Path,
    on_line: Callable[[int, bytes, Clock, float], None],
    clock: Clock | None = None,
) -> None:
    """Run the stack to its end; StackError if it cannot start, crashes, hangs or `on_line`
    refuses a line (the stack is stopped first). The message carries the stderr tail. The
    clock is `clock` when given (a throughput sweep's, at its speed), else a new one at
    `speed`."""
    name = f"harness-stack-{uuid.uuid4().hex[:12]}"
    stderr_path.parent.mkdir(parents=True, exist_ok=True)
    with stderr_path.open("wb") as err:
        try:
            proc = subprocess.Popen(
                launch.argv(name),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )
        except OSError as exc:
            raise StackError(f"the stack could not start: {exc}; check process.command") from None
        clock = clock or Clock(len(clip.frames), speed)
        expired = threading.Event()
        timer = threading.Timer(deadline_s, _expire, (proc, launch, name, expired))
        timer.start()
        feeder = threading.Thread(target=_feed, args=(proc, clip, launch, clock), daemon=True)
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
            clock.stopped.set()
            clock.ready.set()  # lets the feeding thread end
            # ... before the frames folder goes and the releases are counted
            feeder.join(FEEDER_JOIN_S)
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
    released = sum(at is not None for at in clock.released)
    if released < len(clock.released):  # a launcher that lost its stack's status exits 0 too
        raise StackError(
            f"the stack exited with status 0 before the end of the clip ({released} of "
            f"{len(clock.released)} frames released); its stderr ends:\n{tail or '(empty)'}"
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
