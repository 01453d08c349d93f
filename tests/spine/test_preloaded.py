"""The local runner's preloaded run process: reused across scenarios, each run in its own child;
a crash or a timeout costs one scenario (infra-error), nothing one run changes reaches the
next, and a dead preloaded process is started again. What installed stacks ask to preload is
loaded before the fork. An oracle run never imports torch."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.record import read_record
from harness.runners.local import SubprocessRunner
from tests.helpers import scenario_text

REPO = Path(__file__).resolve().parents[2]

STACKS = '''
import os, signal, sys, time

SEEN = "pristine"  # a module global a run changes


class Base:
    def provision(self, ctx):
        return []

    def fixes(self, ctx, engines):
        return []

    def navigate(self, ctx, fixes):
        pass


class Whoami(Base):
    """Records what it found, then changes everything it can for the next run to see."""

    def provision(self, ctx):
        global SEEN
        ctx.emit("test", "whoami", pid=os.getpid(), ppid=os.getppid(), pgid=os.getpgid(0),
                 env=os.environ.get("LEAKED"), seen=SEEN, cwd=os.getcwd(),
                 fds=sorted(int(f) for f in os.listdir("/proc/self/fd")),
                 sigpipe=str(signal.getsignal(signal.SIGPIPE)),
                 compiled="harness.reference.eskf.propagation" in sys.modules)
        SEEN = "changed by a run"
        os.environ["LEAKED"] = "yes"
        os.chdir("/")
        open(os.devnull)  # left open
        return []


class Crashes(Base):
    def provision(self, ctx):
        os.kill(os.getpid(), signal.SIGSEGV)


class Hangs(Base):
    def provision(self, ctx):
        time.sleep(120)
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "configs").mkdir()
    config = (REPO / "configs" / "operator_replay.yaml").read_text()
    (tmp_path / "configs" / "operator_replay.yaml").write_text(config)
    (tmp_path / "stacks.py").write_text(textwrap.dedent(STACKS))
    for name in ("Whoami", "Crashes", "Hangs"):
        text = scenario_text(name.lower(), "pass", pipeline=f"stacks:{name}")
        path = tmp_path / f"{name.lower()}.scenario.yaml"
        path.write_text(text.replace("derkachi-60s", "derkachi-10s"))
    return tmp_path


@pytest.fixture
def runner(project: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("HARNESS_PRELOAD", raising=False)
    made = SubprocessRunner(project, REPO / ".cache")
    yield made
    if made.zygote is not None:
        made.zygote.close()


def _run(runner: SubprocessRunner, name: str, out: str, timeout_s: float = 120):
    result = runner.run(runner.root / f"{name}.scenario.yaml", runner.root / out, timeout_s)
    return result, result.verdict()


def _whoami(runner: SubprocessRunner, out: str) -> dict:
    result, _ = _run(runner, "whoami", out)
    assert result.infra_error is None, (result.infra_error, result.stderr_tail)
    (event,) = read_record(result.record_path).select("test", "whoami")
    return event


def test_one_preloaded_process_forks_each_run(runner: SubprocessRunner) -> None:
    first, second = _whoami(runner, "a"), _whoami(runner, "b")
    zygote = runner.zygote.proc.pid
    assert first["ppid"] == second["ppid"] == zygote
    assert first["pid"] != second["pid"] and zygote not in (first["pid"], second["pid"])
    assert first["pgid"] == first["pid"]  # its own process group: killed whole on timeout
    # the `harness.preload` entry points ran before the fork: the filter's loop is loaded
    assert first["compiled"] and second["compiled"]


def test_nothing_one_run_changes_reaches_the_next(runner: SubprocessRunner) -> None:
    first, second = _whoami(runner, "a"), _whoami(runner, "b")
    for seen in (first, second):
        assert seen["env"] is None and seen["seen"] == "pristine"
        assert seen["cwd"] == str(runner.root)
    assert second["fds"] == first["fds"]  # the file the first run left open went with it


def test_a_run_ignores_sigpipe_as_a_fresh_process(
    runner: SubprocessRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGPIPE ignored as Python starts: a stack that went away is a BrokenPipeError the
    adapter reports, never a signal that kills the run before its end line."""
    preloaded = _whoami(runner, "a")["sigpipe"]
    monkeypatch.setenv("HARNESS_PRELOAD", "0")
    fresh = _whoami(SubprocessRunner(runner.root, REPO / ".cache"), "b")["sigpipe"]
    assert preloaded == fresh == str(signal.SIG_IGN.value)


