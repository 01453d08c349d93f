"""The Jetson target's pure parts: engine resolution, GPU runtime detection, the board lock."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from harness.runners.engine import Engine, device_lock, gpu_runtime_problem
from harness.runners.jetson import JetsonRunner, container_runner

REPO = Path(__file__).resolve().parents[2]


def test_jetson_host_wins_over_docker_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "ssh://ci@board-a")
    assert Engine.resolve().url == "ssh://ci@board-a"
    assert Engine.resolve("ci@board-b").url == "ssh://ci@board-b"
    assert Engine.resolve("tcp://10.0.0.5:2376").env()["DOCKER_HOST"] == "tcp://10.0.0.5:2376"
    monkeypatch.delenv("DOCKER_HOST")
    assert Engine.resolve().url is None and Engine.resolve().label == "local engine"


def test_gpu_runtime_detection() -> None:
    board = {"Runtimes": {"runc": {}, "nvidia": {}}, "Architecture": "aarch64"}
    assert gpu_runtime_problem(board) is None
    problem = gpu_runtime_problem({"Runtimes": {"runc": {}}, "Architecture": "aarch64"})
    assert "no 'nvidia' runtime (it has: runc)" in problem and "nvidia-ctk" in problem
    x86 = {"Runtimes": {"nvidia": {}}, "Architecture": "x86_64"}
    assert "not a Jetson" in gpu_runtime_problem(x86)


def test_jetson_option_selects_the_jetson_compose_file_only() -> None:
    jetson = container_runner(REPO, True, "ssh://ci@board")
    assert isinstance(jetson, JetsonRunner) and jetson.name == "jetson"
    assert [p.name for p in jetson.compose_files] == ["docker-compose.test.jetson.yml"]
    assert jetson.engine.url == "ssh://ci@board" and jetson.image.endswith(":jetson")
    cpu = container_runner(REPO)
    assert [p.name for p in cpu.compose_files] == [
        "docker-compose.test.jetson.yml", "docker-compose.cpu.yml"
    ]  # fmt: skip


def _hold(lock_dir: str, url: str, hold_s: float, out: multiprocessing.Queue) -> None:
    import os

    os.environ["HARNESS_DEVICE_LOCK_DIR"] = lock_dir
    with device_lock(Engine(url)):
        out.put(("in", url, time.monotonic()))
        time.sleep(hold_s)
        out.put(("out", url, time.monotonic()))


def test_two_workers_never_share_a_board(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_hold, args=(str(tmp_path), "ssh://b1", 0.3, q)) for _ in "ab"]
    procs.append(ctx.Process(target=_hold, args=(str(tmp_path), "ssh://b2", 0.3, q)))
    for p in procs:
        p.start()
    for p in procs:
        p.join(10)
    events = sorted((q.get(timeout=1) for _ in range(6)), key=lambda e: e[2])
    inside = {"ssh://b1": 0, "ssh://b2": 0}
    overlap_b1_b2 = False
    for kind, url, _ in events:
        inside[url] += 1 if kind == "in" else -1
        assert inside[url] <= 1, "two workers held the same board"
        overlap_b1_b2 |= inside["ssh://b1"] == 1 and inside["ssh://b2"] == 1
    assert overlap_b1_b2  # different boards do run in parallel
