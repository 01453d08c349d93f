"""The wall around a `command:` stack: what it can and cannot see (docs/adapters.md, section
"What a stack sees"). A probe stack reports each path it can reach as a `check` line."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from harness.errors import StackError
from harness.gates import conclude
from harness.process import sandbox
from harness.record import read_record
from harness.run.driver import run

REPO = Path(__file__).resolve().parents[2]
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="no bubblewrap")

PROBE = """\
#!/bin/sh
# Reports what it can reach: one check line per path (ok = it is NOT there).
for p in "$@"; do
    if [ -e "$p" ]; then ok=false; else ok=true; fi
    printf '{"type": "check", "check": "hidden %s", "ok": %s, "detail": ""}\\n' "$p" "$ok"
done
nets=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')
printf '{"type": "check", "check": "network", "ok": true, "detail": "%s"}\\n' "$nets"
printf '{"type": "check", "check": "where", "ok": true, "detail": "%s %s %s"}\\n' \\
    "$(pwd)" "$HARNESS_STACK_INPUT" "$(ls "$HARNESS_STACK_INPUT" | tr '\\n' ' ')"
[ -w "$(dirname "$0")" ] && w=false || w=true
printf '{"type": "check", "check": "program folder read-only", "ok": %s, "detail": ""}\\n' "$w"
echo '{"type": "ready"}'
cat >/dev/null
"""


def _scenario(tmp_path: Path, program: Path | str, *args: str) -> Path:
    command = json.dumps([str(program), *args])
    path = tmp_path / "probe.scenario.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            format_version: 2
            name: probe
            clip:
              synth: {{preset: derkachi-10s, seed: 7, overrides: {{frame_px: 240}}}}
            pipeline: process
            process: {{command: {command}, speed: 50}}
            expect: pass
            """
        )
    )
    return path


@needs_bwrap
def test_a_command_stack_sees_its_input_and_program_only(tmp_path: Path) -> None:
    stack = tmp_path / "stack"
    stack.mkdir()
    probe = stack / "probe"
    probe.write_text(PROBE)
    probe.chmod(0o755)
    truth = sorted((REPO / ".cache" / "synth").glob("*/truth.npy"))
    secrets = [REPO, REPO / ".cache", REPO / "reports", tmp_path / "out", Path.home(), *truth[:1]]
    out = tmp_path / "out"
    record = read_record(run(_scenario(tmp_path, probe, *map(str, secrets)), out, root=REPO))
    checks = {c["check"]: c for c in record.select("provisioning", "check")}
    for secret in secrets:
        assert checks[f"hidden {secret}"]["ok"], f"the stack can see {secret}"
    assert checks["network"]["detail"].split() == ["lo"]  # its own namespace: no interface
    cwd, seen, *listing = checks["where"]["detail"].split()
    assert (cwd, seen) == ("/tmp", "/input") and "input.json" in listing
    assert "truth.npy" not in listing
    assert checks["program folder read-only"]["ok"]


@needs_bwrap
def test_a_program_in_the_project_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    probe = tmp_path / "probe"
    probe.write_text(PROBE)
    probe.chmod(0o755)
    scenario = _scenario(tmp_path, "./probe")
    verdict = conclude(run(scenario, tmp_path / "out", root=tmp_path, cache_dir=REPO / ".cache"))
    assert verdict.gate == "config-error", verdict.reason
    assert "put the stack in a folder of its own" in verdict.reason


def test_without_bubblewrap_the_run_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    sandbox.check.cache_clear()  # an earlier test's success
    with pytest.raises(StackError, match=r"apt-get install bubblewrap"):
        sandbox.check()  # a failed check is not cached: the next run looks again
