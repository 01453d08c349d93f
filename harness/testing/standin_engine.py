"""A stand-in board: a dockerd on its own socket that cannot see this machine's checkout.

The board-farm tests need engines that share nothing with the host, like a Jetson reached
over the network. `StandinEngine` starts `dockerd` in a private mount namespace where the
given folders (the checkout, the temp dir) are empty tmpfs mounts, with its own data root,
socket and no bridge; images are copied in with `docker save | docker load` (never pulled).
A bind mount of a host path would see an empty folder there, so only runs that move their
inputs through the engine's API get the host's verdicts. Needs root and the dockerd binary.

Its dockerd dies with the process that started it, and starting one removes what stand-ins of
dead sessions left (each home holds a copy of the runner image, about 2 GB).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from harness.deathsig import die_with_parent
from harness.errors import RunnerError
from harness.runners.base import pid_alive
from harness.runners.engine import Engine

HOMES = Path("/var/lib/harness-standin")  # outside every masked folder, short socket paths
OWNER = "owner.pid"  # the process that started the stand-in
STALE_AFTER_S = 60.0  # a home younger than this may be one starting now


def _alive(pid_file: Path) -> bool:
    try:
        return pid_alive(int(pid_file.read_text().strip()))
    except (OSError, ValueError):
        return False


def remove_stale(homes: Path = HOMES) -> list[str]:
    """Remove the homes whose starter and dockerd are both gone (a killed test session); the
    names removed."""
    removed = []
    for home in sorted(homes.glob("*")) if homes.is_dir() else []:
        if _alive(home / OWNER) or _alive(home / "docker.pid"):
            continue
        if time.time() - home.stat().st_mtime < STALE_AFTER_S:
            continue
        shutil.rmtree(home, ignore_errors=True)
        removed.append(home.name)
    return removed


class StandinEngine:
    """One stand-in board; use as a context manager (stops it and removes its data)."""

    def __init__(self, masked: Iterable[Path], name: str | None = None) -> None:
        self.name = name or uuid.uuid4().hex[:8]
        self.home = HOMES / self.name
        self.masked = [Path(p).resolve() for p in masked]
        self.engine = Engine(f"unix://{self.home / 'docker.sock'}")
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> Engine:
        if not shutil.which("dockerd") or not shutil.which("unshare"):
            raise RunnerError("a stand-in board needs the dockerd and unshare binaries")
        remove_stale()
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / OWNER).write_text(f"{os.getpid()}\n")
        mounts = "".join(f"mount -t tmpfs standin {shlex.quote(str(p))} && " for p in self.masked)
        dockerd = shlex.join(
            ["dockerd", "--host", self.engine.url, "--data-root", str(self.home / "data"),
             "--exec-root", str(self.home / "exec"), "--pidfile", str(self.home / "docker.pid"),
             "--bridge", "none", "--iptables=false", "--ip-masq=false",
             "--shutdown-timeout", "1"]
        )  # fmt: skip
        log = (self.home / "dockerd.log").open("wb")
        self._proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             f"{mounts}exec {dockerd}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent(),  # no engine outlives a killed test session
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            with contextlib.suppress(Exception):
                self.engine.client(timeout=5).ping()
                return self.engine
            time.sleep(0.5)
        self.stop()
        raise RunnerError(f"stand-in dockerd did not come up; see {self.home}/dockerd.log")

    def load(self, *images: str, source: Engine | None = None) -> None:
        """Copy images from `source` (default: this machine's engine) with save | load."""
        src = ["docker", *(["-H", source.url] if source and source.url else [])]
        for image in images:
            save = subprocess.Popen(
                [*src, "save", image], stdout=subprocess.PIPE, preexec_fn=die_with_parent()
            )
            done = subprocess.run(
                ["docker", "-H", self.engine.url, "load", "-q"],
                stdin=save.stdout, capture_output=True, text=True, preexec_fn=die_with_parent(),
            )  # fmt: skip
            save.wait()
            if done.returncode or save.returncode:
                raise RunnerError(f"loading {image} into {self.engine.url}: {done.stderr.strip()}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> Engine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
