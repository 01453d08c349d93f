"""The compose files as Compose itself resolves them (`docker-compose config`, no engine)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harness.errors import RunnerError
from harness.runners.docker import CPU_FILE, JETSON_FILE, SERVICE, compose_binary

REPO = Path(__file__).resolve().parents[2]


def resolved(*files: str) -> dict:
    try:
        binary = compose_binary()
    except RunnerError as exc:
        pytest.skip(str(exc))
    args = [a for f in files for a in ("-f", str(REPO / f))]
    env = {"PATH": "/usr/bin:/bin", "HARNESS_IMAGE": "harness-e2e-runner:test"}
    done = subprocess.run(
        [*binary, "--project-directory", str(REPO), *args, "config", "--format", "json"],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)["services"][SERVICE]


def mounts(service: dict) -> dict[str, dict]:
    return {v["target"]: v for v in service["volumes"]}


def test_jetson_service() -> None:
    s = resolved(JETSON_FILE)
    assert s["runtime"] == "nvidia" and s["pull_policy"] == "never"
    assert s["network_mode"] == "none" and s["init"] is True and s["shm_size"]
    assert s["environment"]["NVIDIA_VISIBLE_DEVICES"] == "all"
    assert s["build"]["args"]["BASE_IMAGE"].startswith("dustynv/l4t-pytorch:r36")
    m = mounts(s)
    # Nothing of the host: the board's cache volume and a file of the board itself.
    assert set(m) == {"/cache", "/etc/nv_tegra_release"}
    assert m["/cache"]["type"] == "volume"
    assert int(s["mem_limit"]) > 0 and s["mem_limit"] == s["memswap_limit"]


def test_cpu_override_drops_every_nvidia_part() -> None:
    s = resolved(JETSON_FILE, CPU_FILE)
    assert s["runtime"] == "runc" and "build" not in s
    assert s["image"] == "harness-e2e-runner:test"
    assert not any(k.startswith("NVIDIA") for k in s.get("environment", {}))
    m = mounts(s)
    assert set(m) == {"/cache"} and m["/cache"]["type"] == "volume"
    assert s["pull_policy"] == "never" and s["network_mode"] == "none"


def test_no_host_path_is_bound_and_the_cache_volume_is_kept() -> None:
    """`compose down -v` must not delete the board's cache: the volume is external."""
    for files in ((JETSON_FILE,), (JETSON_FILE, CPU_FILE)):
        s = resolved(*files)
        assert all(v["type"] == "volume" or v["source"].startswith("/etc/") for v in s["volumes"])
    args = [a for f in (JETSON_FILE, CPU_FILE) for a in ("-f", str(REPO / f))]
    done = subprocess.run(
        [*compose_binary(), "--project-directory", str(REPO), *args, "config", "--format", "json"],
        capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin", "HARNESS_CACHE_VOLUME": "board-cache"},
    )  # fmt: skip
    volume = json.loads(done.stdout)["volumes"]["cache"]
    assert volume == {"name": "board-cache", "external": True}


def test_a_stacks_sandbox_can_be_made_inside_the_service_and_nothing_more() -> None:
    """bubblewrap in the container needs user namespaces (seccomp) and a fresh /proc (Docker's
    masked paths); the service asks for exactly those, no capability and no privilege."""
    for files in ((JETSON_FILE,), (JETSON_FILE, CPU_FILE)):
        s = resolved(*files)
        assert sorted(s["security_opt"]) == ["seccomp=unconfined", "systempaths=unconfined"]
        assert not s.get("privileged") and not s.get("cap_add")
        assert s["user"] != "0" and not s["user"].startswith("0:")
