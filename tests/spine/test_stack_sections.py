"""A stack brings its own scenario section: the shared schema knows none of our stack's
settings, a black-box stack needs, pins and bundles nothing of ours, and version-1 files keep
working (read as version 2, rewritten by `harness scenario migrate`)."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from harness.commands.main import main
from harness.gates import conclude
from harness.record import read_record
from harness.rerun.failure_bundle import RunFacts, write_bundle
from harness.run.driver import run
from harness.scenario.load import load
from harness.scenario.migrate import migrate_text
from harness.scenario.model import Scenario
from harness.scenario.problems import ScenarioInvalid
from harness.scenario.stacks import json_schema
from harness.scenario.yamlsafe import read_tree

REPO = Path(__file__).resolve().parents[2]

TEAM_STACK = '''
"""A team's stack under development, with a section of its own."""
from pydantic import BaseModel, ConfigDict

from harness.scenario.model import Scenario


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    speed_m_s: float = 1.0


class TeamScenario(Scenario):
    thing: Thing = Thing()


class TeamStack:
    scenario_model = TeamScenario
'''


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def _project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("")
    return tmp_path


def test_the_shared_schema_holds_no_setting_of_our_stack() -> None:
    shared = set(Scenario.model_fields)
    assert not shared & {"config", "overrides", "vpr", "eskf", "process"}
    assert {"clip", "segment", "gates", "expect", "pipeline", "tier", "markers"} <= shared


def test_a_team_stack_declares_its_section_and_errors_point_into_it(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "team_stack.py").write_text(TEAM_STACK)
    head = textwrap.dedent(
        """\
        format_version: 2
        name: team
        pipeline: team_stack:TeamStack
        clip: {synth: {preset: derkachi-10s, seed: 7}}
        expect: pass
        """
    )
    ok = _write(root, "ok.scenario.yaml", head + "thing: {speed_m_s: 3}\n")
    assert load(ok, root).scenario.thing.speed_m_s == 3
    bad = _write(root, "bad.scenario.yaml", head + "thing: {spead_m_s: 3}\nvpr: {rate_hz: 1}\n")
    with pytest.raises(ScenarioInvalid) as info:
        load(bad, root)
    found = {(p.line, p.where): p.message for p in info.value.problems}
    assert "did you mean 'speed_m_s'" in found[(6, "thing.spead_m_s")]
    assert "read only with `pipeline: reference`" in found[(7, "vpr")]


def test_a_black_box_stack_needs_pins_and_bundles_nothing_of_ours(tmp_path: Path) -> None:
    root = _project(tmp_path)
    stack = root / "stack" / "run"
    stack.parent.mkdir()
    stack.write_text('#!/bin/sh\necho \'{"type": "ready"}\'\n')
    stack.chmod(0o755)
    path = _write(
        root,
        "box.scenario.yaml",
        """\
        format_version: 2
        name: box
        pipeline: process
        process: {command: [stack/run]}
        clip: {synth: {preset: derkachi-10s, seed: 7}}
        expect: pass
        """,
    )
    loaded = load(path, root)
    assert [(f.role, f.path) for f in loaded.settings.files()] == [("program", stack)]
    out = root / "run"
    verdict = conclude(run(path, out, root=root, cache_dir=REPO / ".cache"))
    record = read_record(out / "record.jsonl")
    prov = record.provenance
    assert prov["checkpoint_pinned"] is None and prov["unpinned"] == []
    assert [a["kind"] for a in prov["artifacts"]] == ["program"]
    assert record.config == {} and "warnings" not in verdict.metrics
    facts = RunFacts(
        name="box", run_id="r", scenario_path=path, root=root,
        stack_files=loaded.settings.files(), out_dir=out, expect="pass", expect_reason=None,
        verdict=verdict.as_dict(), decision={"outcome": "failed", "message": "x"},
        runner="local", command={"pytest": []}, cache_dir=REPO / ".cache",
    )  # fmt: skip
    written = write_bundle(facts, record, root / "bundles")
    names = [name for name, _ in written.members]
    assert "project/stack/run" in names and not any(n.endswith(".pt") for n in names)


V1_PROCESS = """\
format_version: 1
name: ring  # the example stack
description: a version-1 file
config: configs/operator_replay.yaml
overrides:
  c10_provisioning.backbones.0.width: 8   # never read by a black box
clip:
  synth: {preset: derkachi-10s, seed: 7}
pipeline: process
process: {command: [examples/ring-stack/run]}
expect: pass
"""
V1_REFERENCE = """\
format_version: 1
name: ref
config: configs/operator_replay.yaml
clip:
  synth: {preset: derkachi-10s, seed: 7}
vpr: {strategy: oracle}
expect: pass
"""


@pytest.mark.parametrize("text", [V1_PROCESS, V1_REFERENCE], ids=["process", "reference"])
def test_version_1_files_load_and_migrate_to_the_same_scenario(tmp_path: Path, text: str) -> None:
    old = tmp_path / "old.scenario.yaml"
    old.write_text(text)
    before = load(old, REPO).scenario.model_dump(mode="json")
    new_text, changes = migrate_text(text, read_tree(old)[0])
    assert changes[0] == "format_version 1 -> 2"
    new = tmp_path / "new.scenario.yaml"
    new.write_text(new_text)
    assert load(new, REPO).scenario.model_dump(mode="json") == before
    assert "format_version: 2" in new_text and "name:" in new_text
    if "process" in text:
        assert "# the example stack" in new_text and "config:" not in new_text
        assert "overrides" not in new_text and "never read" not in new_text
    else:
        assert new_text.splitlines()[2] == "pipeline: reference"
    assert migrate_text(new_text, read_tree(new)[0]) == (new_text, [])  # once only


def test_migrate_rewrites_files_in_place_and_says_what_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.scenario.yaml"
    path.write_text(V1_PROCESS)
    assert main(["scenario", "migrate", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "removed `config`" in out and "1 migrated" in out
    assert path.read_text().startswith("format_version: 2\n")
    assert main(["scenario", "migrate", str(tmp_path)]) == 0
    assert "0 migrated" in capsys.readouterr().out


def test_version_2_needs_its_pipeline_named(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "x.scenario.yaml",
        """\
        format_version: 2
        name: x
        clip: {synth: {preset: derkachi-10s, seed: 7}}
        expect: pass
        """,
    )
    with pytest.raises(ScenarioInvalid, match="pipeline: required key missing"):
        load(path, REPO)


def test_the_json_schema_has_a_branch_per_installed_stack() -> None:
    schema = json_schema()
    branches = {
        name: schema["$defs"][ref.rsplit("/", 1)[-1]]
        for name, ref in schema["discriminator"]["mapping"].items()
    }
    assert {"process", "reference"} <= set(branches)
    assert {"vpr", "eskf", "config"} <= set(branches["reference"]["properties"])
    assert "process" in branches["process"]["properties"]
    assert "config" not in branches["process"]["properties"]


def test_the_schema_command_prints_it(tmp_path: Path) -> None:
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "harness.commands.main", "scenario", "schema"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert json.loads(out.stdout)["discriminator"]["propertyName"] == "pipeline"
