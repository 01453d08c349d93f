"""Docker fixtures: the local engine, the e2e-runner image, a second engine as the board.

No engine -> these tests skip with the reason, unless HARNESS_REQUIRE_DOCKER=1 (CI), where
they fail instead. The second engine is a dockerd on its own socket and data root that cannot
see the checkout or /tmp (harness.testing.standin_engine): the stand-in for a Jetson's engine
reached through DOCKER_HOST.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import RunnerError
from harness.runners import image
from harness.runners.engine import Engine
from harness.testing.standin_engine import StandinEngine

REPO = Path(__file__).resolve().parents[2]
FAKE = "/work/project/harness/testing/fake_run.py"  # stdlib only: runs on the bare base image


def unavailable(reason: str) -> None:
    """Skip, or fail when the session promised an engine (HARNESS_REQUIRE_DOCKER=1)."""
    if os.environ.get("HARNESS_REQUIRE_DOCKER") == "1":
        pytest.fail(f"HARNESS_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def fake(mode: str, *extra: str):
    """A runner command that starts the misbehaving stand-in instead of harness.run."""
    return lambda _scenario: ["python3", FAKE, mode, "--out", "/results", *extra]


def hears_ctrl_c() -> None:
    """preexec_fn for a child a test sends Ctrl-C to: SIGINT back to its default. A suite
    started in the background by a non-interactive shell (`nohup scripts/test &`, some CI
    agents) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


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


def masked_paths() -> list[Path]:
    """What a stand-in board must not see: the checkout (and where its links point), /tmp."""
    paths = [REPO, Path(tempfile.gettempdir())]
    for link in ("models", ".cache"):
        target = (REPO / link).resolve()
        if target.exists() and not target.is_relative_to(REPO):
            paths.append(target)
    return paths


@contextlib.contextmanager
def standin(*images: str) -> Iterator[Engine]:
    """A stand-in board (harness.testing.standin_engine) with `images` loaded; skips without
    root."""
    if os.getuid() != 0 or not shutil.which("dockerd"):
        unavailable("a stand-in board needs root and the dockerd binary")
    board = StandinEngine(masked_paths())
    try:
        engine = board.start()
    except RunnerError as exc:
        unavailable(str(exc))
    try:
        board.load(*images)
        yield engine
    finally:
        board.stop()


@pytest.fixture(scope="session")
def second_engine(engine: Engine, base_tag: str) -> Iterator[Engine]:
    """A dockerd on its own socket with the base image loaded (the board's stand-in)."""
    with standin(base_tag) as board:
        yield board


@pytest.fixture(scope="session")
def board_with_runner(engine: Engine, runner_image: image.BuildResult) -> Iterator[Engine]:
    """A stand-in board that cannot see the checkout, with the e2e-runner image loaded."""
    with standin(runner_image.tag) as board:
        yield board
