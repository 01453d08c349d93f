"""`harness stack input|check` as a stack's author uses them, and a stack written from
docs/adapters.md alone (tests/process/newcomer/stack.py) run through the harness."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.commands.main import main
from harness.gates import conclude
from harness.run.driver import run

REPO = Path(__file__).resolve().parents[2]
NEWCOMER = Path(__file__).resolve().parent / "newcomer" / "stack.py"
CACHE = REPO / ".cache"
# What the sandbox must show for this interpreter to run it: its environment and base install.
PYTHON_MOUNTS = sorted({sys.prefix, sys.base_prefix})


def scenario(tmp_path: Path, clip: str, **gates: str) -> Path:
    """A process scenario running the newcomer's stack on `clip`, 1 Hz queries."""
    command = json.dumps([sys.executable, str(NEWCOMER), "--agl-m", "300"])
    mounts = json.dumps([*PYTHON_MOUNTS, str(NEWCOMER.parent)])
    lines = "".join(f"\n  {k}: {v}" for k, v in gates.items())
    text = f"""\
format_version: 2
name: newcomer
clip:
  synth: {clip}
pipeline: process
process: {{command: {command}, mounts: {mounts}, speed: 60, rate_hz: 1}}
gates: {{}}{lines}
timeout_s: 300
expect: pass
"""
    if lines:
        text = text.replace("gates: {}", "gates:")
    path = tmp_path / "newcomer.scenario.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(input folder, the newcomer's stdout on it, fed its ticks by hand) for the 10 s clip."""
    tmp = tmp_path_factory.mktemp("stack-input")
    path = scenario(tmp, "{preset: derkachi-10s, seed: 7, overrides: {frame_px: 240}}")
    folder = tmp / "input"
    assert main(["stack", "input", str(path), "-o", str(folder), "--cache-dir", str(CACHE)]) == 0
    with (folder / "ticks.jsonl").open("rb") as ticks:
        out = subprocess.run(
            [sys.executable, str(NEWCOMER), "--agl-m", "300"],
            stdin=ticks,
            capture_output=True,
            env={"HARNESS_STACK_INPUT": str(folder), "PATH": ""},
            check=True,
        ).stdout
    (tmp / "out.jsonl").write_bytes(out)
    return folder, tmp / "out.jsonl"


def test_stack_input_writes_what_the_stack_gets_and_nothing_of_the_truth(written, capsys):
    folder, _ = written
    names = {p.name for p in folder.rglob("*")}
    assert {"input.json", "stack.txt", "frames", "ticks.jsonl"} <= names
    assert "truth.npy" not in names and "ortho.npy" not in names
    frames = sorted((folder / "frames").iterdir())
    ticks = [json.loads(x) for x in (folder / "ticks.jsonl").read_text().splitlines()]
    assert [t["frame"] for t in ticks if t["type"] == "frame"] == list(range(len(frames)))
    assert {t["type"] for t in ticks} == {"imu", "telemetry", "frame"}
    assert (
        main(["stack", "input", str(folder.parent / "newcomer.scenario.yaml"), "-o", str(folder)])
        == 1
    )
    assert "exists; remove it or name another folder" in capsys.readouterr().err


def test_stack_input_refuses_a_scenario_of_another_pipeline(capsys) -> None:
    reference = next((REPO / "scenarios" / "vpr").glob("*.scenario.yaml"))
    assert main(["stack", "input", str(reference), "-o", "unused"]) == 1
    err = capsys.readouterr().err
    assert "`harness stack input` writes the input of a `pipeline: process` stack" in err
    assert not Path("unused").exists()


def test_stack_check_passes_the_newcomers_output(written, capsys) -> None:
    folder, out = written
    assert main(["stack", "check", str(out), "--input", str(folder)]) == 0
    assert capsys.readouterr().out.strip().endswith("0 problem(s)")


def test_stack_check_locates_every_problem_with_its_fix(written, tmp_path, capsys) -> None:
    folder, out = written
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    q = next(i for i, x in enumerate(lines) if x["type"] == "query")
    f = next(i for i, x in enumerate(lines) if x["type"] == "fix")
    s = next(i for i, x in enumerate(lines) if x["type"] == "state")
    values = np.frombuffer(base64.b64decode(lines[q]["descriptor"]["data"]), "<f4")
    lines[q]["descriptor"] |= {
        "dtype": "float64",
        "data": base64.b64encode(values.astype("<f8").tobytes()).decode(),
    }
    lines[q]["topk"][0]["tile"] = "nowhere"
    lines[f]["t_s"] -= 0.5
    del lines[s]["frame"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"type": "state",\n')
    assert main(["stack", "check", str(bad), "--input", str(folder)]) == 1
    got = capsys.readouterr().out.splitlines()
    expected = [
        f"{bad}:{q + 1}: query.descriptor.dtype: float64; the vpr-contract gate takes float32",
        f"{bad}:{q + 1}: query.topk.0.tile: 'nowhere' is not in the input's corpus",
        f"{bad}:{f + 1}: fix.t_s: -0.500 s, before its frame 0 (t=0.000 s): causality broken",
        f"{bad}:{s + 1}: state.frame: Field required; since stack output v2",
        f"{bad}:{len(lines) + 1}: not JSON",
    ]
    for want in expected:
        assert any(line.startswith(want) for line in got), (want, got)
    assert got[-1].endswith(f"{len(lines) + 1} line(s), 5 problem(s)")


def test_a_stack_written_from_the_doc_alone_is_judged_on_its_merits(tmp_path) -> None:
    """It keeps the contract (descriptor, frames, rate, causality) and retrieves well; its
    filter, which holds the last tile centre, misses the error budget, and the gate says so."""
    path = scenario(
        tmp_path,
        "{preset: derkachi-60s, seed: 7}",
        vpr_contract="{descriptor_dim: 64}",
        retrieval_quality="{recall_at: 5, min_recall: 0.6, min_queries: 30}",
        eskf_divergence="{sigma_vpr_m: 60, warmup_s: 20}",
    )
    verdict = conclude(run(path, tmp_path / "out", root=REPO))
    assert (verdict.gate, verdict.outcome) == ("eskf-divergence", "fail"), verdict.reason
    assert verdict.reason.startswith("error budget: RMSE")
    assert verdict.metrics["retrieval-quality"]["unanswered"] == 0
    assert verdict.metrics["vpr-contract"]["broken"] == 0
