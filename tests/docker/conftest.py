"""Docker fixtures: the local engine, the e2e-runner image, a second engine as the board.

No engine -> these tests skip with the reason, unless HARNESS_REQUIRE_DOCKER=1 (CI), where
they fail instead. The second engine is a dockerd on its own socket and data root: the
stand-in for a Jetson's engine reached through DOCKER_HOST.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.runners import image
from harness.runners.jetson import Engine

REPO = Path(__file__).resolve().parents[2]
FAKE = "/work/project/harness/runners/fake.py"  # stdlib only: runs on the bare base image


def unavailable(reason: str) -> None:
    """Skip, or fail when the session promised an engine (HARNESS_REQUIRE_DOCKER=1)."""
    if os.environ.get("HARNESS_REQUIRE_DOCKER") == "1":
        pytest.fail(f"HARNESS_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def fake(mode: str, *extra: str):
    """A runner command that starts the misbehaving stand-in instead of harness.run."""
    return lambda _scenario: ["python3", FAKE, mode, "--out", "/results", *extra]


def leftovers(engine: Engine, session: str) -> list[str]:
    client = engine.client()
    found = client.containers.list(all=True, filters={"label": f"{image.LABEL}.session={session}"})
    nets = [n.name for n in client.networks.list() if session in n.name]
    return [c.name for c in found] + nets


@pytest.fixture(scope="session")
def engine() -> Engine:
    eng = Engine.resolve()
    try:
        eng.client(timeout=10).ping()
    except Exception as exc:
        unavailable(f"no Docker engine answers at {eng.label} ({type(exc).__name__})")
    return eng


@pytest.fixture(scope="session")
def runner_image(engine: Engine) -> image.BuildResult:
    """The CPU e2e-runner image (a no-op when .ci/run or a developer already built it)."""
    return image.build(REPO)


@pytest.fixture(scope="session")
def base_tag(runner_image: image.BuildResult) -> str:
    return runner_image.base_tag


@pytest.fixture(scope="session")
def second_engine(
    tmp_path_factory: pytest.TempPathFactory, engine: Engine, base_tag: str
) -> Iterator[Engine]:
    """A dockerd on its own socket with the base image loaded (the board's stand-in)."""
    if os.getuid() != 0 or not shutil.which("dockerd"):
        unavailable("a second dockerd needs root and the dockerd binary")
    home = tmp_path_factory.mktemp("engine2")
    sock = home / "docker.sock"
    log = (home / "dockerd.log").open("wb")
    proc = subprocess.Popen(
        ["dockerd", "--host", f"unix://{sock}", "--data-root", str(home / "data"),
         "--exec-root", str(home / "exec"), "--pidfile", str(home / "docker.pid"),
         "--bridge", "none", "--iptables=false", "--ip-masq=false", "--shutdown-timeout", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    second = Engine(f"unix://{sock}")
    try:
        for _ in range(60):
            try:
                second.client(timeout=5).ping()
                break
            except Exception:
                time.sleep(0.5)
        else:
            unavailable(f"the second dockerd did not come up; see {home}/dockerd.log")
        save = subprocess.Popen(["docker", "save", base_tag], stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "-H", second.url, "load", "-q"], stdin=save.stdout, check=True,
            capture_output=True,
        )  # fmt: skip
        save.wait()
        yield second
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(home / "data", ignore_errors=True)
