"""A run's pictures are made off the verdict's path: in a helper process, never in the pytest
or the run process, and still in the run folder and the Allure result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import scenario_text

REPO = Path(__file__).resolve().parents[2]
ORACLE = "{strategy: oracle, oracle: {sigma_m: 25, seed: 1}}"
GATES = "{retrieval_quality: {applies: false}, eskf_divergence: {sigma_vpr_m: 25, warmup_s: 2}}"
TINY = f"""
  c10_provisioning.backbones.0.weights_path: {REPO}/models/scenarios/tiny-netvlad.pt
  c10_provisioning.backbones.0.width: 8
  c10_provisioning.backbones.0.clusters: 8
  c10_provisioning.backbones.0.descriptor_dim: 64"""
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


def test_pictures_are_made_in_a_helper_process_and_attached(project: pytest.Pytester) -> None:
    project.makeconftest(CONFTEST)
    text = scenario_text("oracle", "pass", vpr=ORACLE, overrides=TINY, gates=GATES)
    project.makefile(".scenario.yaml", oracle=text.replace("derkachi-60s", "derkachi-10s"))
    project.runpytest_subprocess("-p", "no:cacheprovider", "--harness-runs", "runs")
    noted = (project.path / "matplotlib.jsonl").read_text().splitlines()
    seen = [json.loads(line) for line in noted]
    assert seen == [["oracle", False]]  # not imported where the verdict was decided
    [out_dir] = (project.path / "runs").glob("*/oracle")
    assert (out_dir / "eskf.png").read_bytes()[:4] == b"\x89PNG"
    [result] = (project.path / "reports" / "allure-results").glob("*-result.json")
    steps = json.loads(result.read_text())["steps"]
    [eskf] = [s for s in steps if s["name"].startswith("eskf: ")]
    assert "eskf" in {a["name"] for a in eskf["attachments"]}
