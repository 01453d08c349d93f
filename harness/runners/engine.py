"""The Jetson target: which engine is the board, its GPU runtime, and a per-board lock.

Resource role (labgrid): an `Engine` says where a Docker engine is (a DOCKER_HOST URL or the
local socket). With pytest-xdist, each run on a board holds `device_lock(engine)`, an
exclusive flock keyed by the engine URL, so two workers never share a board.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import RunnerError

LOCK_DIR_ENV = "HARNESS_DEVICE_LOCK_DIR"


@dataclass(frozen=True)
class Engine:
    """Where a Docker engine answers; `url` None means the environment's default."""

    url: str | None = None

    @classmethod
    def resolve(cls, jetson_host: str | None = None) -> Engine:
        """--jetson-host wins over DOCKER_HOST; a bare host name means ssh://host."""
        url = jetson_host or os.environ.get("DOCKER_HOST") or None
        if url and "://" not in url:
            url = f"ssh://{url}"
        return cls(url)

    @property
    def label(self) -> str:
        return self.url or "local engine"

    def env(self) -> dict[str, str]:
        """Environment for the docker/compose CLIs aimed at this engine."""
        env = dict(os.environ)
        if self.url:
            env["DOCKER_HOST"] = self.url
        return env

    def client(self, timeout: int = 60) -> Any:
        import docker

        if self.url is None:
            return docker.from_env(timeout=timeout)
        return docker.DockerClient(
            base_url=self.url, timeout=timeout, use_ssh_client=self.url.startswith("ssh://")
        )


def gpu_runtime_problem(info: dict[str, Any]) -> str | None:
    """Why the engine cannot run the Jetson compose file, or None (reads `docker info`)."""
    runtimes = info.get("Runtimes") or {}
    if "nvidia" not in runtimes:
        names = ", ".join(sorted(runtimes)) or "none"
        return (
            f"the engine has no 'nvidia' runtime (it has: {names}); install "
            "nvidia-container-toolkit on the board and register it with "
            "`nvidia-ctk runtime configure --runtime=docker`"
        )
    if info.get("Architecture") not in (None, "aarch64", "arm64"):
        return f"the engine runs on {info.get('Architecture')}, not a Jetson (aarch64)"
    return None


def lock_path(engine: Engine, key: str | None = None) -> Path:
    base = Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "harness-devices")
    base.mkdir(parents=True, exist_ok=True)
    return base / f"{hashlib.sha256((key or engine.label).encode()).hexdigest()[:16]}.lock"


@contextlib.contextmanager
def device_lock(
    engine: Engine, timeout_s: float = 3600.0, key: str | None = None
) -> Iterator[float]:
    """Hold the board exclusively (keyed by its engine, or by `key`: a farm place); yields
    the seconds spent waiting for it."""
    path = lock_path(engine, key)
    start = time.monotonic()
    with path.open("a+") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - start > timeout_s:
                    raise RunnerError(
                        f"{engine.label} stayed busy for {timeout_s:g} s (lock {path})"
                    ) from None
                time.sleep(0.2)
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}\n")
            fh.flush()
            yield time.monotonic() - start
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
