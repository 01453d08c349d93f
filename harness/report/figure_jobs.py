"""A run's pictures, rendered off the verdict's path: one background process per pytest process.

The scenario's verdict is decided from its record alone; its pictures (harness.report.run_plots,
matplotlib) are made by a spawned helper process while the session goes on, so neither the
run process nor the pytest process imports matplotlib. Whoever shows them (the Allure step, a
failure bundle) waits for that run's pictures first (`wait`); the session waits for the rest
when it ends (`drain`).
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

log = logging.getLogger(__name__)
WAIT_S = 300.0  # one run's pictures: seconds normally, minutes on an overloaded host


def render(out_dir: str) -> list[str]:
    """In the helper process: the run's pictures from its record, into its folder."""
    from harness.record import RECORD_NAME, read_record
    from harness.report.run_plots import make_run_figures

    folder = Path(out_dir)
    return [str(p) for p in make_run_figures(read_record(folder / RECORD_NAME), folder)]


class FigureJobs:
    """The helper process (started on first use) and the runs it has not finished yet."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._jobs: dict[Path, Future[list[str]]] = {}

    def submit(self, out_dir: Path) -> None:
        if self._pool is None:  # spawned, not forked: this process runs threads (telemetry)
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        self._jobs[out_dir] = self._pool.submit(render, str(out_dir))

    def wait(self, out_dir: Path) -> None:
        """Until this run's pictures are made (or failed: a plot never costs a verdict)."""
        job = self._jobs.pop(out_dir, None)
        if job is None:
            return
        try:
            job.result(timeout=WAIT_S)
        except Exception:
            log.warning("figures for %s failed", out_dir, exc_info=True)

    def drain(self) -> None:
        for out_dir in list(self._jobs):
            self.wait(out_dir)
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
