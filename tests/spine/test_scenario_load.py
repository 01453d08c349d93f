"""Scenario loading: every problem located at file:line:col with a fix, all at once."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from harness.commands.main import main
from harness.scenario.load import load
from harness.scenario.problems import ScenarioInvalid
from tests.helpers import scenario_text


def _problems(path: Path, root: Path) -> list[str]:
    with pytest.raises(ScenarioInvalid) as info:
        load(path, root)
    return [str(p) for p in info.value.problems]


def test_valid_scenario_loads_with_overrides(project: pytest.Pytester) -> None:
    text = scenario_text(
        "ok", "provisioning", overrides="{c10_provisioning.backbones.0.runtime: pytorch-fp32}"
    )
    path = project.makefile(".scenario.yaml", ok=text)
    loaded = load(path, project.path)
    assert loaded.settings.config.c10_provisioning.backbones[0].runtime == "pytorch-fp32"
    assert loaded.line == 2 and loaded.scenario.name == "ok"
    assert len(loaded.settings_hash()) == 64


def test_unknown_key_gets_did_you_mean_and_line(project: pytest.Pytester) -> None:
    text = scenario_text("typo", "provisioning", vpr="{strategie: netvlad}")
    path = project.makefile(".scenario.yaml", typo=text)
    [problem] = _problems(path, project.path)
    assert f"{path}:7:7: vpr.strategie: unknown key; did you mean 'strategy'?" in problem
    assert "7 | vpr: {strategie: netvlad}" in problem


def test_expect_reason_that_is_no_regex_is_located(project: pytest.Pytester) -> None:
    text = scenario_text("pinned", "eskf-divergence", expect_reason="'^D1 (heading'")
    path = project.makefile(".scenario.yaml", pinned=text)
    [problem] = _problems(path, project.path)
    assert f"{path}:7:" in problem and "expect_reason: " in problem
    assert "not a regular expression (missing ), unterminated subpattern" in problem


def test_all_errors_reported_together(project: pytest.Pytester) -> None:
    text = scenario_text(
        "many",
        "retrival-quality",
        tier="3",
        segment="{start_s: -1}",
        overrides="{c10_provisioning.backbone.0.x: 1, c2_vpr.top_k: many}",
    )
    path = project.makefile(".scenario.yaml", many=text)
    problems = "\n".join(_problems(path, project.path))
    assert "expect: 'retrival-quality' is not allowed" in problems
    assert "did you mean 'retrieval-quality'?" in problems
    assert "tier: 3 is not allowed; use one of 1, 2" in problems
    assert "segment.start_s: Input should be greater than or equal to 0" in problems
    assert (
        "overrides.c10_provisioning.backbone.0.x: no key 'backbone'; did you mean 'backbones'?"
        in problems
    )
    assert "overrides.c2_vpr.top_k: Input should be a valid integer" in problems


def test_broken_yaml_names_its_line(project: pytest.Pytester) -> None:
    path = project.makefile(
        ".scenario.yaml", bad="format_version: 1\nname: [unclosed\nexpect: pass\n"
    )
    [problem] = _problems(path, project.path)
    assert problem.startswith(f"{path}:3:") and "YAML syntax error" in problem


def test_wrong_format_version_and_missing_config(project: pytest.Pytester) -> None:
    old = project.makefile(".scenario.yaml", old="format_version: 0\nname: x\n")
    assert "format_version 0 is not supported" in _problems(old, project.path)[0]
    text = scenario_text("nocfg", "pass").replace(
        "configs/operator_replay.yaml", "configs/nope.yaml"
    )
    nocfg = project.makefile(".scenario.yaml", nocfg=text)
    assert "operator config" in _problems(nocfg, project.path)[0]
    assert "does not exist; fix the path" in _problems(nocfg, project.path)[0]


def test_config_file_errors_point_into_the_config(project: pytest.Pytester) -> None:
    cfg = project.path / "configs" / "operator_replay.yaml"
    cfg.write_text(cfg.read_text().replace("runtime: pytorch-fp16", "runtime: fp8"))
    path = project.makefile(".scenario.yaml", cfg=scenario_text("cfg", "pass"))
    [problem] = _problems(path, project.path)
    assert problem.startswith(f"{cfg}:") and "c10_provisioning.backbones.0.runtime" in problem


def test_onnx_path_is_a_deprecated_alias(project: pytest.Pytester) -> None:
    cfg = project.path / "configs" / "operator_replay.yaml"
    cfg.write_text(cfg.read_text().replace("weights_path:", "onnx_path:"))
    path = project.makefile(".scenario.yaml", alias=scenario_text("alias", "pass"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load(path, project.path)
    assert loaded.settings.config.c10_provisioning.backbones[0].weights_path == Path(
        "models/netvlad/netvlad.pt"
    )
    assert any("`onnx_path` is a deprecated alias" in str(w.message) for w in caught)


def test_lint_cli_lists_all_files_and_exits_1(project: pytest.Pytester, capsys) -> None:
    project.makefile(".scenario.yaml", a=scenario_text("a", "nowhere"))
    project.makefile(".scenario.yaml", b=scenario_text("b", "pass", extra_key="1"))
    project.makefile(".scenario.yaml", c=scenario_text("c", "pass"))
    assert main(["scenario", "lint", str(project.path)]) == 1
    out = capsys.readouterr().out
    assert (
        "a.scenario.yaml:6:1: expect:" in out
        and "b.scenario.yaml:7:1: extra_key: unknown key" in out
    )
    assert "3 scenario file(s), 2 with errors, 2 error(s)" in out
    assert main(["scenario", "lint", str(project.path / "c.scenario.yaml")]) == 0


def test_schema_cli_prints_json_schema(capsys) -> None:
    assert main(["scenario", "schema"]) == 0
    assert '"format_version"' in capsys.readouterr().out
