"""Failure bundles from real runs, replayed from another folder: reproduced, differs, refused."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest
import torch

from harness.commands.main import main
from harness.reference.vpr.netvlad import NetVladVgg16, init_like_torchvision
from harness.rerun.failure_bundle import BundleError, RunFacts, write_bundle
from harness.scenario.model import StackFile
from tests.helpers import scenario_text

TINY = "models/tiny.pt"
ORACLE = f"""{{c10_provisioning.backbones.0.weights_path: {TINY},
  c10_provisioning.backbones.0.width: 8, c10_provisioning.backbones.0.clusters: 8,
  c10_provisioning.backbones.0.descriptor_dim: 64}}"""


def _tiny(path: Path) -> None:
    torch.manual_seed(0)
    model = NetVladVgg16(width=8, clusters=8, descriptor_dim=64)
    init_like_torchvision(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)


def _facts(
    scenario: Path,
    root: Path,
    *,
    gate: str,
    outcome: str,
    decision: str,
    config: Path | None = None,
) -> RunFacts:
    """A run's facts as the plugin gathers them: scenario `s`, run `r`, results in root/run."""
    return RunFacts(
        name="s",
        run_id="r",
        scenario_path=scenario,
        root=root,
        stack_files=[StackFile("config", config or scenario, ("config",))],
        out_dir=root / "run",
        expect="pass",
        expect_reason=None,
        verdict={"gate": gate, "outcome": outcome, "reason": "x", "metrics": {}},
        decision={"outcome": decision, "message": "x"},
        runner="local",
        command={"pytest": []},
        cache_dir=root / ".cache",
    )


def _bundles(project: pytest.Pytester) -> list[Path]:
    return sorted((project.path / "reports" / "failures").glob("*.tar.gz"))


def test_bundle_then_replay_from_another_folder_reproduces(
    project: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    _tiny(project.path / TINY)
    text = scenario_text("oracle-10s", "provisioning", overrides=ORACLE).replace(
        "derkachi-60s", "derkachi-10s"
    )
    text += "vpr: {strategy: oracle, oracle: {sigma_m: 25, seed: 1}}\n"
    text += "gates: {retrieval_quality: {applies: false}, eskf_divergence: {warmup_s: 2}}\n"
    project.makefile(".scenario.yaml", **{"oracle-10s": text})
    monkeypatch.setenv("HARNESS_RUN_ID", "run-1")
    result = project.runpytest("-p", "no:cacheprovider", "--runner", "inprocess")
    result.assert_outcomes(failed=1)  # it got further than expect: a surprise
    result.stdout.fnmatch_lines(
        ["*failure bundles*", "*oracle-10s--run-1.tar.gz (* MiB, * files)*"]
    )
    (bundle,) = _bundles(project)
    with tarfile.open(bundle) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))
    assert {
        "manifest.json",
        "project/oracle-10s.scenario.yaml",
        "project/configs/operator_replay.yaml",
        f"project/{TINY}",
        "resolved/scenario.json",
        "resolved/config.json",
        "run/record.jsonl",
        "run/eskf.png",  # the bundle waits for the run's pictures
    } <= names
    # ... and the Allure result, written before they were made, has them too
    [allure] = (project.path / "reports" / "allure-results").glob("*-result.json")
    steps = json.loads(allure.read_text())["steps"]
    [eskf] = [s for s in steps if s["name"].startswith("eskf: ")]
    assert [a["name"] for a in eskf["attachments"] if a["type"] == "image/png"] == ["eskf"]
    (ck,) = manifest["checkpoints"]
    assert ck["included"] and len(ck["sha256"]) == 64
    assert manifest["provenance"]["checkpoint_sha256"] == ck["sha256"]
    assert manifest["clip"]["clip_hash"] and manifest["clip"]["ref"]["synth"]["seed"] == 7
    assert manifest["verdict"]["gate"] == "pass" and manifest["decision"]["outcome"] == "failed"
    assert (
        "--runner" in manifest["command"]["pytest"] and "harness.run" in manifest["command"]["run"]
    )
    assert not list(bundle.parent.glob(".*part*"))
    # the original inputs are gone; replay from elsewhere with a cold cache
    shutil.rmtree(project.path / "models")
    shutil.rmtree(project.path / "configs")
    elsewhere = tmp_path / "desk"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["replay", str(bundle), "--workdir", str(elsewhere / "w")]) == 0
    out = capsys.readouterr().out
    assert "\nreproduced\n" in out and "replayed: pass (pass)" in out
    assert "clip_hash" not in out and "checkpoint_sha256" not in out  # same inputs


