"""Two xdist workers on a cold project: the same verdicts as one process, no temp file left,
the ledger whole (the builds both workers start meet in harness.atomic's locks)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.atomic import TEMP_MARK
from harness.history.ledger import Ledger

REPO = Path(__file__).resolve().parents[2]
# Cheap ones that still make checkpoints (tiny, wrong layout, pickled) and one 60 s clip.
PICKED = [
    "provisioning/empty-backbones", "provisioning/sha256-mismatch", "provisioning/pickled-code",
    "provisioning/wrong-layout", "eskf/oracle-healthy", "eskf/nan-fix",
]  # fmt: skip

pytestmark = pytest.mark.slow


def _project(root: Path) -> Path:
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    shutil.copytree(REPO / "configs", root / "configs")
    (root / "scenarios").mkdir()
    shutil.copy(REPO / "scenarios" / "conftest.py", root / "scenarios" / "conftest.py")
    for name in PICKED:
        target = root / "scenarios" / f"{name}.scenario.yaml"
        target.parent.mkdir(exist_ok=True)
        shutil.copy(REPO / "scenarios" / f"{name}.scenario.yaml", target)
    return root


def _session(root: Path, run: str, *args: str) -> dict[str, tuple[str, str]]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "scenarios", "-p", "no:cacheprovider", "-q",
         "--harness-runs", str(root / "runs"), "--gate-ledger", str(root / "ledger.sqlite"),
         "--alluredir", str(root / "allure"), *args],
        cwd=root, capture_output=True, text=True, timeout=1800,
        env={**_env(), "HARNESS_RUN_ID": run},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = (root / "runs" / run / "verdicts.jsonl").read_text().splitlines()
    verdicts = {(v := json.loads(line))["name"]: (v["gate"], v["outcome"]) for line in lines}
    assert len(verdicts) == len(PICKED), verdicts
    return verdicts


def _env() -> dict[str, str]:
    import os

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _cold(root: Path) -> None:
    shutil.rmtree(root / "models", ignore_errors=True)
    shutil.rmtree(root / ".cache", ignore_errors=True)


def _temp_files(root: Path) -> list[str]:
    return [
        str(p.relative_to(root))
        for folder in (root / "models", root / ".cache")
        for p in folder.rglob("*")
        if TEMP_MARK in p.name or p.name.endswith((".part", ".tmp"))
    ]


def test_cold_n2_twice_matches_n0(tmp_path: Path) -> None:
    pytest.importorskip("xdist")
    root = _project(tmp_path)
    first = _session(root, "cold-n2-a", "-n", "2")
    assert _temp_files(root) == []
    _cold(root)
    second = _session(root, "cold-n2-b", "-n", "2")
    assert _temp_files(root) == []
    _cold(root)
    alone = _session(root, "cold-n0", "-n", "0")
    assert first == second == alone
    assert alone["sha256-mismatch"][0] == "provisioning"  # the checkpoints were really made
    assert alone["oracle-healthy"] == ("pass", "pass")  # and the clip
    ledger = Ledger(root / "ledger.sqlite")
    assert ledger.check() == "ok"
    assert {r: len(ledger.rows(run_id=r)) for r in ledger.runs()} == {
        "cold-n2-a": len(PICKED), "cold-n2-b": len(PICKED), "cold-n0": len(PICKED),
    }  # fmt: skip
