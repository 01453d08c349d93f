"""A stack behind a launcher (a shell script, a Python wrapper) misbehaves the way the bare
stack does and is reported the same way: the broken line named, the stack's stderr tail kept,
the record ended, nothing left running; through the preloaded run process (how pytest runs a
scenario), a fresh `python -m harness.run`, the driver in-process and `pytest -n 2` alike."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from harness.gates import conclude
from harness.record import read_record
from harness.run.driver import run
from harness.runners.local import SubprocessRunner

REPO = Path(__file__).resolve().parents[2]
RING = REPO / "examples" / "ring-stack"

needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler for ring-stack")

# Each launcher starts ring-stack (beside it) with the rest of its arguments; its first, N,
# makes it garble one output line in N (0: none).
LAUNCHERS = {
    "bash": """\
        #!/bin/bash
        set -o pipefail
        here=$(dirname "$0")
        every=$1
        shift
        n=0
        "$here/ring-stack" "$@" | while IFS= read -r line; do
            n=$((n + 1))
            if [ "$every" -gt 0 ] && [ $((n % every)) -eq 5 ]; then line=${line:0:20}; fi
            printf '%s\\n' "$line"
        done
        """,
    "python": """\
        #!/usr/bin/env python3
        import os, subprocess, sys
        every = int(sys.argv[1])
        here = os.path.dirname(os.path.abspath(__file__))
        stack = subprocess.Popen([os.path.join(here, "ring-stack"), *sys.argv[2:]],
                                 stdout=subprocess.PIPE)
        for n, line in enumerate(stack.stdout, start=1):
            if every and n % every == 5:
                line = line[:20] + b"\\n"
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()
        sys.exit(stack.wait())
        """,
}
# (launcher's first argument: garble every Nth line, 0 never; ring-stack's fault)
FAULTS = {
    "broken-line": ("10", ()),
    "crash": ("0", ("--fault", "crash@20")),
    "early-exit": ("0", ("--fault", "exit@20")),
}


@pytest.fixture(scope="module")
def built() -> Path:
    subprocess.run(["make", "-s", "-C", str(RING)], check=True)
    return RING / "build" / "ring-stack"


def stack_folder(root: Path, built: Path) -> Path:
    """stack/ under `root`: ring-stack and each launcher beside it."""
    folder = root / "stack"
    folder.mkdir()
    shutil.copy(built, folder / "ring-stack")
    for launcher, text in LAUNCHERS.items():
        program = folder / launcher
        program.write_text(textwrap.dedent(text))
        program.chmod(0o755)
    return folder


def _project(tmp_path: Path, built: Path, launcher: str, fault: str) -> Path:
    (tmp_path / "pyproject.toml").write_text("")
    stack_folder(tmp_path, built)
    return _scenario(tmp_path, launcher, fault, "launched")


def _scenario(root: Path, launcher: str, fault: str, name: str) -> Path:
    every, args = FAULTS[fault]
    command = json.dumps([f"stack/{launcher}", every, "--agl-m", "300", "--rate-hz", "2", *args])
    path = root / f"{name}.scenario.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            format_version: 2
            name: {name}
            clip:
              synth: {{preset: derkachi-10s, seed: 7, overrides: {{frame_px: 240}}}}
            pipeline: process
            process: {{command: {command}, speed: 10, timeout_s: 30}}
            gates:
              vpr_contract: {{descriptor_dim: 24}}
            timeout_s: 120
            expect: pass
            """
        )
    )
    return path


def _driver(scenario: Path, out: Path) -> Path:
    return run(scenario, out, root=scenario.parent, cache_dir=REPO / ".cache")


def _runner(preload: bool):
    def go(scenario: Path, out: Path) -> Path:
        runner = SubprocessRunner(scenario.parent, REPO / ".cache", preload=preload)
        try:
            result = runner.run(scenario, out, 120)
        finally:
            if runner.zygote is not None:
                runner.zygote.close()
        assert result.infra_error is None, (result.infra_error, result.stderr_tail)
        return result.record_path

    return go


HOW = {"preloaded": _runner(True), "fresh-process": _runner(False), "in-process": _driver}


def _left_running(folder: Path) -> list[str]:
    """Command lines of processes started from `folder` (the launcher or its ring-stack) that
    are still there once the run has ended (the kernel ends a PID namespace promptly, not
    at once: a few seconds' grace)."""
    deadline = time.monotonic() + 5
    while True:
        found = [c for c in map(cmdline, os.listdir("/proc")) if str(folder) in c]
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:  # not a process, or gone
        return ""


def assert_reported(gate: str, reason: str, fault: str) -> None:
    """The verdict a launched stack's fault must give: infra-error, located, with its stderr."""
    assert gate == "infra-error", reason
    if fault == "broken-line":
        assert re.match(r"stack output line \d+: not JSON", reason), reason
    elif fault == "crash":
        assert "exit status 3" in reason
        assert "segment table corrupt at frame 20 (injected crash)" in reason
    else:
        assert "exited with status 0 before the end of the clip" in reason
        assert "stopping at frame 20 (injected exit)" in reason


@needs_cc
@pytest.mark.parametrize("how", sorted(HOW))
@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_a_launched_stack_fails_as_the_bare_one(
    tmp_path: Path, built: Path, launcher: str, fault: str, how: str
) -> None:
    record_path = HOW[how](_project(tmp_path, built, launcher, fault), tmp_path / "out")
    record = read_record(record_path)
    assert record.ended, "the run lost its end line"
    verdict = conclude(record_path)
    assert_reported(verdict.gate, verdict.reason, fault)
    assert (tmp_path / "out" / "stack.stderr").exists()
    assert not _left_running(tmp_path / "stack")


@needs_cc
def test_launched_stacks_under_xdist_are_each_reported(
    project: pytest.Pytester, built: Path
) -> None:
    """`pytest -n 2` over every launcher and fault: each scenario is its own located
    infra-error (a failed item, a verdicts.jsonl line, a record with its end line and the
    stack's stderr), and no launcher or stack outlives its run."""
    (project.path / ".cache").symlink_to(REPO / ".cache")  # the synth clip, made once
    stack = stack_folder(project.path, built)
    cases = {f"{launcher}-{fault}": fault for launcher in LAUNCHERS for fault in FAULTS}
    for name in cases:
        launcher, _, fault = name.partition("-")
        _scenario(project.path, launcher, fault, name)
    done = project.runpytest_subprocess(
        "-n", "2", "-p", "no:cacheprovider", "--harness-runs", "runs"
    )
    done.assert_outcomes(failed=len(cases))
    [session] = (project.path / "runs").iterdir()
    lines = (session / "verdicts.jsonl").read_text().splitlines()
    verdicts = {v["name"]: v for v in map(json.loads, lines)}
    assert sorted(verdicts) == sorted(cases)
    for name, fault in cases.items():
        assert_reported(verdicts[name]["gate"], verdicts[name]["reason"], fault)
        assert read_record(session / name / "record.jsonl").ended, name
        assert (session / name / "stack.stderr").stat().st_size > 0, name
    assert not _left_running(stack)
