"""Allure results from real scenario runs under xdist: a result per scenario, steps, side files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.history.ledger import Ledger
from harness.report.categories import categories
from tests.helpers import TINY, TINY_OVERRIDES, scenario_text

REPO = Path(__file__).resolve().parents[2]

EMPTY = "{c10_provisioning.backbones: []}"
MISSING = "{c10_provisioning.backbones.0.weights_path: models/none.pt}"


def results(folder: Path) -> dict[str, dict]:
    found = [json.loads(p.read_text()) for p in folder.glob("*-result.json")]
    return {r["name"]: r for r in found}


def step_names(steps: list[dict]) -> list[str]:
    return [n for s in steps for n in (s["name"], *step_names(s.get("steps", [])))]


def test_one_result_per_scenario_with_steps_labels_and_side_files_under_xdist(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project.path / "smoke").mkdir()
    (project.path / "smoke" / "skip.scenario.yaml").write_text(
        scenario_text("skip", "empty-backbones", overrides=EMPTY, markers="[smoke]")
    )
    (project.path / "smoke" / "miss.scenario.yaml").write_text(
        scenario_text("miss", "provisioning", overrides=MISSING, tier="2")
    )
    (project.path / "smoke" / "moved.scenario.yaml").write_text(
        scenario_text("moved", "vpr-contract", overrides=MISSING)
    )
    out = project.path / "reports" / "allure-results"
    history_ids: set[tuple[str, str]] = set()
    for run in ("run-1", "run-2"):
        monkeypatch.setenv("HARNESS_RUN_ID", run)
        project.runpytest(
            "-n", "2", "-p", "no:cacheprovider", "--runner", "inprocess"
        ).assert_outcomes(skipped=1, xfailed=1, failed=1)
        history_ids |= {(name, r["historyId"]) for name, r in results(out).items()}
    # the history id is stable across runs: the run id is an excluded parameter
    assert len(history_ids) == 3
    by_name: dict[str, list[dict]] = {}
    for p in out.glob("*-result.json"):
        r = json.loads(p.read_text())
        by_name.setdefault(r["name"], []).append(r)
    # the default folder holds the last session only (trends come from the report's history)
    assert sorted(by_name) == ["miss", "moved", "skip"]
    assert all(len(v) == 1 for v in by_name.values())
    miss, moved, skip = (by_name[n][0] for n in ("miss", "moved", "skip"))
    # the gate story: an expected stop is a success that says so; a moved gate fails in words
    assert miss["status"] == "passed"
    assert miss["statusDetails"]["message"].startswith("as expected: provisioning: netvlad")
    assert skip["status"] == "passed"
    assert skip["statusDetails"]["message"].startswith("as expected: empty-backbones: ")
    assert moved["status"] == "failed" and "trace" not in moved["statusDetails"]
    assert moved["statusDetails"]["message"].startswith(
        "regression: stopped at provisioning, expected vpr-contract"
    )
    assert "outcome: as expected: provisioning: netvlad" in miss["description"]
    assert ("tag", "as expected") in {(x["name"], x["value"]) for x in miss["labels"]}
    assert ("tag", "regression") in {(x["name"], x["value"]) for x in moved["labels"]}
    for result in (miss, moved):
        gates = result["steps"][-1]
        assert gates["name"].startswith("gates: provisioning (fail)")
        assert gates["status"] == "failed"  # its icon is its stopping sub-step's
    texts = json.dumps([miss, moved, skip])
    assert "_StepStop" not in texts and "harness.pytest.items" not in texts
    labels = {(label["name"], label["value"]) for label in miss["labels"]}
    assert {
        ("parentSuite", "tier2"),
        ("suite", "smoke"),
        ("feature", "smoke"),
        ("tag", "gate:provisioning"),
        ("severity", "critical"),
        ("tag", "tier2"),
    } <= labels
    names = step_names(miss["steps"])
    assert names[0].startswith("provisioning: ")
    assert "vpr: not reached" in names and "eskf: not reached" in names
    assert any(n.startswith("gates: provisioning (fail)") for n in names)
    stop = next(s for s in miss["steps"][-1]["steps"] if s["name"].startswith("provisioning: fail"))
    assert stop["status"] == "failed"
    attached = {a["name"] for a in miss["attachments"]}
    assert {
        "run record (record.jsonl)",
        "resolved scenario",
        "stack settings (resolved)",
    } <= attached
    assert {p["name"]: p.get("excluded", False) for p in miss["parameters"]} == {
        "runner": False,
        "device": False,
        "run id": True,
        "run folder": True,  # where the record lies; also how late pictures find the result
    }
    cats = json.loads((out / "categories.json").read_text())
    names = [c["name"] for c in cats]
    assert names[:3] == [
        "as expected: config-error",
        "as expected: infra-error",
        "as expected: no-data",
    ]
    first_failure = names.index("config-error (no verdict)")
    assert names[first_failure : first_failure + 3] == [
        "config-error (no verdict)",
        "infra-error (no verdict)",
        "no-data (failure)",
    ]
    env = (out / "environment.properties").read_text()
    assert "run.id=run-2" in env and "runner=inprocess" in env and "device=" in env
    executor = json.loads((out / "executor.json").read_text())
    assert executor["buildOrder"] == 2
    ledger = Ledger(project.path / "reports" / "gate-ledger.sqlite")
    assert sorted(
        (r.run_id, r.scenario, r.gate, r.status) for r in ledger.rows(run_id="run-2")
    ) == [
        ("run-2", "miss", "provisioning", "xfailed"),
        ("run-2", "moved", "provisioning", "failed"),
        ("run-2", "skip", "empty-backbones", "skipped"),
    ]


PLUGIN = "harness.pytest.items"
MESSAGES = {
    f"{PLUGIN}.RunBroken: infra-error: harness.run exited with status 3\nabout": "infra-error",
    "Skipped: local runner unavailable: no docker": "infra-error",
    f"{PLUGIN}.RunBroken: config-error: bad key": "config-error",
    f"{PLUGIN}.GateFailure: no-data: retrieval-quality: too few queries": "no-data",
    f"{PLUGIN}.GateFailure: regression: stopped at empty-backbones, expected provisioning; "
    "empty-backbones: empty": "gate: empty-backbones",
    f"{PLUGIN}.GateFailure: gate moved forward: raise expect to pass (was latency-budget); "
    "pass: every gate passed": "gate: pass",
    "XFAIL retrieval-quality: recall@5 0.03 < 0.60\n\nXFailed: retrieval-quality: x": (
        "gate: retrieval-quality"
    ),
    "Skipped: empty-backbones: c10_provisioning.backbones is empty": "gate: empty-backbones",
    # as harness.report.allure_story rewrites them
    "as expected: retrieval-quality: recall@5 0.03 < 0.60": "as expected: retrieval-quality",
    "as expected: no-data: retrieval-quality: 6 queries": "as expected: no-data",
    "as expected: empty-backbones: the stack lists none": "as expected: empty-backbones",
    "regression: stopped at provisioning, expected pass; provisioning: x": "gate: provisioning",
    "gate moved forward: raise expect to pass (was latency-budget); pass: every gate passed": (
        "gate: pass"
    ),
    "infra-error: harness.run exited with status 3": "infra-error",
}


@pytest.mark.parametrize("message", MESSAGES)
def test_categories_put_each_message_under_its_gate(message: str) -> None:
    # Allure uses Java's Pattern.matches (whole text); Python's fullmatch is the same here.
    first = next(
        c["name"]
        for c in categories()
        if "messageRegex" not in c or re.fullmatch(c["messageRegex"], message)
    )
    assert first.startswith(MESSAGES[message])


def test_a_crash_result_joins_the_scenarios_history(tmp_path: Path) -> None:
    """A dead worker's result carries the history id allure-pytest gives the same scenario's
    normal runs (its dynamic parameters are repr'ed), so the crash shows in that history."""
    pytest.importorskip("allure_pytest")
    from allure_commons.model2 import Parameter
    from allure_commons.utils import represent
    from allure_pytest.utils import get_history_id

    from harness.gates import Verdict
    from harness.report.allure_report import report_crash

    full_name = "scenarios/eskf/x.scenario.yaml::x"
    report_crash(
        tmp_path / "results",
        name="x",
        full_name=full_name,
        verdict=Verdict("infra-error", "fail", "the worker died"),
        runner="local",
        device="cpu",
        run_id="r1",
        out_dir=tmp_path,
    )
    [path] = (tmp_path / "results").glob("*-result.json")
    crashed = json.loads(path.read_text())
    normal = [  # what labels() adds through allure.dynamic.parameter
        Parameter(name="runner", value=represent("local")),
        Parameter(name="device", value=represent("cpu")),
        Parameter(name="run id", value=represent("r1"), excluded=True),
    ]
    assert crashed["historyId"] == get_history_id(full_name, normal, {})


def test_a_pass_names_the_gates_it_did_not_judge(project: pytest.Pytester) -> None:
    """An oracle run passes with retrieval and the descriptor contract n/a: the verdict's
    reason, the description and the gates step say so, never "passed" for an unjudged gate."""
    from harness.reference.models.scaffold import make_scaffold

    (project.path / ".cache").symlink_to(REPO / ".cache", target_is_directory=True)
    make_scaffold(project.path / "models" / "tiny.pt", **TINY)
    text = TINY_OVERRIDES + scenario_text(
        "oracle",
        "pass",
        vpr="{strategy: oracle, oracle: {sigma_m: 10, seed: 2}}",
        gates="{retrieval_quality: {applies: false}, eskf_divergence: {sigma_vpr_m: 10, "
        "warmup_s: 3, min_states: 30, min_fixes: 5}}",
    ).replace("derkachi-60s", "derkachi-10s")
    (project.path / "oracle.scenario.yaml").write_text(text)
    out = project.path / "allure"
    project.runpytest(
        "-p", "no:cacheprovider", "--runner", "inprocess", "--alluredir", str(out)
    ).assert_outcomes(passed=1)
    result = results(out)["oracle"]
    assert (
        "verdict: pass (pass): pass; n/a: vpr-contract, retrieval-quality"
        in (result["description"])
    )
    names = step_names(result["steps"][-1]["steps"])
    assert (
        "retrieval-quality: n/a (not judged: the scenario declares this gate does not apply)"
        in names
    )
    assert "eskf-divergence: passed" in names
