"""A throughput sweep end to end on the 10 s stand-in: the driver replays the clip at each rate
on a paced clock without provisioning again, a stack that needs 20 ms a frame holds a 200 ms
query period and falls behind a 4 ms one, and the latency-budget gate says so (margins wide
enough for a host shared with other work)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from harness.gates.latency import check as latency_check
from harness.record import read_record
from harness.run.driver import run

REPO = Path(__file__).resolve().parents[2]

# An in-process stack that answers each query frame after 20 ms of work (a sleep: the verdict
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
                time.sleep(0.02)
                ctx.emit("vpr", "query", frame=r.index, t_s=r.t_s, topk=[], latency_ms=20.0)
                if r.index % 5:  # every fifth fix is never written
                    ctx.emit("eskf", "fix", frame=r.index, t_s=r.t_s, z_ne_m=[0, 0], sigma_m=1)
        return []

    def navigate(self, ctx, fixes):
        ctx.emit("eskf", "provisioned", times=len(PROVISIONED))


class Unasked(SlowStack):
    def query_rate_hz(self, scenario):
        return None


class Unpaced(SlowStack):
    def fixes(self, ctx, engines):  # reads the clip itself, never through the clock
        for i in query_frames(ctx.clip.frames.t_s, 5.0):
            ctx.emit("vpr", "query", frame=i, t_s=float(ctx.clip.frames.t_s[i]), topk=[])
        return []
"""


def _scenario(root: Path, stack: str, speeds: str = "[1, 50]") -> Path:
    (root / "pyproject.toml").write_text("")
    (root / "slow_stack.py").write_text(SLOW_STACK)
    scenario = root / "sweep.scenario.yaml"
    scenario.write_text(
        textwrap.dedent(
            f"""\
            format_version: 2
            name: slow-sweep
            pipeline: slow_stack:{stack}
            clip: {{synth: {{preset: derkachi-10s, seed: 7}}}}
            sweep: {{speed: {speeds}, min_answers: 20, max_miss_fraction: 0.1, min_speed: 50}}
            expect: pass
            """
        )
    )
    return scenario


def test_a_sweep_finds_the_rate_a_slow_stack_sustains(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, "SlowStack")
    out = tmp_path / "out"
    record = read_record(run(scenario, out, root=tmp_path, cache_dir=REPO / ".cache"))
    # provisioned once: the replays reuse it (and the run's events are the run's only)
    assert [ev["times"] for ev in record.select("eskf", "provisioned")] == [1]
    assert len(list(record.select("vpr", "query"))) == 50
    steps = list(record.select("sweep", "step"))
    assert [s["speed"] for s in steps] == [1, 50] and all(s["error"] is None for s in steps)
    assert all(len(s["stages"]["vpr"]) == 50 for s in steps)  # the 50 frames of 5 Hz
    assert (out / "sweep" / "x1").is_dir()

    result = latency_check(record)
    sweep = result.metrics["sweep"]
    assert sweep["vpr"]["sustained_speed"] == 1, str(sweep["vpr"]["steps"])  # 20 ms < 200 ms
    assert sweep["vpr"]["sustained_query_hz"] == 5
    fast = sweep["vpr"]["steps"][1]  # 4 ms period: the backlog makes answers late
    assert fast["status"] == "fails" and fast["late"] > 40
    assert fast["p95_ms"] > fast["p50_ms"] > 20
    # a fifth of the fixes never came: the stage fails at every rate, sustaining nothing
    assert sweep["fix"]["sustained_speed"] == 0
    assert sweep["fix"]["steps"][0]["never"] == 10
    assert result.outcome == "fail"
    assert "vpr: sustained 1x < min_speed 50x" in result.reason
    assert "fix: sustained 0x < min_speed 50x" in result.reason


def test_a_sweep_of_a_stack_that_makes_no_queries_is_a_config_error(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, "Unasked")
    record = read_record(run(scenario, tmp_path / "out", root=tmp_path, cache_dir=REPO / ".cache"))
    errors = list(record.select("setup", "error"))
    assert [e["category"] for e in errors] == ["config-error"]
    assert "sweep: the sweep counts the answers" in errors[0]["message"]
    assert not list(record.select("sweep", "step"))


def test_a_stack_that_reads_around_the_clock_is_no_data(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, "Unpaced")
    record = read_record(run(scenario, tmp_path / "out", root=tmp_path, cache_dir=REPO / ".cache"))
    assert all(s["stages"]["vpr"] is None for s in record.select("sweep", "step"))
    result = latency_check(record)
    assert result.outcome == "no-data"
    assert "vpr: no rate had evidence (at 1x: the stack read nothing through" in result.reason


def test_a_sweep_stops_once_no_judged_stage_holds(tmp_path: Path) -> None:
    # fix fails at 1x (a fifth never written), vpr at 50x: no higher rate can change either
    scenario = _scenario(tmp_path, "SlowStack", "[1, 50, 100, 200]")
    out = tmp_path / "out"
    record = read_record(run(scenario, out, root=tmp_path, cache_dir=REPO / ".cache"))
    assert [s["speed"] for s in record.select("sweep", "step")] == [1, 50]
    (skipped,) = record.select("sweep", "skipped")
    assert skipped["speeds"] == [100, 200]
    assert "vpr at 50x" in skipped["why"] and "fix at 1x" in skipped["why"]
    assert not (out / "sweep" / "x100").exists()
    result = latency_check(record)
    assert result.metrics["sweep"]["vpr"]["sustained_speed"] == 1
    assert result.metrics["sweep"]["vpr"]["not_replayed"] == [100, 200]
    assert result.metrics["sweep"]["fix"]["not_replayed"] == [100, 200]
    assert result.outcome == "fail" and "not replayed: 100x, 200x" in result.reason
