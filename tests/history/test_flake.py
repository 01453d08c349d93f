"""Flake adjudication: the Wilson rule, and real reruns that end regressed or flaky."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest

from harness.history.flake import Attempt, adjudicate, stored_attempts, wilson
from harness.history.ledger import Ledger
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


def test_wilson_interval_and_the_rule() -> None:
    low, high = wilson(4, 4)
    assert low == pytest.approx(0.5101, abs=1e-4) and high == 1.0
    assert wilson(2, 4) == pytest.approx((0.1500, 0.8500), abs=1e-4)
    assert adjudicate(_attempts(False, False, False, False), "provisioning").label == "regressed"
    assert adjudicate(_attempts(False, False), "provisioning").label == "inconclusive"
    assert adjudicate(_attempts(False, True, False, True), "provisioning").label == "flaky"
    many = _attempts(*([False] * 18 + [True] * 2))  # mostly moved: the move is real
    assert adjudicate(many, "provisioning").label == "regressed"
    forward = [Attempt(1, "pass", "", "failed", 0, 0)] * 4
    assert adjudicate(forward, "provisioning").label == "moved forward"


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
            "*regressed: moved in 4/4 attempts; Wilson 95% interval of the move rate ?0.51, 1.00?*",
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


def test_a_move_that_does_not_repeat_is_flaky(project, monkeypatch) -> None:
    result, results, name = _run(project, "bgbg", "run-f", monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*flaky: moved in 2/4 attempts; Wilson 95% interval*?0.15, 0.85?*"]
    )
    ledger = Ledger(project.path / "reports" / "gate-ledger.sqlite")
    kept = stored_attempts(ledger, "run-f", name)
    assert [a["gate"] for a in kept] == ["no-data", "provisioning", "no-data", "provisioning"]
    assert ledger.rows(scenario=name)[0].status == "failed:flaky"
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
