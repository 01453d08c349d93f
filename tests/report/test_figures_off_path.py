"""A run's pictures are made off the verdict's path: in a helper process, never in the pytest
or the run process; nobody on the scenario's path waits for them, and they still end up in the
run folder and, inside their stage steps, in the Allure result."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from harness.report import figure_jobs
from harness.report.allure_late import LatePictures
from tests.helpers import scenario_text

REPO = Path(__file__).resolve().parents[2]
ORACLE = "{strategy: oracle, oracle: {sigma_m: 25, seed: 1}}"
GATES = "{retrieval_quality: {applies: false}, eskf_divergence: {sigma_vpr_m: 25, warmup_s: 2}}"
TINY = f"""
  c10_provisioning.backbones.0.weights_path: {REPO}/models/scenarios/tiny-netvlad.pt
  c10_provisioning.backbones.0.width: 8
  c10_provisioning.backbones.0.clusters: 8
  c10_provisioning.backbones.0.descriptor_dim: 64"""
PNG = b"\x89PNG\r\n\x1a\n"
# Where matplotlib is when a verdict is decided, noted by the session that decides it.
CONFTEST = """
import json, sys
import pytest

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "call":
        with open("matplotlib.jsonl", "a") as fh:
            fh.write(json.dumps([item.name, "matplotlib" in sys.modules]) + "\\n")
    return report
"""
WAIT_S = 120.0
# A figure helper that draws nothing until every scenario's item has ended (or WAIT_S passed)
# and notes which it saw; it cannot draw the run named "no-pictures" (it answers with an
# error, as a plotting problem does); the real helper otherwise. An item that waited for its
# pictures would never end before the helper drew: the note would say so.
SLOW_HELPER = f"""
import json, os, runpy, time
from pathlib import Path
from harness.report import run_plots

names = ("first", "second", "no-pictures")
deadline = time.monotonic() + {WAIT_S}
while not all(Path("ended-" + n).exists() for n in names) and time.monotonic() < deadline:
    time.sleep(0.05)
ended = [n for n in names if Path("ended-" + n).exists()]
Path(f"helper-{{os.getpid()}}.json").write_text(json.dumps(ended))
draw = run_plots.make_run_figures

def fails_for_one(record, out_dir):
    if Path(out_dir).name == "no-pictures":
        raise RuntimeError("cannot draw this one")
    return draw(record, out_dir)

run_plots.make_run_figures = fails_for_one
runpy.run_module("harness.report.figure_jobs", run_name="__main__")
"""
SLOW_CONFTEST = """
import sys
from pathlib import Path
from harness.report import figure_jobs

figure_jobs.COMMAND = [sys.executable, "slow_figures.py"]

def pytest_runtest_logfinish(nodeid, location):
    Path("ended-" + nodeid.split("::")[-1]).touch()
