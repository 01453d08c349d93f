"""A labgrid lab on this machine: a real coordinator, one exporter per board, tagged places.

For the farm's tests and bench: `Lab` starts `labgrid-coordinator` on a free loopback port
(its state files in a private folder), then for each board an exporter that exports the
board's Docker engine as a `NetworkService` (see harness.runners.places), and a place with
the board's tags matching that resource. Everything is a real labgrid process; nothing is
stubbed. `kill_exporter` takes a board off the coordinator, as a board's host going down does.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.deathsig import die_with_parent
from harness.errors import RunnerError
from harness.runners.places import Coordinator

_ENV = {**os.environ, "GRPC_ENABLE_FORK_SUPPORT": "0", "PYTHONUNBUFFERED": "1"}


def _wait_for(proc: subprocess.Popen[str], pattern: str, what: str, log: Path, timeout_s: float):
    """Read the process's output until `pattern` shows; the match, or RunnerError."""
    deadline = time.monotonic() + timeout_s
    seen: list[str] = []
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    with log.open("a") as out:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line:
                out.write(line)
                seen.append(line)
                if found := re.search(pattern, line):
                    os.set_blocking(proc.stdout.fileno(), True)
                    return found
                continue
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    raise RunnerError(f"{what} did not start: {''.join(seen[-5:]).strip() or 'no output'}")


class Lab:
    """Coordinator + exporters + places; use as a context manager."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.address = ""
        self._procs: dict[str, subprocess.Popen[str]] = {}

    def _spawn(self, name: str, args: list[str], pattern: str) -> re.Match[str]:
        log = self.home / f"{name}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", *args], cwd=self.home, env=_ENV, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent(),  # a killed test session takes its lab with it
        )  # fmt: skip
        self._procs[name] = proc
        # The process keeps writing to the pipe after the match: drain it into the log.
        found = _wait_for(proc, pattern, name, log, timeout_s=60)
        self._drain(proc, log)
        return found

    @staticmethod
    def _drain(proc: subprocess.Popen[str], log: Path) -> None:
        import threading

        def pump() -> None:
            with log.open("a") as out:
                for line in proc.stdout:  # type: ignore[union-attr]
                    out.write(line)
                    out.flush()

        threading.Thread(target=pump, daemon=True).start()

    def start(self) -> Lab:
        self.home.mkdir(parents=True, exist_ok=True)
        found = self._spawn(
            "coordinator",
            ["labgrid.remote.coordinator", "-l", "127.0.0.1:0"],
            r"listening on .*:(\d+)",
        )
        self.address = f"127.0.0.1:{found.group(1)}"
        return self

    def add_board(self, place: str, engine_url: str, tags: dict[str, str]) -> None:
        """Export `engine_url` from an exporter named after the place; make the place."""
        config = self.home / f"{place}.yaml"
        config.write_text(
            f"docker:\n  NetworkService:\n    address: '{engine_url}'\n    username: harness\n"
        )
        self._spawn(
            f"exporter-{place}",
            ["labgrid.remote.exporter", "-c", self.address, "-n", place, str(config)],
            r"connected to coordinator",
        )
        admin = Coordinator(self.address, "harness-lab-admin")
        try:
            admin._rpc("AddPlace", name=place)
            admin._rpc("AddPlaceMatch", placename=place, pattern=f"{place}/docker/NetworkService")
            admin._rpc("SetPlaceTags", placename=place, tags=tags)
        finally:
            admin.close()

    def kill_exporter(self, place: str) -> None:
        proc = self._procs.pop(f"exporter-{place}")
        proc.kill()
        proc.wait()

    def stop(self) -> None:
        for proc in reversed(list(self._procs.values())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self._procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
