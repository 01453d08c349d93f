"""Flake adjudication: the Wilson rule, and real reruns that end regressed or flaky."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest

from harness.history.flake import (
    Attempt,
    Observed,
    adjudicate,
    fisher_greater,
    observed,
    stored_attempts,
)
from harness.history.ledger import Ledger, Row
from tests.helpers import scenario_text

# A stack under development whose provisioning follows pattern.txt, one letter per attempt:
# g = a failed checksum (the provisioning gate: the scenario's expect), b = no check at all
# (no-data: the gate moved down).
STACK = """
from harness.run.stage import StageStop


class Stack:
    def provision(self, ctx):
        root = ctx.loaded.root
        counter = root / "attempts.txt"
        n = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(str(n + 1))
        pattern = (root / "pattern.txt").read_text().strip()
        if pattern[n % len(pattern)] == "g":
            ctx.emit("provisioning", "check", backbone="b", check="sha256", ok=False,
                     detail="expected abc, found def")
        raise StageStop("provisioning stopped")
"""


def _attempts(*landed: bool) -> list[Attempt]:
    return [
        Attempt(i + 1, "provisioning" if ok else "no-data", "", "xfailed" if ok else "failed", 0, 0)
        for i, ok in enumerate(landed)
    ]


@pytest.mark.parametrize(
    ("moved", "n", "against_steady", "against_flaky"),
    [
        (1, 10, "intermittent regression", "flaky"),
        (3, 4, "regressed", "flaky"),
        (8, 10, "regressed", "flaky"),
        (10, 10, "regressed", "regressed"),
    ],
)
def test_the_rerun_rule_against_a_steady_and_a_flaky_baseline(
    moved: int, n: int, against_steady: str, against_flaky: str
) -> None:
    """A steady baseline landed in all of its 10 runs, a flaky one moved in 5 of 10."""
    attempts = _attempts(*([False] * moved + [True] * (n - moved)))
    assert adjudicate(attempts, "provisioning", Observed(0, 10)).label == against_steady
    assert adjudicate(attempts, "provisioning", Observed(5, 10)).label == against_flaky


def test_the_rule_s_test_and_what_it_says() -> None:
    assert fisher_greater(3, 4, 0, 10) == pytest.approx(4 / 364)  # C(4,3) / C(14,3)
    assert fisher_greater(10, 10, 5, 10) == pytest.approx(252 / 15504)
    assert fisher_greater(2, 4, 0, 0) == 1.0  # no baseline: no test
    # no earlier run: a unanimous move regressed, an occasional one is intermittent
    assert adjudicate(_attempts(False, False), "provisioning").label == "regressed"
    assert adjudicate(_attempts(False, True), "provisioning").label == "intermittent regression"
    forward = [Attempt(1, "pass", "", "failed", 0, 0)] * 4
    assert adjudicate(forward, "provisioning").label == "moved forward"
    line = adjudicate(_attempts(False, False, False, True), "provisioning", Observed(0, 10)).line()
    assert line == (
        "regressed: moved in 3/4 attempts, the baseline in 0/10 earlier runs; one-sided Fisher "
        "exact test p = 0.011 (a clearly higher move rate below 0.05)"
    )


def test_the_baseline_rate_is_the_earlier_runs_that_judged_it() -> None:
    rows = [
        Row("r1", "s", "provisioning", "fail", status="xfailed"),
        Row("r2", "s", "no-data", "no-data", status="failed:flaky"),
        Row("r3", "s", "infra-error", "error", status="broken"),  # no verdict
        Row("bisect-1", "s", "no-data", "no-data", status="failed"),  # not a session
        Row("now", "s", "no-data", "no-data", status="failed"),  # the head itself
    ]
    assert observed(rows, "now") == Observed(1, 2)


def _run(
    project: pytest.Pytester, pattern: str, run_id: str, monkeypatch, bundle="failures"
) -> tuple:
    project.makepyfile(flakystack=STACK)
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(project.path), path) if p))
    (project.path / "pattern.txt").write_text(pattern)
    (project.path / "attempts.txt").unlink(missing_ok=True)
    name = f"stack-{pattern}"
    text = scenario_text(name, "provisioning", pipeline="flakystack:Stack")
    project.makefile(".scenario.yaml", **{name: text})
    monkeypatch.setenv("HARNESS_RUN_ID", run_id)
    results = project.path / "allure"
    # A process of its own per session, as in real use (three sessions in one process would
    # share the stack module and the C extensions' state).
    result = project.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--runner",
        "inprocess",
        "--rerun-on-move",
        "3",
        "--alluredir",
        str(results),
        "--bundle",
        bundle,
    )
    return result, results, name


def _allure(results: Path, name: str) -> list[dict]:
    found = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    return sorted((r for r in found if r["name"] == name), key=lambda r: r["start"])


def test_a_move_every_rerun_repeats_is_regressed(project, monkeypatch) -> None:
    result, results, name = _run(project, "bbbb", "run-r", monkeypatch, bundle="failures")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*regressed: moved in 4/4 attempts, the baseline in 0/0 earlier runs; one-sided *",
            "*gate moves: reruns*",
            "*attempt 4: no-data (failed)*",
        ]
    )
    ledger = Ledger(project.path / "reports" / "gate-ledger.sqlite")
    kept = stored_attempts(ledger, "run-r", name)
    assert [a["status"] for a in kept] == ["failed"] * 4
    (row,) = ledger.rows(scenario=name)
    assert row.status == "failed:regressed" and "moved in 4/4" in row.reason
    shown = _allure(results, name)
    assert len(shown) == 5 and len({r["historyId"] for r in shown}) == 1
    assert [r["status"] for r in shown] == ["failed"] * 5
    assert "regressed" in shown[-1]["statusDetails"]["message"]  # the shown one: the verdict
    params = [{p["name"]: p["value"] for p in r["parameters"]} for r in shown]
    folders = [Path(p["run folder"].strip("'")).name for p in params]
    assert folders == [name, *(f"{name}.attempt-{k}" for k in (2, 3, 4)), name]  # each its own
    (bundle,) = (project.path / "reports" / "failures").glob("*.tar.gz")
    with tarfile.open(bundle) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        assert "project/flakystack.py" in tar.getnames()  # the stack under development
    reruns = manifest["decision"]["reruns"]
    assert reruns["line"].startswith("regressed") and len(reruns["attempts"]) == 4


def test_a_move_that_does_not_repeat_is_flaky_only_where_the_baseline_moved_too(
    project, monkeypatch
) -> None:
    name = "stack-bgbg"
    ledger = Ledger(project.path / "reports" / "gate-ledger.sqlite")
    for k, status in enumerate(["failed", "xfailed", "failed", "xfailed"]):  # a flaky history
        ledger.append(Row(f"run-{k}", name, "provisioning", "fail", time=k, status=status))
    result, results, name = _run(project, "bgbg", "run-f", monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*flaky: moved in 2/4 attempts, the baseline in 2/4 earlier runs; one-sided Fisher*"]
    )
    kept = stored_attempts(ledger, "run-f", name)
    assert [a["gate"] for a in kept] == ["no-data", "provisioning", "no-data", "provisioning"]
    assert ledger.rows(scenario=name, run_id="run-f")[0].status == "failed:flaky"
    shown = _allure(results, name)
    assert [r["status"] for r in shown[:-1]] == ["failed", "passed", "failed", "passed"]
    assert len({r["historyId"] for r in shown}) == 1


def test_no_rerun_without_a_move(project, monkeypatch) -> None:
    result, _, name = _run(project, "gggg", "run-g", monkeypatch, bundle="failures")
    result.assert_outcomes(xfailed=1)
    assert not (project.path / "reports" / "failures").exists()  # it landed on its expect
    assert "gate moves" not in result.stdout.str()
    ledger = Ledger(project.path / "reports" / "gate-ledger.sqlite")
    assert stored_attempts(ledger, "run-g", name) == []
