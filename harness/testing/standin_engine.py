"""A stand-in board: a dockerd on its own socket that cannot see this machine's checkout.

The board-farm tests need engines that share nothing with the host, like a Jetson reached
over the network. `StandinEngine` starts `dockerd` in a private mount namespace where the
given folders (the checkout, the temp dir) are empty tmpfs mounts, with its own data root,
socket and no bridge; images are copied in with `docker save | docker load` (never pulled).
A bind mount of a host path would see an empty folder there, so only runs that move their
inputs through the engine's API get the host's verdicts. Needs root and the dockerd binary.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from harness.errors import RunnerError
from harness.runners.engine import Engine

HOMES = Path("/var/lib/harness-standin")  # outside every masked folder, short socket paths


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
        self.home.mkdir(parents=True, exist_ok=True)
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
            save = subprocess.Popen([*src, "save", image], stdout=subprocess.PIPE)
            done = subprocess.run(
                ["docker", "-H", self.engine.url, "load", "-q"],
                stdin=save.stdout, capture_output=True, text=True,
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