def test_left_out_checkpoint_is_named_and_a_different_one_is_a_difference(
    project: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    ck = project.path / "models" / "bad.pt"
    ck.parent.mkdir()
    torch.save({"head.weight": torch.zeros(300_000)}, ck)  # 1.2 MB, not the NetVLAD layout
    overrides = "{c10_provisioning.backbones.0.weights_path: models/bad.pt}"
    project.makefile(".scenario.yaml", layout=scenario_text("layout", "pass", overrides=overrides))
    monkeypatch.setenv("HARNESS_RUN_ID", "run-2")
    result = project.runpytest(
        "-p", "no:cacheprovider", "--runner", "inprocess", "--bundle-max-mb", "0.5"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*left out: checkpoint models/bad.pt (1.* MiB): over the*"])
    (bundle,) = _bundles(project)
    ck.unlink()
    desk = tmp_path / "desk"
    desk.mkdir()
    monkeypatch.chdir(desk)
    capsys.readouterr()
    assert main(["replay", str(bundle), "--workdir", str(desk / "a")]) == 2
    err = capsys.readouterr().err
    assert "checkpoint models/bad.pt" in err and "--bundle-include checkpoint" in err
    other = tmp_path / "other"
    (other / "models").mkdir(parents=True)
    (other / "models" / "bad.pt").write_bytes(b"not a checkpoint at all")
    assert main(["replay", str(bundle), "--workdir", str(desk / "b"), "--root", str(other)]) == 1
    out = capsys.readouterr().out
    assert "not reproduced:" in out and "  reason: " in out, out
    assert "note: checkpoint models/bad.pt: found" in out
    # without --workdir: a temporary folder, removed at exit (also when it cannot replay)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    assert main(["replay", str(bundle), "--root", str(other)]) == 1
    assert main(["replay", str(bundle)]) == 2
    assert "removed at exit" in capsys.readouterr().out and not list(scratch.iterdir())
    assert main(["replay", str(bundle), "--root", str(other), "--keep"]) == 1
    [kept] = scratch.glob("harness-replay-*")
    assert (kept / "replay" / "record.jsonl").is_file()
    assert f"unpacked: {kept}" in capsys.readouterr().out
    assert "note: provenance checkpoint_sha256" not in out or "->" in out


def test_replay_refuses_what_is_not_a_bundle(tmp_path: Path, capsys) -> None:
    assert main(["replay", str(tmp_path / "nope.tar.gz")]) == 2
    assert "no such bundle" in capsys.readouterr().err
    junk = tmp_path / "junk.tar.gz"
    junk.write_text("not an archive")
    assert main(["replay", str(junk)]) == 2
    assert "not a readable failure bundle" in capsys.readouterr().err


def test_an_interrupted_write_leaves_no_archive(tmp_path: Path, monkeypatch) -> None:
    scenario = tmp_path / "s.scenario.yaml"
    scenario.write_text("name: s\n")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "record.jsonl").write_text("{}\n" * 1000)
    facts = _facts(scenario, tmp_path, gate="infra-error", outcome="error", decision="broken")

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tarfile.TarFile, "add", boom)
    with pytest.raises(BundleError, match="cannot write the failure bundle"):
        write_bundle(facts, None, tmp_path / "failures")
    assert list((tmp_path / "failures").iterdir()) == []
    monkeypatch.undo()
    written = write_bundle(facts, None, tmp_path / "failures")
    assert [p.name for p in (tmp_path / "failures").iterdir()] == ["s--r.tar.gz"]
    assert written.size == written.path.stat().st_size


def test_a_clip_bundle_goes_in_whole_when_it_fits_and_is_named_when_not(tmp_path: Path) -> None:
    from harness.record import Record

    clip = tmp_path / "clips" / "flight"
    clip.mkdir(parents=True)
    (clip / "manifest.json").write_text("{}")
    (clip / "video.mp4").write_bytes(b"\0" * 300_000)
    scenario = tmp_path / "s.scenario.yaml"
    scenario.write_text("name: s\n")
    resolved = {"clip": {"bundle": "clips/flight"}, "segment": {"start_s": 5, "duration_s": 10}}
    record = Record(tmp_path / "r.jsonl", {"scenario": resolved, "provenance": {}}, [], None)
    facts = _facts(scenario, tmp_path, gate="no-data", outcome="no-data", decision="failed")
    whole = write_bundle(facts, record, tmp_path / "a")
    assert ("project/clips/flight/video.mp4", 300_000) in whole.members
    small = write_bundle(facts, record, tmp_path / "b", max_mb=0.1)
    assert not any(name.startswith("project/clips") for name, _ in small.members)
    assert small.left_out == [
        "clip bundle clips/flight (whole, segment {'start_s': 5, "
        "'duration_s': 10}) (0.29 MiB): over the 0.10 MiB bound"
    ]
    asked = write_bundle(facts, record, tmp_path / "c", max_mb=0.1, include={"clip"})
    assert ("project/clips/flight/video.mp4", 300_000) in asked.members


