"""The throughput sweep's replays: after the run the gates judge, the clip again at each rate of
the scenario's `sweep:`, on a clock that releases it that many times faster than real time.

Provisioning is not repeated: each replay reuses what the stack provisioned, the clip and the
corpus. A replay's events are not the run's (the gates judge the run at the scenario's own
pace): the driver keeps them apart and writes one `sweep/step` event per replay, holding, for each
stage, the latency of the first answer to each frame the query rate asks for (`vpr/expected`),
measured by the harness from the frame's release on the clock to the answer's arrival (null:
never answered). harness.gates.sweep judges them.

The sweep ends at the first rate by which every judged stage has stopped holding: a stage's
sustained rate needs every lower rate to hold, so no higher rate can change it, and each of
those replays would cost the stack's full work at a pace it has already shown it cannot keep.
A `sweep/skipped` event names the rates left out. A process stack's replays share one frame
store (RunContext.frame_store): each frame is decoded once per sweep, not once per rate.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, ScenarioError
from harness.gates.answers import Expected
from harness.gates.sweep import SweepSpec, judge_step
from harness.run.feed import Clock
from harness.run.measured import expected
from harness.run.stage import RunContext

log = logging.getLogger(__name__)
# The answers each stage is judged on: VPR by its queries, the filter by its fixes.
ANSWERS = {"vpr": ("vpr", "query"), "fix": ("eskf", "fix")}


class _Kept:
    """A replay's record: its events in memory, each stamped with when it arrived."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def event(self, stage: str, type: str, **fields: Any) -> None:
        self.events.append({**fields, "stage": stage, "type": type, "arrived": time.monotonic()})


def replay_at(
    ctx: RunContext, pipeline: Any, engines: list[Any], speed: float, store: Path | None = None
) -> tuple[list[dict[str, Any]], Clock, str | None]:
    """Run the stack once more over the clip at `speed`: its events, the clock they were
    released on, and why the replay broke (None: it finished). `store`: the replays' shared
    frame files (RunContext.frame_store)."""
    clock = Clock(len(ctx.clip.frames), speed)
    kept = _Kept()
    out_dir = ctx.out_dir / "sweep" / f"x{speed:g}"  # the stack's files of this replay
    out_dir.mkdir(parents=True, exist_ok=True)
    step = RunContext(ctx.loaded, kept, ctx.cache_dir, out_dir, clock=clock, frame_store=store)
    step.flush_pending()
    step.clip, step.corpus = ctx.clip, ctx.corpus
    object.__setattr__(step, "truth", ctx.truth)  # the oracle's, as in the run
    error = None
    try:
        step.running = "fixes"
        fixes = pipeline.fixes(step, engines)
        step.running = "navigate"
        pipeline.navigate(step, fixes)
    except HarnessError as exc:  # a stop, a crashed stack, a config the replay refused
        error = str(exc)
    except Exception as exc:  # the replay broke; its unanswered frames count as never
        log.exception("sweep replay at x%g broke", speed)
        error = f"{type(exc).__name__}: {exc}"
    if step.refused is not None:
        error = str(step.refused)
    return kept.events, clock, error


def latencies(
    events: list[dict[str, Any]], clock: Clock, asked: Expected, stage: str
) -> list[float | None]:
    """For each asked frame, the time from when it was due on the clock to its first answer of
    `stage`, in ms (None: never answered, or only before the frame went out). From when it was
    due, not when it went out: a clock held back (a host that cannot feed that fast, or a stack
    whose full stdin pipe blocks the release) makes the answers late, never the rate easier."""
    kind = ANSWERS[stage]
    answers = asked.answers([ev for ev in events if (ev["stage"], ev["type"]) == kind])
    out: list[float | None] = []
    for frame, t_s, ev in zip(asked.frames, asked.t_s, answers, strict=True):
        out_at = clock.released[frame]  # an answer before its frame went out is none
        answered = ev is not None and out_at is not None and ev["arrived"] >= out_at
        late_s = ev["arrived"] - clock.due(float(t_s)) if answered else None
        out.append(None if late_s is None else round(late_s * 1e3, 3))
    return out


def release_lag_ms(clock: Clock, asked: Expected) -> float | None:
    """How late the clock released the asked frames, at most (ms after their due time): a
    clock that cannot keep up has not delivered the rate (None: none was released)."""
    lags = [
        clock.released[f] - clock.due(float(t))
        for f, t in zip(asked.frames, asked.t_s, strict=True)
        if clock.released[f] is not None
    ]
    return round(max(lags) * 1e3, 3) if lags else None


def run_sweep(ctx: RunContext, pipeline: Any, engines: list[Any]) -> None:
    """The scenario's sweep, rate by rate, one `sweep/step` event each, up to the rate that
    settles every judged stage."""
    spec: SweepSpec = ctx.scenario.sweep
    rate_of = getattr(pipeline, "query_rate_hz", None)
    rate_hz = rate_of(ctx.scenario) if rate_of is not None else None
    if rate_hz is None:
        raise ScenarioError(
            f"{ctx.loaded.path}: sweep: the sweep counts the answers to the frames the query "
            f"rate asks for, and this scenario's stack ({ctx.scenario.pipeline}) makes no "
            "queries; give it a query rate or remove `sweep:`"
        )
    asked_fields = expected(ctx.clip.frames.t_s, rate_hz)
    asked = Expected(asked_fields["frames"], asked_fields["t_s"])
    (ctx.out_dir / "sweep").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ctx.out_dir / "sweep", prefix=".frames-") as store:
        _replays(ctx, pipeline, engines, spec, rate_hz, asked, Path(store))


def _replays(
    ctx: RunContext,
    pipeline: Any,
    engines: list[Any],
    spec: SweepSpec,
    rate_hz: float,
    asked: Expected,
    store: Path,
) -> None:
    """Replay at each rate, rising, until no judged stage holds any more."""
    speeds = spec.speeds(rate_hz)
    broke: dict[str, float] = {}  # each judged stage's first rate that did not hold
    for n, speed in enumerate(speeds):
        query_hz = rate_hz * speed
        deadline_ms = spec.deadline_ms or 1e3 / query_hz
        started = time.perf_counter()
        events, clock, error = replay_at(ctx, pipeline, engines, speed, store)
        paced = clock.ready.is_set()  # the stack read the clip through the clock
        if not paced and error is None:
            error = (
                "the stack read nothing through the harness's clock (ctx.released(), or a "
                "ready line), so this rate was never applied to it"
            )
        stages = {s: latencies(events, clock, asked, s) if paced else None for s in spec.stages}
        lag_ms = release_lag_ms(clock, asked)
        ctx.log(
            "sweep",
            "step",
            speed=speed,
            query_hz=query_hz,
            deadline_ms=deadline_ms,
            frames=len(asked.frames),
            stages=stages,
            release_lag_ms=lag_ms,
            seconds=round(time.perf_counter() - started, 3),
            error=error,
            out_dir=str(Path("sweep") / f"x{speed:g}"),
        )
        for stage, lat in stages.items():
            held = lat is not None and (
                judge_step(speed, query_hz, deadline_ms, lat, spec, release_lag_ms=lag_ms).status
                == "holds"
            )
            if not held:
                broke.setdefault(stage, speed)
        if len(broke) == len(spec.stages) and speeds[n + 1 :]:
            said = ", ".join(f"{stage} at {at:g}x" for stage, at in broke.items())
            ctx.log(
                "sweep",
                "skipped",
                speeds=speeds[n + 1 :],
                why=f"every judged stage had stopped holding ({said}): no higher rate can "
                "change a sustained rate",
            )
            return
