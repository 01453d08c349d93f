"""The gate ledger: round trip, concurrent writers, and a writer killed mid-stream."""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import LedgerError
from harness.history.ledger import Ledger, Row, key_metrics

REPO = Path(__file__).resolve().parents[2]


def _row(run: str, scenario: str, i: int = 0) -> Row:
    return Row(run, scenario, "retrieval-quality", "fail", metrics={"recall": i / 100, "n": i})


def test_round_trip_and_replace(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.append(_row("r1", "a", 1))
    ledger.append(_row("r1", "a", 2))  # a rerun of the same (run, scenario) replaces it
    ledger.append(_row("r2", "a", 3))
    rows = ledger.rows(scenario="a")
    assert [(r.run_id, r.metrics["n"]) for r in rows] == [("r1", 2.0), ("r2", 3.0)]
    assert ledger.runs() == ["r1", "r2"]
    assert key_metrics({"vpr": {"recall": 0.5, "ok": True, "names": ["x"]}, "n": 3}) == {
        "vpr.recall": 0.5,
        "n": 3.0,
    }


def test_missing_and_garbage_ledgers_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="no gate ledger here"):
        Ledger(tmp_path / "none.sqlite").rows()
    (tmp_path / "junk.sqlite").write_text("not a database" * 100)
    with pytest.raises(LedgerError, match=r"junk\.sqlite"):
        Ledger(tmp_path / "junk.sqlite").rows()


def _writer(path: str, worker: int, n: int) -> None:
    ledger = Ledger(path)
    for i in range(n):
        ledger.append(_row("run", f"w{worker}-s{i}", i))


def test_concurrent_writers_lose_no_rows(tmp_path: Path) -> None:
    path = str(tmp_path / "l.sqlite")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)  # generous: spawned writers start slowly on a loaded 2-core host
        assert p.exitcode == 0
    rows = Ledger(path).rows()
    assert len(rows) == 160
    assert Ledger(path).check() == "ok"


KILLED = """
import sys
from harness.history.ledger import Ledger, Row
ledger = Ledger(sys.argv[1])
i = 0
while True:
    big = {f"m{k}": float(i * k) for k in range(200)}  # wide rows: a kill lands mid-write
    ledger.append(Row("killed", f"s{i}", "pass", "pass", metrics=big))
    i += 1
"""


def test_a_killed_writer_leaves_whole_rows_only(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    Ledger(path).append(_row("before", "a"))
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(path)], cwd=REPO, env={"PYTHONPATH": str(REPO)}
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(Ledger(path).rows(run_id="killed")) < 20:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    ledger = Ledger(path)
    assert ledger.check() == "ok"
    killed = ledger.rows(run_id="killed")
    assert len(killed) >= 20
    assert all(len(r.metrics) == 200 for r in killed)  # no torn row
    names = sorted(int(r.scenario[1:]) for r in killed)
    assert names == list(range(len(names)))  # no lost row before the kill
    ledger.append(_row("after", "a"))
    assert ledger.runs() == ["before", "killed", "after"]
