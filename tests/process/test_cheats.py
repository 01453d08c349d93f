"""The battery of cheating stacks: each is a small black-box stack (a script in cheats/, most
of them the honest example behind a rewriting wrapper) run through `pipeline: process` on the
60 s stand-in. None may PASS, and its verdict must say why. Add a cheat: a script in cheats/
and a `Cheat` row below (its argv after the script, the verdict it must get)."""

from __future__ import annotations

import json
import re
import shutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.gates import Verdict, conclude
from harness.run.driver import run

REPO = Path(__file__).resolve().parents[2]
CHEATS = Path(__file__).resolve().parent / "cheats"
RING_DIR = REPO / "examples" / "ring-stack"
RING = [str(RING_DIR / "run"), "--agl-m", "300", "--rate-hz", "1"]
RING += ["--sigma-m", "25"]

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler for ring-stack")


@dataclass(frozen=True)
class Cheat:
    script: str  # in cheats/
    gate: str  # the verdict's gate (never "pass")
    reason: str  # a regular expression the verdict's reason must match
    args: tuple[str, ...] = tuple(RING)  # what the script runs with (the honest stack's argv)


BATTERY = [
    Cheat(
        "easy_frames.py",
        "retrieval-quality",
        r"recall@5 \(footprint\) 0\.\d+ < 0\.60 \(recall@1 0\.\d+\) "
        r"over 60 queries \(30 unanswered\)",
    ),
    Cheat("nan_descriptors.py", "vpr-contract", r"frame 0: non-finite values"),
    Cheat(
        "early_states.py",
        "vpr-contract",
        r"causality broken: stack output line \d+: state stamped t=\S+ s, before its frame",
    ),
    Cheat(
        "perfect_claim.py",
        "infra-error",
        r"query\.descriptor\.data: Field required.*a query hands over its descriptor",
    ),
]


# Cheats that reach for what a stack in flight does not have. Each answers with its look-in
# folder first ("{cache}": the project's clip cache, "{earlier}": an earlier run's folder).
OFF = r"D1 from t=\S+ s: NEES > 13\.82 and error > 50 m"  # its own positions, 80 m off
REACH = [
    Cheat("truth_on_disk.py", "eskf-divergence", OFF, ("{cache}", *RING)),
    Cheat("earlier_record.py", "eskf-divergence", OFF, ("{earlier}", *RING)),
    Cheat(
        "read_ahead.py",
        "infra-error",
        r"read-ahead: 0 of 600 frames readable before ready; a batch stack cannot run",
    ),
    Cheat(
        "early_exit.py",
        "infra-error",
        r"the stack exited with status 0 before the end of the clip \(\d+ of 600 frames released\)",
    ),
]


def judge(tmp_path: Path, script: str, args: tuple[str, ...]) -> Verdict:
    """The verdict of `script` run as the stack of the product scenario's twin."""
    command = json.dumps([sys.executable, str(CHEATS / script), *args])
    mounts = json.dumps([*sorted({sys.prefix, sys.base_prefix}), str(CHEATS), str(RING_DIR)])
    text = f"""\
        format_version: 2
        name: cheat
        clip:
          synth: {{preset: derkachi-60s, seed: 7}}
        pipeline: process
        process: {{command: {command}, mounts: {mounts}, speed: 60}}
        gates:
          vpr_contract: {{descriptor_dim: 24}}
          retrieval_quality: {{recall_at: 5, hit_rule: footprint, min_recall: 0.6, min_queries: 30}}
          eskf_divergence: {{sigma_vpr_m: 25, warmup_s: 20}}
          latency_budget: {{p95_ms: 250}}
        timeout_s: 300
        expect: pass
        """
    path = tmp_path / "cheat.scenario.yaml"
    path.write_text(textwrap.dedent(text))
    return conclude(run(path, tmp_path / "out", root=REPO))


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Verdict]:
    """The control, run once: the honest stack behind the same wrapper, its folder and verdict."""
    tmp = tmp_path_factory.mktemp("earlier")
    return tmp, judge(tmp, "honest.py", tuple(RING))


def test_the_honest_stack_behind_the_wrapper_passes(honest: tuple[Path, Verdict]) -> None:
    _, verdict = honest
    assert verdict.gate == "pass", verdict.reason


@pytest.mark.parametrize("cheat", BATTERY, ids=lambda c: c.script.removesuffix(".py"))
def test_a_cheating_stack_does_not_pass(tmp_path: Path, cheat: Cheat) -> None:
    verdict = judge(tmp_path, cheat.script, cheat.args)
    assert verdict.gate != "pass"
    assert verdict.gate == cheat.gate, (verdict.gate, verdict.outcome, verdict.reason)
    assert re.search(cheat.reason, verdict.reason), verdict.reason


@pytest.fixture(scope="module")
def earlier(honest: tuple[Path, Verdict]) -> Path:
    """The folder of an earlier, honest run of the same clip: its record holds the truth."""
    folder, verdict = honest
    assert verdict.gate == "pass", verdict.reason
    return folder


@pytest.mark.parametrize("cheat", REACH, ids=lambda c: c.script.removesuffix(".py"))
def test_a_stack_cannot_reach_what_it_would_not_have_in_flight(
    tmp_path: Path, cheat: Cheat, earlier: Path
) -> None:
    where = {"{cache}": str(REPO / ".cache"), "{earlier}": str(earlier)}
    verdict = judge(tmp_path, cheat.script, tuple(where.get(a, a) for a in cheat.args))
    assert verdict.gate == cheat.gate, (verdict.gate, verdict.outcome, verdict.reason)
    assert re.search(cheat.reason, verdict.reason), verdict.reason
    if cheat.script in ("truth_on_disk.py", "earlier_record.py"):  # it looked and found none
        assert "cheat: answers not found" in (tmp_path / "out" / "stack.stderr").read_text()