def test_a_config_outside_the_project_travels_and_the_copy_points_at_it(tmp_path: Path) -> None:
    root, outside = tmp_path / "project", tmp_path / "ops"
    root.mkdir(), outside.mkdir()
    config = outside / "op.yaml"
    config.write_text("c10_provisioning: {backbones: []}\n")
    scenario = root / "s.scenario.yaml"
    scenario.write_text(f"name: s  # kept\nconfig: {config}\nexpect: pass\n")
    facts = _facts(
        scenario, root, config=config, gate="empty-backbones", outcome="skip", decision="failed"
    )
    written = write_bundle(facts, None, tmp_path / "out")
    with tarfile.open(written.path) as tar:
        text = tar.extractfile("project/s.scenario.yaml").read().decode()
        assert tar.extractfile("project/external/op.yaml").read() == config.read_bytes()
    assert "config: external/op.yaml" in text and "# kept" in text


def test_a_process_stack_travels_in_its_bundle_and_replays_elsewhere(tmp_path: Path) -> None:
    """The stack's program folder and its stderr go in the bundle; copied to another folder
    with the project gone, the replay runs the carried program and reproduces the verdict."""
    from harness.gates import conclude
    from harness.process.settings import ProcessSettings
    from harness.record import read_record
    from harness.run.driver import run

    repo = Path(__file__).resolve().parents[2]
    if shutil.which("bwrap") is None or shutil.which("cc") is None:
        pytest.skip("needs bubblewrap and a C compiler")
    subprocess.run(["make", "-s", "-C", str(repo / "examples" / "ring-stack")], check=True)
    root = tmp_path / "project"
    stack = root / "stacks" / "ring"
    stack.mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    shutil.copy(repo / "examples" / "ring-stack" / "build" / "ring-stack", stack / "ring-stack")
    (stack / "run").write_text('#!/bin/sh\nexec "$(dirname "$0")/ring-stack" "$@"\n')
    (stack / "run").chmod(0o755)
    scenario = root / "s.scenario.yaml"
    scenario.write_text(
        "format_version: 2\nname: s\n"
        "clip: {synth: {preset: derkachi-10s, seed: 7, overrides: {frame_px: 240}}}\n"
        "pipeline: process\nprocess: {command: [stacks/ring/run, --agl-m, '300', --fault, "
        "crash@20], speed: 20, rate_hz: 2}\nexpect: pass\n"
    )
    out = root / "run"
    record = read_record(run(scenario, out, root=root, cache_dir=repo / ".cache"))
    facts = _facts(scenario, root, gate="infra-error", outcome="error", decision="failed")
    verdict = conclude(out / "record.jsonl")
    assert verdict.gate == "infra-error" and "injected crash" in verdict.reason
    facts = dataclasses.replace(
        facts,
        stack_files=ProcessSettings(stack / "run").files(),
        verdict={"gate": verdict.gate, "outcome": verdict.outcome, "reason": verdict.reason},
    )
    written = write_bundle(facts, record, tmp_path / "bundles")
    names = {name for name, _ in written.members}
    carried = {"project/stacks/ring/run", "project/stacks/ring/ring-stack", "run/stack.stderr"}
    assert carried <= names
    # Another machine: the bundle copied to a folder outside any checkout, the project gone,
    # no clip cache, `harness replay` a process of its own started there.
    with tempfile.TemporaryDirectory(prefix="desk-") as desk:
        elsewhere = Path(desk)
        copy = shutil.copy(written.path, elsewhere / written.path.name)
        shutil.rmtree(root)
        harness = Path(sys.executable).with_name("harness")
        done = subprocess.run([harness, "replay", copy, "--workdir", "w"], cwd=elsewhere,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        log = elsewhere / "w" / "replay" / "stderr.log"
        assert done.returncode == 0 and "\nreproduced\n" in done.stdout, (
            done.stdout + done.stderr + (log.read_text() if log.exists() else "")
        )


def test_a_replay_with_another_image_or_program_says_so() -> None:
    """The stack's artifacts (an `image:` stack's reference and id, a program's sha256) are
    compared: the same verdict from another image is reproduced, with a note naming both."""
    from harness.gates import Verdict
    from harness.rerun.replay import compare

    def prov(image_id: str) -> dict:
        ran = {"kind": "image", "name": "stack", "path": "ring:dev", "sha256": image_id}
        return {"artifacts": [ran]}

    manifest = {
        "verdict": {"gate": "infra-error", "outcome": "error", "reason": "crash"},
        "provenance": prov("sha256:aaa"),
    }
    same = compare(
        manifest, Verdict("infra-error", "error", "crash"), prov("sha256:aaa"), Path("/p")
    )
    assert same.reproduced and not [n for n in same.notes if n.startswith("artifact")]
    other = compare(
        manifest, Verdict("infra-error", "error", "crash"), prov("sha256:bbb"), Path("/p")
    )
    assert other.reproduced
    assert "artifact image stack: ring:dev sha256:aaa -> ring:dev sha256:bbb" in other.notes
