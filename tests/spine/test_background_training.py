"""A first session trains the default checkpoint in a background process while the scenarios
that need none run; a session that stops before it finishes ends it and leaves no file half
written."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

from harness.atomic import TEMP_MARK

REPO = Path(__file__).resolve().parents[2]


def _project(root: Path) -> Path:
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    shutil.copytree(REPO / "configs", root / "configs")
    scenarios = root / "scenarios"
    (scenarios / "vpr").mkdir(parents=True)
    (scenarios / "provisioning").mkdir()
    shutil.copy(REPO / "scenarios" / "conftest.py", scenarios / "conftest.py")
    shutil.copy(REPO / "scenarios" / "vpr" / "derkachi-trained.scenario.yaml", scenarios / "vpr")
    # A scenario that fails at once (it expects to pass, it stops at provisioning), collected
    # after the trained one and run before it: --maxfail=1 stops the session there.
    missing = (REPO / "scenarios" / "provisioning" / "missing-checkpoint.scenario.yaml").read_text()
    text = missing.replace("expect: provisioning", "expect: pass").split("expect_reason")[0]
    (scenarios / "provisioning" / "missing-checkpoint.scenario.yaml").write_text(text)
    return root


def _ours(root: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(str(root) in part for part in proc.info["cmdline"] or ()):
            found.append(proc)
    return found


def test_a_session_that_stops_early_ends_its_background_training(tmp_path: Path) -> None:
    root = _project(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "scenarios", "-p", "no:cacheprovider", "--maxfail=1",
         "--harness-runs", str(root / "runs"), "--gate-ledger", str(root / "ledger.sqlite"),
         "--alluredir", str(root / "allure")],
        cwd=root, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    assert "[provision train] training the default checkpoint" in out, out[-3000:]
    assert "1 failed" in out and "derkachi-trained" not in out.split("short test summary")[-1]
    assert (root / ".cache" / "training-background.log").exists()
    deadline = time.monotonic() + 10
    while (left := _ours(root)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], [p.info["cmdline"][:3] for p in left]
    trained = root / "models" / "scenarios" / "trained"
    assert not (trained / "recipe.key").exists()  # not made, so not stamped
    half = [p.name for p in root.rglob("*") if TEMP_MARK in p.name]
    assert half == []
