"""The ledger's views as a reader sees them: snapshots of history, diff and check, as terminal
text and as Markdown."""

from __future__ import annotations

import textwrap

from harness.history import tier2, views
from harness.history.ledger import Ledger, Row
from harness.history.transitions import compare


def _row(run: str, gate: str, status: str, **extra) -> Row:
    defaults = dict(
        run_id=run,
        scenario="derkachi",
        gate=gate,
        outcome="fail" if gate != "pass" else "pass",
        status=status,
        git_sha="abc1234def",
        runner="local",
        device="cpu",
    )
    return Row(**{**defaults, **extra})


RUNS = [
    _row("r1", "retrieval-quality", "xfailed", metrics={"retrieval-quality.r1": 0.41,
         "provisioning.checks": 5.0}),
    _row("r2", "retrieval-quality", "xfailed", worktree_hash="99ffee001122",
         metrics={"retrieval-quality.r1": 0.43, "provisioning.checks": 5.0}),
    _row("r3", "provisioning", "failed", runner="docker",
         metrics={"provisioning.checks": 5.0}),
    _row("r4", "infra-error", "broken", device="b1/cpu"),
]  # fmt: skip


def test_history_says_what_each_run_meant_where_and_with_which_code() -> None:
    assert views.history(RUNS) == textwrap.dedent(
        """\
        run  git      worktree  runner  device  gate               story        retrieval-quality.r1
        r1   abc1234  clean     local   cpu     retrieval-quality  as expected  0.41
        r2   abc1234  +99ffee0  local   cpu     retrieval-quality  as expected  0.43
        r3   abc1234  clean     docker  cpu     provisioning       moved        -
        r4   abc1234  clean     local   b1/cpu  infra-error        broken       -"""
    )  # a constant metric (provisioning.checks) says nothing: no column


def test_history_shows_a_sweeps_sustained_rate_falling_and_holding() -> None:
    key = "latency-budget.sweep.vpr.sustained_speed"
    rows = [
        _row(f"r{i}", "pass", "passed", metrics={key: speed, "latency-budget.vpr.p95_ms": p95})
        for i, (speed, p95) in enumerate([(16.0, 30.0), (16.0, 31.0), (8.0, 70.0)])
    ]
    table = views.history(rows).splitlines()
    assert table[0].split()[-2:] == [key, "latency-budget.vpr.p95_ms"]
    assert [line.split()[-2] for line in table[1:]] == ["16", "16", "8"]
    held = views.history(rows[:2]).splitlines()  # unchanged, yet shown: it is the history
    assert key in held[0].split()


def test_history_in_markdown_escapes_nothing_it_needs() -> None:
    lines = views.history(RUNS[:1], "md").splitlines()
    assert lines[0] == "| run | git | worktree | runner | device | gate | story |"
    assert lines[1] == "|---|---|---|---|---|---|---|"
    assert lines[2] == "| r1 | abc1234 | clean | local | cpu | retrieval-quality | as expected |"


def test_a_diff_reads_as_text_in_a_terminal_and_as_markdown_when_asked() -> None:
    moved = compare(RUNS[:1], RUNS[2:3])
    assert views.transitions(moved) == textwrap.dedent(
        """\
        scenario  before             after         move      metric deltas  note
        derkachi  retrieval-quality  provisioning  BACKWARD"""
    )
    md = views.transitions(moved, "md")
    assert "| derkachi | retrieval-quality | provisioning | ⬇ **backward** |  |  |" in md
    two = compare(RUNS[:1], RUNS[1:2])
    assert "retrieval-quality.r1: 0.41 -> 0.43" in views.transitions(two)
    assert views.transitions(two, only_moved=True) == "(no scenario moved)"


def test_the_sides_are_named_and_a_diff_of_a_run_with_itself_says_so() -> None:
    a, b = [RUNS[0]], [RUNS[1]]
    assert views.sides(a, "r1", b, "r2") == [
        "before: run r1 (git abc1234def, worktree clean)",
        "after:  run r2 (git abc1234def, worktree +99ffee0)",
    ]
    assert views.sides(a, "r1", a, "r1")[-1] == (
        "both sides are the same run: nothing can have moved"
    )
    same_code = [_row("r5", "retrieval-quality", "xfailed")]
    assert "the same code" in views.sides(a, "r1", same_code, "r5")[-1]


def test_the_check_in_a_terminal_has_no_markdown(tmp_path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    for row in (RUNS[0], RUNS[2]):
        ledger.append(row)
    result = tier2.check(ledger, "r1", "r3")
    text = tier2.summary(result, "text")
    assert text.startswith("Tier-2 gate check\n\nRegression: 1 scenario(s)")
    assert "**" not in text and "<br>" not in text and "| " not in text
    assert tier2.summary(result, "md").startswith("## Tier-2 gate check\n\n**Regression**")