"""


def oracle_scenario(project: pytest.Pytester, name: str) -> None:
    text = scenario_text(name, "pass", vpr=ORACLE, overrides=TINY, gates=GATES)
    project.makefile(".scenario.yaml", **{name: text.replace("derkachi-60s", "derkachi-10s")})


def allure_results(folder: Path) -> dict[str, dict]:
    found = [json.loads(p.read_text()) for p in folder.glob("*-result.json")]
    return {r["name"]: r for r in found}


def pictures(result: dict, results: Path) -> dict[str, list[str]]:
    """Top-level step -> its image attachments' names; each attachment's file is a PNG."""
    shown: dict[str, list[str]] = {}
    for step in result.get("steps", []):
        for a in step.get("attachments", []):
            if a["type"] == "image/png":
                assert (results / a["source"]).read_bytes()[:8] == PNG, a
                shown.setdefault(step["name"].split(":")[0], []).append(a["name"])
    return shown


def attachments_in(node: dict) -> list[dict]:
    """The attachments of a result or step and of all its steps."""
    inner = [a for step in node.get("steps", []) for a in attachments_in(step)]
    return [*node.get("attachments", []), *inner]


def test_pictures_are_made_in_a_helper_process_and_attached(project: pytest.Pytester) -> None:
    project.makeconftest(CONFTEST)
    oracle_scenario(project, "oracle")
    project.runpytest_subprocess("-p", "no:cacheprovider", "--harness-runs", "runs")
    noted = (project.path / "matplotlib.jsonl").read_text().splitlines()
    seen = [json.loads(line) for line in noted]
    assert seen == [["oracle", False]]  # not imported where the verdict was decided
    [out_dir] = (project.path / "runs").glob("*/oracle")
    assert (out_dir / "eskf.png").read_bytes()[:8] == PNG
    results = project.path / "reports" / "allure-results"
    result = allure_results(results)["oracle"]
    assert pictures(result, results) == {"eskf": ["eskf"]}
    assert [s["name"].split(":")[0] for s in result["steps"]][-1] == "gates"
    params = {p["name"]: (p["value"], p.get("excluded", False)) for p in result["parameters"]}
    assert params["run folder"] == (f"'{out_dir}'", True)  # where the record lies


def test_a_scenario_does_not_wait_for_its_pictures_which_still_reach_its_result(
    project: pytest.Pytester,
) -> None:
    """Under xdist, with a helper that draws only once every item has ended: each item ends
    before its pictures exist, and each worker still adds its own runs' pictures to their
    results; a run whose pictures fail keeps a valid result without them."""
    (project.path / "slow_figures.py").write_text(SLOW_HELPER)
    project.makeconftest(SLOW_CONFTEST)
    for name in ("first", "second", "no-pictures"):
        oracle_scenario(project, name)
    args = ("-n", "2", "-p", "no:cacheprovider", "--harness-runs", "runs")
    project.runpytest_subprocess(*args).assert_outcomes(passed=3)
    notes = [json.loads(p.read_text()) for p in project.path.glob("helper-*.json")]
    assert notes, "no figure helper ran"
    for ended in notes:  # no helper drew before all three items had ended
        assert ended == ["first", "second", "no-pictures"], ended
    results = project.path / "reports" / "allure-results"
    found = allure_results(results)
    assert sorted(found) == ["first", "no-pictures", "second"]
    for name in ("first", "second"):
        assert pictures(found[name], results) == {"eskf": ["eskf"]}, name
    broken = found["no-pictures"]
    assert broken["status"] == "passed" and pictures(broken, results) == {}
    assert any(s["name"].startswith("eskf: ") for s in broken["steps"])
    referenced = {a["source"] for r in found.values() for a in attachments_in(r)}
    attachments = {p.name for p in results.glob("*-attachment*")}
    assert attachments == referenced  # no stray copies, nothing half-written
    assert not list(results.glob(".*"))


def test_late_pictures_go_where_report_run_puts_them(tmp_path: Path) -> None:
    out_dir, results = tmp_path / "run", tmp_path / "allure-results"
    (out_dir / "sub").mkdir(parents=True)
    results.mkdir()
    for name in ("eskf.png", "vpr_recall.png", "sub/extra.png", "early.png"):
        (out_dir / name).write_bytes(PNG + name.encode())
    steps = [
        {"name": "provisioning: 3 check", "status": "passed"},
        {"name": "vpr: not reached", "status": "skipped"},
        {"name": "eskf: 10 state", "status": "passed", "attachments": [{"name": "eskf events"}]},
        {"name": "figures: 1 more", "status": "passed", "attachments": [{"name": "early.png"}]},
        {"name": "gates: pass (pass)", "status": "passed"},
    ]
    result = results / "r-result.json"
    params = [{"name": "run folder", "value": f"'{out_dir}'", "excluded": True}]
    result.write_text(json.dumps({"name": "s", "stop": 5, "steps": steps, "parameters": params}))
    late = LatePictures(results)
    late.expect(out_dir, [out_dir / "early.png"])  # attached when the result was written
    late.attach([out_dir])
    steps = json.loads(result.read_text())["steps"]
    assert [s["name"] for s in steps] == [
        "provisioning: 3 check",
        "vpr: figures only",  # as report_run names a stage that has pictures only
        "eskf: 10 state",
        "figures: 2 more",
        "gates: pass (pass)",
    ]
    names = [[a["name"] for a in s.get("attachments", [])] for s in steps]
    assert names == [
        [],
        ["vpr_recall"],
        ["eskf events", "eskf"],
        ["early.png", "sub/extra.png"],
        [],
    ]
    copied = steps[2]["attachments"][1]
    assert copied["type"] == "image/png" and copied["source"].endswith("-attachment.png")
    assert (results / copied["source"]).read_bytes() == (out_dir / "eskf.png").read_bytes()


def test_a_missing_or_unreadable_result_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    results, gone, bad = tmp_path / "results", tmp_path / "gone", tmp_path / "bad"
    for folder in (results, gone, bad):
        folder.mkdir()
    (gone / "eskf.png").write_bytes(PNG)
    (bad / "eskf.png").write_bytes(PNG)
    (results / "a-result.json").write_text("{not json")
    params = [{"name": "run folder", "value": repr(str(bad))}]
    (results / "b-result.json").write_text(json.dumps({"parameters": params, "steps": 3}))
    late = LatePictures(results)
    late.expect(gone, [])
    late.expect(bad, [])
    with caplog.at_level(logging.WARNING):
        late.attach([gone, bad])
    assert "no result names run folder" in caplog.text and "unreadable result" in caplog.text
    assert f"the pictures of {bad} are left out" in caplog.text


def test_a_dead_helper_finishes_its_runs_without_pictures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ends = "import sys; sys.stdin.readline(); sys.stdin.readline()"  # two runs, no answer
    monkeypatch.setattr(figure_jobs, "COMMAND", [sys.executable, "-c", ends])
    jobs = figure_jobs.FigureJobs()
    jobs.submit(tmp_path / "a")
    jobs.submit(tmp_path / "b")
    jobs.wait(tmp_path / "b")  # returns: the helper ended without answering
    assert jobs.finished() == [tmp_path / "a", tmp_path / "b"]
    assert not jobs.pending(tmp_path / "a")
    jobs.drain()
