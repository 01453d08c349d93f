"""A run's pictures, rendered off the verdict's path: one helper process per pytest process.

The scenario's verdict is decided from its record alone; its pictures (harness.report.run_plots,
matplotlib) are made by `python -m harness.report.figure_jobs`, started on first use, which
reads run folders on stdin and answers one JSON line per folder, in order, while the session
goes on: neither the run process nor the pytest process imports matplotlib. Whoever shows
the pictures (the Allure step, a failure bundle) waits for that run's first (`wait`); the
session waits for the rest when it ends (`drain`). A plotting problem never costs a verdict:
it is logged, and the run has no pictures.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)
COMMAND = [sys.executable, "-m", "harness.report.figure_jobs"]


class FigureJobs:
    """The helper process and the run folders it has not answered for yet (in order)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._pending: list[Path] = []

    def submit(self, out_dir: Path) -> None:
        try:
            if self._proc is None or self._proc.poll() is not None:
                self._pending = []
                self._proc = subprocess.Popen(
                    COMMAND,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                    bufsize=1,
                )
            assert self._proc.stdin is not None
            self._proc.stdin.write(f"{out_dir}\n")
            self._pending.append(out_dir)
        except OSError as exc:
            log.warning("no figures for %s: the helper process fails: %s", out_dir, exc)

    def wait(self, out_dir: Path) -> None:
        """Until this run's pictures are made (or failed)."""
        while out_dir in self._pending:
            assert self._proc is not None and self._proc.stdout is not None
            line = self._proc.stdout.readline()
            if not line:  # the helper died: what it had not answered for has no pictures
                log.warning("the figure helper ended; no figures for %d runs", len(self._pending))
                self._pending = []
                return
            done = json.loads(line)
            self._pending.remove(Path(done["out_dir"]))
            if done.get("error"):
                log.warning("figures for %s failed: %s", done["out_dir"], done["error"])

    def drain(self) -> None:
        if self._pending:
            self.wait(self._pending[-1])
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            self._proc.wait()
            self._proc = None


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
