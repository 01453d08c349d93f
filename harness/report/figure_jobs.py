"""A run's pictures, rendered off the verdict's path: one helper process per pytest process.

The scenario's verdict is decided from its record alone; its pictures (harness.report.run_plots,
matplotlib) are made by `python -m harness.report.figure_jobs`, started on first use, which
reads run folders on stdin and answers one JSON line per folder, in order, while the session
goes on: neither the run process nor the pytest process imports matplotlib. Nobody on a
scenario's own path waits: the Allure report takes the answers as they come (`finished`, which
never blocks) and attaches the pictures late; only a failure bundle waits for its run's
(`wait`), and the session waits for the rest when it ends (`drain`). A plotting problem never
costs a verdict: it is logged, and the run has no pictures.
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)
COMMAND = [sys.executable, "-m", "harness.report.figure_jobs"]


class FigureJobs:
    """The helper process, the run folders it has not answered for yet (in order), and the
    answered ones nobody has taken yet (`finished`)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._pending: list[Path] = []
        self._finished: list[Path] = []
        self._partial = b""  # an answer line not read to its end yet

    def submit(self, out_dir: Path) -> None:
        try:
            if self._proc is not None and self._proc.poll() is not None:
                while self._read(0):  # what it answered before it ended; then EOF
                    pass
            if self._proc is None:
                self._proc = subprocess.Popen(
                    COMMAND,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    bufsize=0,  # each folder reaches the helper when submitted
                )
            assert self._proc.stdin is not None
            self._proc.stdin.write(f"{out_dir}\n".encode())
            self._pending.append(out_dir)
        except OSError as exc:
            log.warning("no figures for %s: the helper process fails: %s", out_dir, exc)

    def pending(self, out_dir: Path) -> bool:
        """Is this run's picture job still unanswered (as far as the pipe has told)?"""
        self._poll()
        return out_dir in self._pending

    def finished(self) -> list[Path]:
        """The run folders answered since the last call (made or failed), without blocking."""
        self._poll()
        done, self._finished = self._finished, []
        return done

    def wait(self, out_dir: Path) -> None:
        """Until this run's pictures are made (or failed)."""
        while out_dir in self._pending:
            self._read(None)

    def drain(self) -> None:
        if self._pending:
            self.wait(self._pending[-1])
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            self._proc.wait()
            self._proc = None

    def _poll(self) -> None:
        """Take every answer the pipe holds now, without waiting for more."""
        while self._pending and self._read(0):
            pass

    def _read(self, timeout: float | None) -> bool:
        """Take the answers the pipe holds, waiting up to `timeout` s for some (None: until
        some come); False when nothing came. Reads the raw pipe (no buffered reader), so
        select() tells the truth about what is left."""
        if self._proc is None:
            return False
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        if not select.select([fd], [], [], timeout)[0]:
            return False
        chunk = os.read(fd, 1 << 16)
        if not chunk:  # the helper died: what it had not answered for has no pictures
            if self._pending:
                log.warning("the figure helper ended; no figures for %d runs", len(self._pending))
            self._finished += self._pending
            self._pending, self._partial = [], b""
            self._proc.wait()
            self._proc = None
            return False
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        for line in lines:
            self._answer(line)
        return True

    def _answer(self, line: bytes) -> None:
        try:
            done = json.loads(line)
            out_dir = Path(done["out_dir"])
            self._pending.remove(out_dir)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("the figure helper said %r: %s", line[:200], exc)
            return
        self._finished.append(out_dir)
        if done.get("error"):
            log.warning("figures for %s failed: %s", done["out_dir"], done["error"])


def render(out_dir: Path) -> dict[str, str]:
    """The run's pictures from its record, into its folder; the answer line's fields."""
    from harness.record import RECORD_NAME, read_record
    from harness.report.run_plots import make_run_figures

    try:
        make_run_figures(read_record(out_dir / RECORD_NAME), out_dir)
    except Exception as exc:  # a plot never costs a verdict: the caller logs it
        return {"out_dir": str(out_dir), "error": f"{type(exc).__name__}: {exc}"}
    return {"out_dir": str(out_dir)}


if __name__ == "__main__":
    for folder in sys.stdin:
        print(json.dumps(render(Path(folder.rstrip("\n")))), flush=True)