def test_a_run_sees_the_environment_of_its_caller(
    runner: SubprocessRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    _whoami(runner, "a")  # the preloaded process is up before the variable is set
    monkeypatch.setenv("LEAKED", "set by the caller")
    assert _whoami(runner, "b")["env"] == "set by the caller"


def test_a_crash_is_one_infra_error_and_the_next_run_passes(runner: SubprocessRunner) -> None:
    before = _whoami(runner, "a")
    _, verdict = _run(runner, "crashes", "crash")
    assert verdict.gate == "infra-error"
    assert "killed by SIGSEGV" in verdict.reason
    after = _whoami(runner, "b")
    assert after["ppid"] == before["ppid"]  # the same preloaded process forked it


def test_a_timeout_is_one_infra_error_and_the_next_run_passes(runner: SubprocessRunner) -> None:
    before = _whoami(runner, "a")
    _, verdict = _run(runner, "hangs", "hang", timeout_s=3)
    assert verdict.gate == "infra-error" and "timed out after 3 s" in verdict.reason
    assert _whoami(runner, "b")["ppid"] == before["ppid"]


def test_a_dead_preloaded_process_is_started_again(runner: SubprocessRunner) -> None:
    before = _whoami(runner, "a")
    os.kill(before["ppid"], signal.SIGKILL)
    runner.zygote.proc.wait()
    after = _whoami(runner, "b")
    assert after["ppid"] not in (before["ppid"], os.getpid())
    assert after["ppid"] == runner.zygote.proc.pid


def test_preloading_can_be_turned_off(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_PRELOAD", "0")
    runner = SubprocessRunner(project, REPO / ".cache")
    assert runner.zygote is None
    fresh = _whoami(runner, "a")
    assert fresh["ppid"] == os.getpid()  # a fresh process, started here
    assert not fresh["compiled"]  # that loads only what its stack imports


ORACLE_IMPORTS = """
import json, sys
from pathlib import Path
from harness.run.driver import run
run(Path(sys.argv[1]), Path(sys.argv[2]), root=Path(sys.argv[3]))
print(json.dumps(sorted(m for m in ("torch", "matplotlib") if m in sys.modules)))
"""


def _scenario_checkpoint(name: str) -> None:
    """Make a product scenario's checkpoint as scenarios/conftest.py does, where no session
    of `pytest scenarios/` has made it yet (this test may run first on a fresh clone)."""
    spec = importlib.util.spec_from_file_location(
        "scenario_inputs", REPO / "scenarios" / "conftest.py"
    )
    inputs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(inputs)
    path = inputs.MODELS / name
    if not path.exists():
        inputs.BUILDERS[path](path)


def test_an_oracle_run_never_imports_torch_nor_matplotlib(tmp_path: Path) -> None:
    scenario = REPO / "scenarios" / "eskf" / "oracle-healthy.scenario.yaml"
    _scenario_checkpoint("tiny-netvlad.pt")
    out = subprocess.run(
        [sys.executable, "-c", ORACLE_IMPORTS, str(scenario), str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    assert json.loads(out.stdout.splitlines()[-1]) == []
    record = read_record(tmp_path / "record.jsonl")
    assert [e["type"] for e in record.select("provisioning")][-1] == "not-loaded"
    assert record.provenance["device"] == "cpu"
