"""The README's scenario table: made from a session's verdicts, checked against a run, and
consistent with every scenario file's `expect` (so it cannot drift even between CI runs)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from harness.commands.main import main
from harness.report import table

REPO = Path(__file__).resolve().parents[2]


def _session(tmp_path: Path, rows: list[tuple]) -> tuple[Path, Path]:
    """A session of (name, status, gate[, reason]) rows and the scenario files it ran."""
    scenarios = tmp_path / "scenarios"
    runs = tmp_path / "runs"
    (runs / "s1").mkdir(parents=True, exist_ok=True)
    lines = []
    for name, status, gate, *said in rows:
        path = scenarios / f"{name}.scenario.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("format_version: 1\n")
        row = {"scenario": str(path), "name": name, "gate": gate, "status": status}
        reason = said[0] if said else f"why {name} stops  there"
        lines.append(json.dumps({**row, "reason": reason}) + "\n")
    (runs / "s1" / "verdicts.jsonl").write_text("".join(lines))
    return scenarios, runs


def test_write_then_check_and_a_moved_gate_fails_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    scenarios, runs = _session(
        tmp_path, [("eskf/a", "xfailed", "eskf-divergence"), ("vpr/b", "passed", "pass")]
    )
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n\n{table.BEGIN}\nold\n{table.END}\n\nafter\n")
    common = ["report", "table", "--runs", str(runs), "--scenarios", str(scenarios)]
    assert main([*common, "--write", str(readme)]) == 0
    text = readme.read_text()
    assert "before" in text and "after" in text and "old" not in text
    assert "    eskf/a  XFAIL  eskf-divergence    why eskf/a stops there" in text
    assert "    vpr/b   PASS   pass               why vpr/b stops there" in text
    assert main([*common, "--check", str(readme)]) == 0
    # the next run moves a gate: the check names the scenario, both sides and the fix
    _session(tmp_path, [("eskf/a", "xfailed", "eskf-divergence"), ("vpr/b", "failed", "no-data")])
    capsys.readouterr()
    assert main([*common, "--check", str(readme)]) == 1
    out = capsys.readouterr().out
    assert "vpr/b: the table says PASS pass ('why'), the run FAIL no-data ('why')" in out
    assert "harness report table --write" in out


def test_the_check_compares_the_trigger_not_the_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Same status and gate for another reason (D6 became D1, one provisioning check another)
    is a difference; the same trigger at other times and figures is not."""
    d6 = "D6 from t=22.0 s: 16/31 fixes rejected within 30 s (> 50%): the filter is coasting"
    sha = "netvlad-vgg16: sha256 failed: models/x.pt has sha256 ab12, the config pins cd34"
    scenarios, runs = _session(
        tmp_path, [("e", "xfailed", "eskf-divergence", d6), ("p", "xfailed", "provisioning", sha)]
    )
    readme = tmp_path / "README.md"
    readme.write_text(f"{table.BEGIN}\n{table.END}\n")
    common = ["report", "table", "--runs", str(runs), "--scenarios", str(scenarios)]
    assert main([*common, "--write", str(readme)]) == 0
    moved = d6.replace("22.0", "31.5").replace("16/31", "19/33")
    _session(
        tmp_path,
        [("e", "xfailed", "eskf-divergence", moved), ("p", "xfailed", "provisioning", sha)],
    )
    assert main([*common, "--check", str(readme)]) == 0
    d1 = "D1 from t=10.0 s: NEES > 13.82 and error > 50 m for >= 5 s"
    layout = "netvlad-vgg16: layout failed: models/x.pt lacks pool.centroids"
    _session(
        tmp_path,
        [("e", "xfailed", "eskf-divergence", d1), ("p", "xfailed", "provisioning", layout)],
    )
    capsys.readouterr()
    assert main([*common, "--check", str(readme)]) == 1
    out = capsys.readouterr().out
    assert (
        "e: the table says XFAIL eskf-divergence ('D6'), the run XFAIL eskf-divergence ('D1')"
        in out
    )
    assert "p: the table says XFAIL provisioning ('sha256 failed'), the run" in out


def test_a_partial_run_a_missing_marker_and_no_session_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    scenarios, runs = _session(tmp_path, [("a", "passed", "pass")])
    (scenarios / "b.scenario.yaml").write_text("format_version: 1\n")
    common = ["report", "table", "--runs", str(runs), "--scenarios", str(scenarios)]
    assert main(common) == 1
    assert "the session did not run b" in capsys.readouterr().err
    (scenarios / "b.scenario.yaml").unlink()
    readme = tmp_path / "README.md"
    readme.write_text("no table\n")
    assert main([*common, "--check", str(readme)]) == 1
    assert "no scenario table" in capsys.readouterr().err
    assert main([*common[:2], "--runs", str(tmp_path / "none")]) == 1
    assert "run `pytest scenarios/` first" in capsys.readouterr().err


def test_a_farm_session_lists_each_board(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    scenarios, runs = _session(tmp_path, [("a", "passed", "pass")])
    row = json.loads((runs / "s1" / "verdicts.jsonl").read_text())
    lines = [
        {**row, "device": "board-1"},
        {**row, "device": "board-2", "status": "failed", "gate": "no-data"},
    ]
    (runs / "s1" / "verdicts.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert main(["report", "table", "--runs", str(runs), "--scenarios", str(scenarios)]) == 0
    out = capsys.readouterr().out
    assert "    a @ board-1  PASS   pass " in out
    assert "    a @ board-2  FAIL   no-data " in out


def test_the_readme_table_lists_every_scenario_at_the_gate_its_expect_names() -> None:
    """Without running the suite: the table's rows are the scenario files, and each row's
    gate is where the file's `expect` says it stops (PASS: expect pass)."""
    readme = REPO / "README.md"
    rows = {x.scenario: x for x in table.parse(readme.read_text(), readme)}
    scenarios = REPO / "scenarios"
    assert sorted(rows) == table.scenario_names(scenarios)
    yaml = YAML(typ="safe")
    for name, row in rows.items():
        expect = yaml.load((scenarios / f"{name}.scenario.yaml").read_text())["expect"]
        assert row.status in ("PASS", "XFAIL", "SKIP"), f"{name}: {row.status} in the README"
        assert row.gate == expect, f"{name}: README says {row.gate}, the file expects {expect}"
        pin = yaml.load((scenarios / f"{name}.scenario.yaml").read_text()).get("expect_reason")
        assert not pin or re.search(pin, row.reason), f"{name}: {row.reason!r} is not {pin!r}"
