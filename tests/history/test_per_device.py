"""One scenario on several boards: one ledger row each, transitions per board, old ledgers kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from harness.history.ledger import COLUMNS, Ledger, Row
from harness.history.tier2 import check, diff
from harness.history.transitions import compare
from harness.history.views import transitions

BOARDS = ("board-1/cpu", "board-2/cpu", "board-3/cpu")


def _row(run: str, device: str | None, gate: str, t: float) -> Row:
    return Row(run, "derkachi", gate, "fail", time=t, device=device, clip_hash="c", corpus_hash="k")


def test_three_boards_are_three_rows(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    for i, board in enumerate(BOARDS):
        ledger.append(_row("r1", board, "retrieval-quality", i))
    ledger.append(_row("r1", "board-2/cpu", "vpr-contract", 9))  # a rerun on board-2 replaces
    rows = ledger.rows(run_id="r1")
    assert sorted((r.device, r.gate) for r in rows) == [
        ("board-1/cpu", "retrieval-quality"),
        ("board-2/cpu", "vpr-contract"),
        ("board-3/cpu", "retrieval-quality"),
    ]
    ledger.append(_row("r1", None, "provisioning", 10))  # no device: still one row of its own
    assert [r.device for r in ledger.rows(run_id="r1")][-1] is None


def test_transitions_compare_each_board_with_itself() -> None:
    base = [_row("a", "board-1/cpu", "retrieval-quality", 1), _row("a", "board-2/cpu", "pass", 2)]
    head = [_row("b", "board-1/cpu", "pass", 3), _row("b", "board-2/cpu", "retrieval-quality", 4)]
    moves = {t.label: t.move for t in compare(base, head)}
    assert moves == {"derkachi @ board-1/cpu": "forward", "derkachi @ board-2/cpu": "backward"}
    # A run on a board is not compared with a run elsewhere: new on one side, missing on the other.
    local = [_row("c", "cpu", "pass", 5)]
    assert sorted(t.move for t in compare(local, head[:1])) == ["missing", "new"]


def test_gates_check_names_the_board(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.append(_row("a", "board-2/cpu", "pass", 1))
    ledger.append(_row("b", "board-2/cpu", "retrieval-quality", 2))
    table = transitions(diff(ledger, "a", "b"), "md")
    assert "derkachi @ board-2/cpu" in table


def test_a_schema_1_ledger_is_migrated_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    cols = ", ".join(f"{c} {'REAL' if c == 'time' else 'TEXT'}" for c in COLUMNS)
    con.executescript(
        f"CREATE TABLE rows ({cols}, PRIMARY KEY (run_id, scenario));"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
        "INSERT INTO meta VALUES ('schema_version', '1');"
    )
    con.execute(
        f"INSERT INTO rows ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
        ["r0", "derkachi", "pass", "pass", 0.0, *[None] * (len(COLUMNS) - 6), "{}"],
    )
    con.commit()
    con.close()
    ledger = Ledger(path)
    for i, board in enumerate(BOARDS[:2]):
        ledger.append(_row("r1", board, "pass", i + 1))
    assert [(r.run_id, r.device) for r in ledger.rows()] == [
        ("r0", None), ("r1", "board-1/cpu"), ("r1", "board-2/cpu"),
    ]  # fmt: skip
    assert ledger.check() == "ok"
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT value FROM meta").fetchone()[0] == "2"


def _green(run: str, device: str, gate: str, t: float) -> Row:
    status = "passed" if gate == "pass" else "failed"
    row = _row(run, device, gate, t)
    return Row(**{**row.__dict__, "status": status, "runner": "farm", "git_sha": run})


def test_last_green_is_per_board_and_a_new_board_is_new(tmp_path: Path) -> None:
    """board-2 failing in r1 does not stop r1 being board-1's last green; board-3 has no
    history: new, not a regression; board-2's regression shows for board-2 only."""
    ledger = Ledger(tmp_path / "l.sqlite")
    for row in (
        _green("r0", "board-2/cpu", "pass", 0),
        _green("r1", "board-1/cpu", "pass", 1),
        _green("r1", "board-2/cpu", "retrieval-quality", 2),  # r1 is not green on board-2
        _green("r2", "board-1/cpu", "pass", 3),
        _green("r2", "board-2/cpu", "retrieval-quality", 4),
        _green("r2", "board-3/cpu", "pass", 5),
    ):
        ledger.append(row)
    result = check(ledger, "last green")
    moves = {t.label: (t.move, t.before.run_id if t.before else None) for t in result.transitions}
    assert moves == {
        "derkachi @ board-1/cpu": ("same", "r1"),
        "derkachi @ board-2/cpu": ("backward", "r0"),
        "derkachi @ board-3/cpu": ("new", None),
    }
    assert [t.label for t in result.regressions] == ["derkachi @ board-2/cpu"]


def test_a_board_that_broke_before_its_record_is_compared_with_itself() -> None:
    """A run that broke before naming its accelerator is stored under its place alone."""
    base = [_row("a", board, "pass", i) for i, board in enumerate(BOARDS)]
    head = [_row("b", "board-1/cpu", "pass", 5), _row("b", "board-2", "infra-error", 6)]
    moves = {t.label: t.move for t in compare(base, head)}
    assert moves == {
        "derkachi @ board-1/cpu": "same",
        "derkachi @ board-2/cpu": "broken",
        "derkachi @ board-3/cpu": "missing",
    }


def test_history_shows_each_board_on_its_own(tmp_path: Path, capsys) -> None:
    from harness.commands.main import main

    ledger = Ledger(tmp_path / "l.sqlite")
    for t, (board, gate) in enumerate(
        [("board-1/cpu", "pass"), ("board-2/cpu", "retrieval-quality"), ("board-1/cpu", "pass")]
    ):
        ledger.append(_row(f"r{t}", board, gate, t))
    plot = tmp_path / "h.png"
    args = ["gates", "history", "derkachi", "--ledger", str(ledger.path), "--plot", str(plot)]
    assert main(args) == 0
    out = capsys.readouterr().out
    one, two = out.split("board board-2")
    assert "board board-1" in one and "\nr0 " in one and "\nr2 " in one and "\nr1 " not in one
    assert "\nr1 " in two and "retrieval-quality" in two and "\nr0 " not in two
    assert (tmp_path / "h@board-1.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "h@board-2.png").exists() and not plot.exists()
    assert main([*args, "--device", "board-2"]) == 0
    assert "board " not in capsys.readouterr().out and plot.exists()
    assert main([*args, "--device", "board-9"]) == 1  # no row there: a one-line error
    assert "no row for scenario 'derkachi' on board 'board-9'" in capsys.readouterr().err
