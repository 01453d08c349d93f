"""Losing the engine mid-run (the ssh link to a board drops) is infra-error, not a hang."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest

from harness.runners.docker import DockerRunner
from harness.runners.engine import Engine
from tests.docker.conftest import REPO, fake, leftovers

pytestmark = pytest.mark.docker
SCENARIO = REPO / "scenarios" / "provisioning" / "empty-backbones.scenario.yaml"


class SocketLink:
    """A unix-socket forwarder to an engine that can be cut, like a dropped ssh tunnel."""

    def __init__(self, path: Path, upstream: str) -> None:
        self.path, self.upstream = path, upstream
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen(16)
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self.server.accept()
            except OSError:
                return
            up = socket.socket(socket.AF_UNIX)
            up.connect(self.upstream)
            self.conns += [down, up]
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        self.server.close()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()


def _cut_once_running(link: SocketLink, engine: Engine, session: str) -> None:
    """Cut the link once the run's container is running (a fixed delay cut a slow start on a
    loaded host instead: "starting the container failed", not the loss under test)."""
    client = engine.client()
    label = {"label": f"org.harness.e2e.session={session}", "status": "running"}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not client.containers.list(filters=label):
        time.sleep(0.2)
    time.sleep(1.0)  # inside the run, not at its first breath
    link.cut()


def test_engine_lost_during_the_run(second_engine: Engine, base_tag: str, tmp_path: Path) -> None:
    link = SocketLink(tmp_path / "link.sock", second_engine.url.removeprefix("unix://"))
    through = Engine(f"unix://{link.path}")
    r = DockerRunner(REPO, engine=through, image=base_tag, command=fake("sleep"), telemetry=False)
    threading.Thread(target=_cut_once_running, args=(link, second_engine, r.session)).start()
    start = time.monotonic()
    result = r.run(SCENARIO, tmp_path / "out", timeout_s=120)
    assert time.monotonic() - start < 60
    assert result.infra_error is not None
    assert result.infra_error.startswith("engine lost during the run"), result.infra_error
    assert result.verdict().gate == "infra-error"
    # The board's engine itself lives on: the next session's sweep (or this) clears it.
    client = second_engine.client()
    for c in client.containers.list(
        all=True, filters={"label": f"org.harness.e2e.session={r.session}"}
    ):
        c.remove(force=True)
    assert leftovers(second_engine, r.session) == []
