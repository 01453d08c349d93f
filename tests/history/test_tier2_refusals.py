"""Tier-2 says no when it should: missing scenarios, not-comparable pairs, ledger gaps, unpinned
checkpoints and uncommitted changes; 'last green' is chosen per scenario on the same setup."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harness.commands.main import main
from harness.errors import LedgerError
from harness.history import tier2
from harness.history.ledger import Ledger, Row
from harness.history.transitions import compare
from harness.provenance import worktree_hash

SAME = {"clip_hash": "c1", "corpus_hash": "t1", "checkpoint_sha256": "k1", "runner": "local"}


def row(run: str, scen: str, gate: str, status: str = "xfailed", **kw) -> Row:
    kw = {**SAME, "git_sha": f"sha{run}", "device": "cpu", **kw}
    return Row(run, scen, gate, "fail", time=float(run[1:]), status=status, **kw)


def ledger_of(tmp_path: Path, *rows: Row) -> Ledger:
    ledger = Ledger(tmp_path / "l.sqlite")
    for r in rows:
        ledger.append(r)
    return ledger


def test_a_missing_scenario_withholds_the_ok_unless_allowed(tmp_path: Path) -> None:
    ledger = ledger_of(
        tmp_path,
        row("r1", "a", "provisioning"),
        row("r1", "b", "provisioning"),
        row("r2", "a", "provisioning"),
    )
    result = tier2.check(ledger, "last green")
    assert [t.move for t in result.transitions] == ["same", "missing"]
    assert result.exit_code == tier2.NO_VERDICT
    assert "1 scenario(s) missing from the head run: b" in result.headline
    assert "--allow-missing" in result.headline
    allowed = tier2.check(ledger, "last green", allow=frozenset({"missing"}))
    assert allowed.exit_code == tier2.OK
    assert "(allowed by --allow-missing)" in tier2.summary(allowed)


def test_a_not_comparable_pair_withholds_the_ok_unless_allowed(tmp_path: Path) -> None:
    ledger = ledger_of(tmp_path, row("r1", "a", "pass"), row("r2", "a", "pass", clip_hash="c2"))
    result = tier2.check(ledger, "r1")
    assert result.exit_code == tier2.NO_VERDICT
    assert "not comparable" in result.headline and "--allow-not-comparable" in result.headline
    allowed = frozenset({"not-comparable"})
    assert tier2.check(ledger, "r1", allow=allowed).exit_code == tier2.OK


def test_a_regression_still_wins_over_a_refusal(tmp_path: Path) -> None:
    ledger = ledger_of(
        tmp_path,
        row("r1", "a", "pass", status="passed"),
        row("r1", "b", "pass", status="passed"),
        row("r2", "a", "provisioning", status="failed"),
    )
    assert tier2.check(ledger, "last green").exit_code == tier2.REGRESSED


def test_an_unpinned_checkpoint_withholds_the_ok_unless_allowed(tmp_path: Path) -> None:
    ledger = ledger_of(
        tmp_path,
        row("r1", "a", "pass", checkpoint_pinned=True),
        row("r2", "a", "pass", checkpoint_pinned=False),
    )
    result = tier2.check(ledger, "r1")
    assert result.exit_code == tier2.NO_VERDICT
    assert "unpinned checkpoint: a" in result.headline
    assert "harness provision pin" in result.headline and "--allow-unpinned" in result.headline
    assert tier2.check(ledger, "r1", allow=frozenset({"unpinned"})).exit_code == tier2.OK
    assert ledger.rows(run_id="r2")[0].checkpoint_pinned is False  # stored and read back


def test_last_green_is_chosen_per_scenario_on_the_same_runner_and_device(tmp_path: Path) -> None:
    ledger = ledger_of(
        tmp_path,
        row("r1", "a", "pass", status="passed"),
        row("r1", "b", "provisioning"),
        row("r1", "c", "provisioning"),
        row("r2", "a", "pass", status="passed"),  # a later, partial local run: a only
        row("r3", "b", "pass", status="passed", runner="docker"),  # another runner
        row("r4", "b", "pass", status="passed", device="cuda:Orin"),  # another device
        row("r5", "a", "pass", status="passed"),
        row("r5", "b", "provisioning"),
        row("r5", "c", "provisioning"),
    )
    result = tier2.check(ledger, "last green")
    base = {t.scenario: t.before.run_id for t in result.transitions}
    assert base == {"a": "r2", "b": "r1", "c": "r1"}  # never r3/r4, never a run lacking it
    assert result.exit_code == tier2.OK, tier2.summary(result)
    assert "last green per scenario: runs `r1`, `r2`" in tier2.summary(result)
    # the case: a green docker run of one scenario is no baseline for a local run
    only_docker = ledger_of(
        tmp_path / "x",
        row("r1", "a", "pass", status="passed", runner="docker"),
        row("r2", "a", "pass"),
        row("r2", "b", "pass"),
    )
    with pytest.raises(LedgerError, match="no green run before r2 on the same runner"):
        tier2.check(only_docker, "last green")


def test_a_head_verdict_that_never_reached_the_ledger_withholds_the_ok(tmp_path: Path) -> None:
    ledger = ledger_of(tmp_path, row("r1", "a", "pass"), row("r2", "a", "pass"))
    runs = tmp_path / "runs"
    (runs / "r2").mkdir(parents=True)
    lines = [{"name": "a", "gate": "pass"}, {"name": "b", "gate": "pass"}]
    (runs / "r2" / "verdicts.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (runs / "r2" / "ledger-errors.jsonl").write_text('{"name": "b", "error": "disk full"}\n')
    result = tier2.check(ledger, "r1", runs_dir=runs)
    assert result.exit_code == tier2.NO_VERDICT
    assert "b (disk full)" in result.headline and "--allow-ledger-gaps" in result.headline
    assert tier2.check(ledger, "r1", runs_dir=runs, allow=frozenset({"ledger-gap"})).exit_code == 0


def test_a_failed_ledger_write_in_a_real_session_fails_gates_check(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from tests.helpers import scenario_text

    project.makefile(
        ".scenario.yaml",
        steady=scenario_text(
            "steady", "empty-backbones", overrides="{c10_provisioning.backbones: []}"
        ),
    )
    ledger = project.path / "reports" / "gate-ledger.sqlite"
    for run in ("run-1", "run-2"):
        monkeypatch.setenv("HARNESS_RUN_ID", run)
        project.runpytest_subprocess("-p", "no:cacheprovider", "--runner", "inprocess")
    # run 3 cannot write its row: the ledger's folder is a file
    (project.path / "blocked").write_text("")
    monkeypatch.setenv("HARNESS_RUN_ID", "run-3")
    project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--runner", "inprocess", "--gate-ledger", "blocked/l.sqlite"
    ).assert_outcomes(skipped=1)
    errors = project.path / "reports" / "runs" / "run-3" / "ledger-errors.jsonl"
    assert "steady" in errors.read_text()
    args = ["gates", "check", "--baseline", "last green", "--ledger", str(ledger)]
    runs = ["--runs", str(project.path / "reports" / "runs")]
    capsys.readouterr()
    assert main([*args, *runs]) == tier2.NO_VERDICT
    out = capsys.readouterr().out
    assert "session run-3" in out and "--allow-ledger-gaps" in out
    assert main([*args, *runs, "--allow-ledger-gaps"]) == tier2.OK


def test_uncommitted_changes_are_part_of_the_identity(tmp_path: Path) -> None:
    def git(*a: str) -> None:
        subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    assert worktree_hash(tmp_path) is None  # clean
    (tmp_path / "code.py").write_text("x = 2\n")
    first = worktree_hash(tmp_path)
    (tmp_path / "code.py").write_text("x = 3\n")
    second = worktree_hash(tmp_path)
    assert first and second and first != second
    (tmp_path / "new.py").write_text("y = 1\n")
    assert worktree_hash(tmp_path) not in (None, second)  # untracked files count too
    # the same commit, other uncommitted code, the gate moved: a regression, not flakiness
    same = {"git_sha": "s", "config_hash": "x", "scenario_hash": "y"}
    before = row("r1", "a", "pass", worktree_hash=first, **same)
    after = row("r2", "a", "provisioning", worktree_hash=second, **same)
    (t,) = compare([before], [after], [before, after])
    assert t.regressed and not t.flaky
    (t,) = compare([before], [row("r2", "a", "provisioning", worktree_hash=first, **same)])
    assert t.regressed  # identical code, another gate: only the head's own reruns say flaky
