"""What a container run ships in (the scenario's own inputs, nothing else) and brings back."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path, PurePosixPath

from harness.runners import transfer

REPO = Path(__file__).resolve().parents[2]
SCENARIO = """\
format_version: 1
name: shipped
tier: 1
config: configs/operator_replay.yaml
overrides:
  c10_provisioning.backbones.0.weights_path: {weights}
clip:
  synth: {{preset: derkachi-60s, seed: 7}}
segment: {{start_s: 0, duration_s: 60}}
vpr: {{strategy: netvlad, rate_hz: 1, input_px: 240}}
expect: provisioning
expect_reason: "exists failed"
"""


def _project(tmp_path: Path, weights: str) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "operator_replay.yaml").write_text(
        (REPO / "configs" / "operator_replay.yaml").read_text()
    )
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net.pt").write_bytes(b"weights")
    (tmp_path / "models" / "net.provenance.json").write_text("{}")
    (tmp_path / "models" / "other.pt").write_bytes(b"not this one")
    (tmp_path / "s").mkdir()
    scenario = tmp_path / "s" / "a.scenario.yaml"
    scenario.write_text(SCENARIO.format(weights=weights))
    return scenario


def test_the_scenario_and_what_it_names_keep_their_project_paths(tmp_path: Path) -> None:
    scenario = _project(tmp_path, "models/net.pt")
    inputs = transfer.scenario_inputs(scenario, tmp_path)
    project = PurePosixPath("/work/project")
    assert inputs[project / "s/a.scenario.yaml"] == scenario
    assert inputs[project / "models/net.pt"] == tmp_path / "models/net.pt"
    assert project / "models/net.provenance.json" in inputs  # the sidecar goes with it
    assert project / "models/other.pt" not in inputs  # only what the scenario names
    assert project / "configs/operator_replay.yaml" in inputs
    assert project / "pyproject.toml" in inputs
    assert project / "harness/runners/transfer.py" in inputs  # the code the run imports
    assert not any("__pycache__" in str(p) for p in inputs)


def test_a_missing_checkpoint_is_left_for_the_run_to_report(tmp_path: Path) -> None:
    scenario = _project(tmp_path, "models/absent.pt")
    inputs = transfer.scenario_inputs(scenario, tmp_path)
    assert not any(p.name == "absent.pt" for p in inputs)


def test_an_invalid_scenario_still_ships_itself(tmp_path: Path) -> None:
    scenario = _project(tmp_path, "models/net.pt")
    scenario.write_text("format_version: 1\nname: [broken\n")
    inputs = transfer.scenario_inputs(scenario, tmp_path)
    assert PurePosixPath("/work/project/s/a.scenario.yaml") in inputs


def test_a_process_stacks_program_folder_and_project_mounts_travel(tmp_path: Path) -> None:
    """A `command:` stack reaches the container as a clip bundle does: its program's folder
    whole (all it sees of the project) and its mounts inside the project; a mount outside
    the project is the runner machine's own and is not copied from here."""
    (tmp_path / "pyproject.toml").write_text("")
    stack = tmp_path / "stacks" / "ring"
    (stack / "build").mkdir(parents=True)
    (stack / "run").write_text("#!/bin/sh\n")
    (stack / "build" / "ring-stack").write_bytes(b"\x7fELF")
    (tmp_path / "stacks" / "venv" / "lib").mkdir(parents=True)
    (tmp_path / "stacks" / "venv" / "lib" / "site.py").write_text("")
    (tmp_path / "stacks" / "other").mkdir()
    (tmp_path / "stacks" / "other" / "secret").write_text("")
    scenario = tmp_path / "p.scenario.yaml"
    scenario.write_text(
        "format_version: 2\nname: p\nclip: {synth: {preset: derkachi-10s, seed: 7}}\n"
        "pipeline: process\nprocess: {command: [stacks/ring/run, --x, '1'], "
        "mounts: [stacks/venv, /usr/share]}\nexpect: pass\n"
    )
    inputs = transfer.scenario_inputs(scenario, tmp_path)
    project = PurePosixPath("/work/project")
    assert inputs[project / "stacks/ring/run"] == stack / "run"
    assert inputs[project / "stacks/ring/build/ring-stack"] == stack / "build" / "ring-stack"
    assert inputs[project / "stacks/venv/lib/site.py"] == tmp_path / "stacks/venv/lib/site.py"
    assert project / "stacks/other/secret" not in inputs
    assert not any(str(p).startswith("/usr") for p in inputs)


def test_a_program_outside_the_project_is_the_runners_own(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    scenario = tmp_path / "p.scenario.yaml"
    scenario.write_text(
        "format_version: 2\nname: p\nclip: {synth: {preset: derkachi-10s, seed: 7}}\n"
        "pipeline: process\nprocess: {command: [/usr/bin/env, x]}\nexpect: pass\n"
    )
    inputs = transfer.scenario_inputs(scenario, tmp_path)
    assert not any(str(p).startswith("/usr") for p in inputs)  # never the system's folders


def test_the_archive_is_world_readable_with_sticky_writable_folders(tmp_path: Path) -> None:
    scenario = _project(tmp_path, "models/net.pt")
    buf = io.BytesIO()
    transfer.pack(transfer.scenario_inputs(scenario, tmp_path), buf)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["results"].mode == members["cache"].mode == 0o1777
    assert members["work/project/models"].isdir()
    net = members["work/project/models/net.pt"]
    assert (net.uid, net.mode, net.size) == (0, 0o644, len(b"weights"))
