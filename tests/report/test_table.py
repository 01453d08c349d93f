"""The README's scenario table: made from a session's verdicts, checked against a run, and
consistent with every scenario file's `expect` (so it cannot drift even between CI runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from harness.commands.main import main
from harness.report import table

REPO = Path(__file__).resolve().parents[2]


def _session(tmp_path: Path, rows: list[tuple[str, str, str]]) -> tuple[Path, Path]:
    scenarios = tmp_path / "scenarios"
    runs = tmp_path / "runs"
    (runs / "s1").mkdir(parents=True, exist_ok=True)
    lines = []
    for name, status, gate in rows:
        path = scenarios / f"{name}.scenario.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("format_version: 1\n")
        row = {"scenario": str(path), "name": name, "gate": gate, "status": status}
        lines.append(json.dumps({**row, "reason": f"why {name} stops  there"}) + "\n")
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
    assert "vpr/b: the table says PASS pass, the run FAIL no-data" in out
    assert "harness report table --write" in out


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
