"""A pytest-xdist worker that dies mid-scenario is an infra-error verdict, not a bare "crashed".

Before a run starts, the worker leaves `started.json` in the scenario's run folder. When xdist
reports the worker's death, this hook (in the controller) kills what the run left behind (the
runner's process group), and reports infra-error with what is known (the record's last line,
the stderr tail) to pytest, the session's verdicts.jsonl, the gate ledger and Allure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from harness.errors import LedgerError, RecordError
from harness.gates import Verdict
from harness.history.ledger import row_from_run
from harness.pytest.started import Started
from harness.record import RECORD_NAME, read_record
from harness.runners.base import CHILD_PID_NAME, CONTAINER_NAME, STDERR_NAME, tail

log = logging.getLogger(__name__)
LAST_LINE_CHARS = 400  # of the record's last line, quoted in the verdict


def last_record_line(out_dir: Path) -> str:
    """The record's last non-empty line, cut to LAST_LINE_CHARS ("" when there is none)."""
    try:
        with (out_dir / RECORD_NAME).open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            lines = fh.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    last = next((line for line in reversed(lines) if line.strip()), "")
    return last if len(last) <= LAST_LINE_CHARS else f"{last[:LAST_LINE_CHARS]}..."


def crash_verdict(out_dir: Path, worker: str, killed: str | None = None) -> Verdict:
    """infra-error for a run whose worker died, with the record's last line and stderr tail."""
    last = last_record_line(out_dir)
    lines = [
        f"the pytest-xdist worker {worker} running this scenario died (killed or crashed) "
        "before the run ended",
        f"last record line: {last}" if last else "no record line was written",
    ]
    if killed:
        lines.append(killed)
    stderr = tail(out_dir / STDERR_NAME)
    if stderr:
        lines += ["stderr tail:", *stderr]
    return Verdict.broken("infra-error", "\n".join(lines))


def _is_run_process(pid: int) -> bool:
    """The pid still leads its own group and, where /proc tells, runs harness.run."""
    try:
        if os.getpgid(pid) != pid:
            return False
    except OSError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():
        return True
    try:
        return b"harness.run" in cmdline.read_bytes()
    except OSError:
        return False


def kill_left_behind(out_dir: Path) -> str | None:
    """Kill what a run its worker left behind (a local run's process group, a container run's
    container); says what it killed, None when nothing was there."""
    try:
        pid = int((out_dir / CHILD_PID_NAME).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        pid = None
    if pid is not None and _is_run_process(pid):
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
            return "its run's process group, still there, was sent SIGKILL"
    return _remove_container(out_dir)


def _remove_container(out_dir: Path) -> str | None:
    try:
        held = json.loads((out_dir / CONTAINER_NAME).read_text(encoding="utf-8"))
        url, name = held.get("engine"), str(held["name"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    from harness.runners.engine import Engine

    engine = Engine(url)
    where = engine.label
    try:
        engine.client(timeout=30).containers.get(name).remove(force=True, v=True)
    except Exception as exc:  # gone already; or the engine is, and its next preflight sweeps it
        if type(exc).__name__ == "NotFound":
            return None
        return f"its run's container {name} on {where} could not be removed ({exc})"
    finally:
        (out_dir / CONTAINER_NAME).unlink(missing_ok=True)
    return f"its run's container {name}, still running on {where}, was removed"


def _record(out_dir: Path) -> Any:
    try:
        return read_record(out_dir / RECORD_NAME)
    except RecordError:
        return None


def _report_everywhere(
    config: pytest.Config,
    run_dir: Path,
    run_id: str,
    started: Started,
    verdict: Verdict,
    out_dir: Path,
) -> None:
    from harness.pytest.allure import alluredir
    from harness.pytest.ledger import ledger_for
    from harness.pytest.verdict_log import log_verdict
    from harness.report import allure_report

    log_verdict(
        run_dir,
        started.scenario_path,
        started.name,
        started.expect,
        verdict,
        device=started.device or None,
    )
    record = _record(out_dir)
    ledger = ledger_for(config)
    if ledger is not None:
        row = row_from_run(
            run_id,
            started.name,
            verdict,
            record,
            scenario_path=started.scenario_path,
            expect=started.expect,
            status="broken",
        )
        if not row.runner:
            row = dataclasses.replace(row, runner=started.runner)
        if not row.device and started.device:
            row = dataclasses.replace(row, device=started.device)
        try:
            ledger.append(row)
        except LedgerError as exc:
            log.error("gate ledger: %s", exc)
    results = alluredir(config)
    if results is not None and started.allure_full_name:
        prov = record.provenance.get("device") if record is not None else None
        device = started.device or prov or "unknown"  # a farm board: its place, as in runs
        allure_report.report_crash(
            results,
            name=started.name,
            full_name=started.allure_full_name,
            verdict=verdict,
            runner=started.runner,
            device=device,
            run_id=run_id,
            out_dir=out_dir,
        )


def item_name(nodeid: str) -> str:
    """The item's name (its run folder) from a node id; `--dist loadgroup` appends the
    item's group to it (`empty-backbones[board-1]@board-1`)."""
    name = nodeid.rsplit("::", 1)[-1]
    base, at, group = name.rpartition("@")
    return base if at and base.endswith(f"[{group}]") else name


class CrashReporter:
    """Registered in the xdist controller: turns a scenario's crash report into its verdict."""

    def __init__(self, config: pytest.Config, run_dir: Path, run_id: str) -> None:
        self.config = config
        self.run_dir = run_dir
        self.run_id = run_id

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport) -> None:
        out_dir = self.run_dir / item_name(crashitem)
        started = Started.read(out_dir)
        if started is None or started.nodeid != crashitem:
            return  # not a scenario, or it died before its run began: xdist's report stands
        killed = kill_left_behind(out_dir)
        worker = getattr(getattr(getattr(report, "node", None), "gateway", None), "id", "?")
        verdict = crash_verdict(out_dir, repr(worker), killed)
        try:
            _report_everywhere(self.config, self.run_dir, self.run_id, started, verdict, out_dir)
        except Exception:  # reporting must never hide the verdict itself
            log.exception("reporting the crash of %s failed", crashitem)
        report.longrepr = f"infra-error: {verdict.reason}\n(run record: {out_dir / RECORD_NAME})"
