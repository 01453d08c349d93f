"""A throughput sweep end to end on the 10 s stand-in: the driver replays the clip at each rate
on a paced clock without provisioning again, a stack that needs 40 ms a frame holds a 100 ms
query period and falls behind a 10 ms one, and the latency-budget gate says so."""

from __future__ import annotations

import textwrap
from pathlib import Path

from harness.gates.latency import check as latency_check
from harness.record import read_record
from harness.run.driver import run

REPO = Path(__file__).resolve().parents[2]

# An in-process stack that answers each query frame after 40 ms of work (a sleep: the verdict
# must not depend on how busy the test host is), reading the clip through the clock.
SLOW_STACK = """
import time

from harness.run.measured import query_frames
from harness.scenario.model import Scenario

PROVISIONED = []


class SlowStack:
    scenario_model = Scenario

    def query_rate_hz(self, scenario):
        return 5.0

    def provision(self, ctx):
        PROVISIONED.append(ctx.out_dir)
        ctx.emit("provisioning", "backbones", count=1, names=["slow"], what="test", source="-")
        return ["engine"]

    def fixes(self, ctx, engines):
        assert engines == ["engine"]
        asked = set(query_frames(ctx.clip.frames.t_s, 5.0))
        for sample in ctx.released(pixels_of=asked):
            r = sample.release
            if r.kind == "frame" and r.index in asked:
                time.sleep(0.04)
                ctx.emit("vpr", "query", frame=r.index, t_s=r.t_s, topk=[], latency_ms=40.0)
                if r.index % 10:  # every tenth fix is never written
                    ctx.emit("eskf", "fix", frame=r.index, t_s=r.t_s, z_ne_m=[0, 0], sigma_m=1)
        return []

    def navigate(self, ctx, fixes):
        ctx.emit("eskf", "provisioned", times=len(PROVISIONED))
"""


def test_a_sweep_finds_the_rate_a_slow_stack_sustains(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "slow_stack.py").write_text(SLOW_STACK)
    scenario = tmp_path / "sweep.scenario.yaml"
    scenario.write_text(
        textwrap.dedent(
            """\
            format_version: 2
            name: slow-sweep
            pipeline: slow_stack:SlowStack
            clip: {synth: {preset: derkachi-10s, seed: 7}}
            sweep: {speed: [2, 20], min_answers: 20, max_miss_fraction: 0.05, min_speed: 20}
            expect: pass
            """
        )
    )
    out = tmp_path / "out"
    record = read_record(run(scenario, out, root=tmp_path, cache_dir=REPO / ".cache"))
    # provisioned once: the replays reuse it (and the run's events are the run's only)
    assert [ev["times"] for ev in record.select("eskf", "provisioned")] == [1]
    assert len(list(record.select("vpr", "query"))) == 50
    steps = list(record.select("sweep", "step"))
    assert [s["speed"] for s in steps] == [2, 20] and all(s["error"] is None for s in steps)
    assert all(len(s["stages"]["vpr"]) == 50 for s in steps)  # the 50 frames of 5 Hz
    assert (out / "sweep" / "x2").is_dir()

    result = latency_check(record)
    sweep = result.metrics["sweep"]
    assert sweep["vpr"]["sustained_speed"] == 2  # 100 ms period: 40 ms answers are in time
    assert sweep["vpr"]["sustained_query_hz"] == 10
    fast = sweep["vpr"]["steps"][1]  # 10 ms period: the backlog makes answers late
    assert fast["status"] == "fails" and fast["late"] > 40
    assert fast["p95_ms"] > fast["p50_ms"] > 40
    # a tenth of the fixes never came: the stage fails at every rate, sustaining nothing
    assert sweep["fix"]["sustained_speed"] == 0
    assert sweep["fix"]["steps"][0]["never"] == 5
    assert result.outcome == "fail"
    assert "vpr: sustained 2x < min_speed 20x" in result.reason
    assert "fix: sustained 0x < min_speed 20x" in result.reason
