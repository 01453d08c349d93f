"""Transitions from real runs of product-like scenarios: a regression, a forward move, infra."""

from __future__ import annotations

import pytest

from harness.commands.main import main
from tests.helpers import scenario_text

EMPTY = "{c10_provisioning.backbones: []}"
MISSING = "{c10_provisioning.backbones.0.weights_path: models/none.pt}"
RAISES = """
class Raises:
    def provision(self, ctx):
        raise ZeroDivisionError("bug in the stack")
"""


def _run(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, run_id: str, **texts) -> None:
    for name, text in texts.items():
        project.makefile(".scenario.yaml", **{name: text})
    monkeypatch.setenv("HARNESS_RUN_ID", run_id)
    project.runpytest("-p", "no:cacheprovider", "--runner", "inprocess")


def test_regression_forward_move_and_infra_from_real_runs(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    ledger = project.path / "reports" / "gate-ledger.sqlite"
    md = project.path / "mr.md"
    common = ["--ledger", str(ledger), "--markdown", str(md)]
    steady = scenario_text("steady", "empty-backbones", overrides=EMPTY)
    # run 1: the checkpoint is configured but missing -> stops at provisioning, as expected
    _run(
        project,
        monkeypatch,
        "run-1",
        prov=scenario_text("prov", "provisioning", overrides=MISSING),
        steady=steady,
    )
    # run 2: a change empties the backbones list -> empty-backbones: a regression
    _run(project, monkeypatch, "run-2", prov=scenario_text("prov", "provisioning", overrides=EMPTY))
    assert main(["gates", "check", "--baseline", "last green", *common]) == 1
    text = md.read_text()
    assert "**Regression**: 1 scenario(s)" in text
    assert "| prov | provisioning | empty-backbones | ⬇ **backward** |" in text
    assert "| steady | empty-backbones | empty-backbones | = |" in text
    assert "Baseline last green per scenario: run `run-1` → head run `run-2`" in text
    # run 3: back to provisioning: relative to run 2 that is a forward move, and no regression
    _run(
        project, monkeypatch, "run-3", prov=scenario_text("prov", "provisioning", overrides=MISSING)
    )
    # the operator config pins no checkpoint: no OK until it does, or the flag allows it
    assert main(["gates", "check", "--baseline", "run-2", *common]) == 2
    assert "prov" in md.read_text() and "--allow-unpinned" in md.read_text()
    assert main(["gates", "check", "--baseline", "run-2", *common, "--allow-unpinned"]) == 0
    assert "| prov | empty-backbones | provisioning | ⬆ forward |" in md.read_text()
    capsys.readouterr()
    assert main(["gates", "diff", "run-1", "run-2", "--ledger", str(ledger)]) == 0
    out = capsys.readouterr().out
    assert "BACKWARD" in out and "steady" not in out  # only the moved scenarios
    assert "<br>" not in out and "**" not in out  # a terminal's text, not Markdown
    assert "before: run run-1 (git " in out and "after:  run run-2 (git " in out
    # run 4: the stack crashes -> infra-error: no verdict, exit 2
    project.makepyfile(crashy=RAISES)
    _run(
        project,
        monkeypatch,
        "run-4",
        prov=scenario_text("prov", "provisioning", pipeline="crashy:Raises"),
    )
    assert main(["gates", "check", "--baseline", "last green", *common]) == 2
    assert "**No verdict**" in md.read_text()
    # run 5: the scenario file no longer loads: a config-error row, no verdict
    _run(project, monkeypatch, "run-5", prov="format_version: 1\nname: prov\nexpect: [\n")
    assert main(["gates", "check", "--baseline", "run-3", *common]) == 2
    assert "| prov | provisioning | config-error | ⚠ broken |" in md.read_text()
    # the history: printed, and plotted as a PNG
    png = project.path / "prov.png"
    capsys.readouterr()
    assert main(["gates", "history", "prov", "--ledger", str(ledger), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert out.count("\nrun-") == 5 and "-error " in out, out
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert main(["gates", "check", "--baseline", "cafe1234", *common]) == 2  # unknown baseline
