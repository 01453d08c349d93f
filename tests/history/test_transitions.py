"""Transitions, comparability, flakiness, baseline resolution and the Markdown table, on rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import LedgerError
from harness.history import tier2
from harness.history.ledger import Ledger, Row
from harness.history.transitions import compare, flaky_scenarios

CLIP = {"clip_hash": "c1", "corpus_hash": "t1", "checkpoint_sha256": "k1"}


def row(run: str, scen: str, gate: str, status: str = "xfailed", **kw) -> Row:
    kw = {**CLIP, "git_sha": f"sha{run}", **kw}
    return Row(run, scen, gate, "fail", time=float(run[-1]), status=status, **kw)


def test_moves_on_the_ladder_with_metric_deltas() -> None:
    base = [
        row("r1", "a", "retrieval-quality", metrics={"recall": 0.6}),
        row("r1", "b", "eskf-divergence", metrics={"recall": 0.7}),
        row("r1", "c", "pass"),
        row("r1", "d", "pass"),
        row("r1", "gone", "pass"),
    ]
    head = [
        row("r2", "a", "eskf-divergence", metrics={"recall": 0.8}),
        row("r2", "b", "retrieval-quality", metrics={"recall": 0.3}),
        row("r2", "c", "no-data"),
        row("r2", "d", "pass", checkpoint_sha256="k2"),
        row("r2", "new", "pass"),
    ]
    moves = {t.scenario: t for t in compare(base, head)}
    assert moves["a"].move == "forward" and moves["a"].deltas == {"recall": (0.6, 0.8)}
    assert moves["b"].move == "backward" and moves["b"].regressed
    assert moves["c"].move == "backward"  # no-data is a failure, never a pass
    lacking = row("r3", "c", "no-data", reason="retrieval-quality: 3 queries < 30")
    (t,) = compare([row("r1", "c", "vpr-contract")], [lacking])
    assert t.move == "forward"  # it got past vpr-contract, then lacked evidence
    (t,) = compare([row("r1", "c", "retrieval-quality")], [lacking])
    assert t.move == "backward"
    # a new checkpoint is the system under test changing: compared, and named in the note
    assert moves["d"].move == "same" and moves["d"].note == "checkpoint k1 -> k2"
    (t,) = compare([row("r1", "e", "pass")], [row("r2", "e", "pass", clip_hash="c2")])
    assert t.move == "not-comparable" and "clip_hash c1 != c2" in t.note
    assert (moves["new"].move, moves["gone"].move) == ("new", "missing")


def test_history_never_exempts_a_regression_only_the_heads_own_reruns_do() -> None:
    same = {"git_sha": "s", "config_hash": "x", "scenario_hash": "y", "runner": "local"}
    history = [row("r1", "a", "pass", **same), row("r2", "a", "latency-budget", **same)]
    assert "latency-budget, pass" in flaky_scenarios(history)["a"]
    (t,) = compare([history[0]], [history[1]], history)
    assert t.move == "backward" and t.regressed and not t.flaky
    assert "alternated before" in t.note and "not an exemption" in t.note
    # a deterministic regression after a once-flaky baseline is still one
    after = row("r4", "a", "latency-budget", status="failed", **{**same, "git_sha": "head"})
    (t,) = compare([history[0]], [after], history)
    assert t.regressed and not t.flaky
    # the head's reruns in this run: flaky exempts, an intermittent regression does not
    why = "latency-budget [flaky: moved in 2/4 attempts, the baseline in 5/10 earlier runs]"
    exempt = row("r5", "a", "latency-budget", status="failed:flaky", reason=why)
    (t,) = compare([history[0]], [exempt], history)
    assert t.flaky and not t.regressed and "flaky: moved in 2/4 attempts" in t.note
    sometimes = row("r6", "a", "latency-budget", status="failed:intermittent-regression")
    (t,) = compare([history[0]], [sometimes], history)
    assert t.regressed and not t.flaky


def _ledger(tmp_path: Path, *rows: Row) -> Ledger:
    ledger = Ledger(tmp_path / "l.sqlite")
    for r in rows:
        ledger.append(r)
    return ledger


def test_baseline_refs_and_exit_codes(tmp_path: Path) -> None:
    ledger = _ledger(
        tmp_path,
        row("r1", "a", "provisioning", git_sha="abc1234"),
        row("r2", "a", "provisioning", status="failed"),
        row("r3", "a", "empty-backbones", status="failed"),
        row("r4", "a", "infra-error", status="broken"),
    )
    assert tier2.resolve_run(ledger, "last green") == "r1"
    assert tier2.resolve_run(ledger, "abc12") == "r1"
    assert tier2.resolve_run(ledger, "r2") == "r2"
    with pytest.raises(LedgerError, match="neither a run id"):
        tier2.resolve_run(ledger, "nonsense!")
    assert tier2.check(ledger, "r1", "r2").exit_code == 0
    regressed = tier2.check(ledger, "last green", "r3")
    assert regressed.exit_code == 1
    assert "| a | provisioning | empty-backbones | ⬇ **backward** |" in tier2.summary(regressed)
    assert tier2.check(ledger, "r1").exit_code == 2  # the newest run is broken: no verdict
