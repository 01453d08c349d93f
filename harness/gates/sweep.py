"""The throughput sweep: the highest replay rate a stack sustains, stage by stage, judged in
the latency-budget family.

A scenario's `sweep:` asks the run driver to replay the clip again at each rate (after the
run the other gates judge), on a clock that releases frames that much faster than real time.
For each rate the driver writes one `sweep/step` event: the rate, the deadline, and for each
stage the latency of the first answer to every frame the query rate asked for (`vpr/expected`;
null: never answered). Rules, per stage and rate:

- a frame is *missed* when its answer came after the deadline (late) or never;
- the deadline is `deadline_ms`, or else the query period at that rate (an answer must be out
  before the next query frame is released: a stack that cannot keep that up falls behind);
- a rate *holds* when at least `min_answers` frames were answered and the missed fraction of
  the asked frames is within `max_miss_fraction`; it *fails* when the missed fraction is over
  the bound across at least `min_answers` asked frames (a stack that answers nothing fails;
  it does not hide in no-data); anything else is no-data, as is a rate holding a latency or
  rate that is not a finite number (named by its record line);
- the *sustained* rate is the highest rate that holds with every lower rate holding too (a
  rate that holds above one that failed is luck, not throughput); so the driver replays no
  rate above the one by which every judged stage had stopped holding (`sweep/skipped`).

With `min_speed` set, a stage sustaining less fails the gate, unless the rate that broke its
run of holding rates (at or below the budget) was no-data: then the gate is no-data. With no
rate holding evidence at all the gate is no-data, never a pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError, model_validator

from harness.gates.fields import Malformed
from harness.gates.result import GateResult, GateSpec
from harness.record import Record

Stage = Literal["vpr", "fix"]
STAGES: tuple[Stage, ...] = ("vpr", "fix")
Status = Literal["holds", "fails", "no-data"]


class SweepSpec(GateSpec):
    """`sweep:` in a scenario: the rates to replay at (multiples of real time, or query rates
    in Hz), the bound on missed frames and the budget on the sustained rate."""

    speed: list[float] | None = Field(None, min_length=1)
    query_hz: list[float] | None = Field(None, min_length=1)  # speed = query_hz / query rate
    max_miss_fraction: float = Field(0.05, ge=0, le=1)
    deadline_ms: float | None = Field(None, gt=0)  # None: the query period at each rate
    min_answers: int = Field(10, ge=1)
    min_speed: float | None = Field(None, gt=0)  # the budget: a lower sustained speed fails
    stages: list[Stage] = Field(default_factory=lambda: list(STAGES), min_length=1)

    @model_validator(mode="after")
    def _one_rate_list(self) -> SweepSpec:
        if (self.speed is None) == (self.query_hz is None):
            raise ValueError(
                "give the rates as one list: speed: [1, 2, 4] (multiples of real time) or "
                "query_hz: [1, 2, 4] (queries a second)"
            )
        rates = self.speed or self.query_hz
        if any(r <= 0 for r in rates) or rates != sorted(set(rates)):
            raise ValueError(f"the rates must be positive and rising, each once; got {rates}")
        return self

    def speeds(self, rate_hz: float) -> list[float]:
        """The replay speeds, for a stack queried at `rate_hz` at real time."""
        return list(self.speed) if self.speed else [q / rate_hz for q in self.query_hz]


@dataclass(frozen=True)
class Step:
    """One stage at one rate: how its asked frames were answered."""

    speed: float
    query_hz: float
    status: Status
    asked: int = 0
    answered: int = 0
    late: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    release_lag_ms: float | None = None
    why: str = ""  # for no-data and fails

    @property
    def missed(self) -> int:
        return self.late + self.asked - self.answered

    @property
    def miss_fraction(self) -> float | None:
        return self.missed / self.asked if self.asked else None

    def figures(self) -> dict[str, Any]:
        out = {"speed": self.speed, "query_hz": self.query_hz, "status": self.status}
        out |= {"asked": self.asked, "answered": self.answered, "late": self.late}
        out |= {"never": self.asked - self.answered, "miss_fraction": self.miss_fraction}
        out |= {"p50_ms": self.p50_ms, "p95_ms": self.p95_ms, "release_lag_ms": self.release_lag_ms}
        return out | ({"why": self.why} if self.why else {})


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def judge_step(
    speed: float,
    query_hz: float,
    deadline_ms: float,
    latencies: list[float | None],
    spec: SweepSpec,
    where: str = "",
    release_lag_ms: float | None = None,
) -> Step:
    """One stage at one rate from the latency of each asked frame's answer (None: never),
    counted from when the frame was due. `release_lag_ms` (how late the clock got the frames
    out, at most) is reported beside: it is inside the latencies already."""
    at = f" ({where})" if where else ""
    if not all(_finite(x) for x in (speed, query_hz, deadline_ms)):
        why = f"rate or deadline not a finite number (speed {speed}, deadline {deadline_ms}){at}"
        nan = math.nan
        return Step(speed if _finite(speed) else nan, query_hz if _finite(query_hz) else nan,
                    "no-data", why=why)  # fmt: skip
    answered = [x for x in latencies if x is not None]
    if bad := [x for x in answered if not _finite(x)]:
        why = f"{len(bad)} of {len(answered)} latencies are not finite{at}"
        return Step(speed, query_hz, "no-data", len(latencies), len(answered), why=why)
    late = sum(x > deadline_ms for x in answered)
    p50, p95 = (round(float(np.percentile(answered, q)), 3) if answered else None for q in (50, 95))
    lag = release_lag_ms if _finite(release_lag_ms) else None
    step = Step(speed, query_hz, "no-data", len(latencies), len(answered), late, p50, p95, lag)
    frac = step.miss_fraction
    said = (
        f"{step.missed} of {step.asked} frames late or never ({late} late, "
        f"{step.asked - step.answered} never; deadline {deadline_ms:g} ms)"
    )
    if frac is not None and frac > spec.max_miss_fraction and step.asked >= spec.min_answers:
        return replace(step, status="fails", why=said)
    if step.answered < spec.min_answers:
        why = f"{step.answered} answered frames < min_answers {spec.min_answers}"
        return replace(step, why=why)
    if frac is not None and frac <= spec.max_miss_fraction:
        return replace(step, status="holds")
    return replace(step, why=said)


@dataclass(frozen=True)
class Sustained:
    """A stage's sweep: its steps in rising rate, and how far they held."""

    stage: str
    steps: list[Step]

    @property
    def held(self) -> list[Step]:
        """The run of holding rates from the lowest up."""
        out = []
        for step in self.steps:
            if step.status != "holds":
                break
            out.append(step)
        return out

    @property
    def broke(self) -> Step | None:
        """The first rate that did not hold (None: all did)."""
        n = len(self.held)
        return self.steps[n] if n < len(self.steps) else None

    @property
    def speed(self) -> float:
        """The sustained speed; 0 when the lowest rate did not hold."""
        return self.held[-1].speed if self.held else 0.0

    def metrics(self) -> dict[str, Any]:
        top = self.held[-1] if self.held else None
        out: dict[str, Any] = {"steps": [s.figures() for s in self.steps]}
        if any(s.status != "no-data" for s in self.steps):
            out["sustained_speed"] = self.speed
            out["sustained_query_hz"] = top.query_hz if top else 0.0
        return out


def judge(sweeps: list[Sustained], spec: SweepSpec) -> GateResult:
    """The gate over every judged stage (the record-free core, tested directly)."""
    metrics = {s.stage: s.metrics() for s in sweeps}
    over, thin, said = [], [], []
    for s in sweeps:
        if not s.steps or all(step.status == "no-data" for step in s.steps):
            why = "; ".join(f"at {st.speed:g}x: {st.why}" for st in s.steps) or "no rate was run"
            thin.append(f"{s.stage}: no rate had evidence ({why})")
            continue
        top = s.held[-1] if s.held else None
        said.append(
            f"{s.stage} sustains {s.speed:g}x"
            + (f" ({top.query_hz:g} queries/s)" if top else " (no rate held)")
        )
        if spec.min_speed is None or s.speed >= spec.min_speed:
            continue
        broke = s.broke
        where = f"at {broke.speed:g}x: {broke.why}" if broke else ""
        line = f"{s.stage}: sustained {s.speed:g}x < min_speed {spec.min_speed:g}x ({where})"
        (thin if broke is not None and broke.status == "no-data" else over).append(line)
    if over:
        return GateResult("fail", "; ".join(over), metrics)
    if thin:
        return GateResult("no-data", "; ".join(thin), metrics)
    return GateResult("pass", "; ".join(said), metrics)


def sweeps_of(record: Record, spec: SweepSpec) -> list[Sustained]:
    """Each judged stage's steps from the record's `sweep/step` events, in rising rate."""
    events = sorted(
        record.select("sweep", "step"),
        key=lambda ev: ev["speed"] if _finite(ev.get("speed")) else math.inf,
    )
    out = []
    for stage in spec.stages:
        steps = []
        for ev in events:
            latencies = (ev.get("stages") or {}).get(stage)
            speed, hz, deadline = ev.get("speed"), ev.get("query_hz"), ev.get("deadline_ms")
            if not isinstance(latencies, list):
                said = ev.get("error") or f"no answers of stage {stage} recorded"
                why = f"{said} ({record.where(ev)})"
                speed = speed if _finite(speed) else math.nan
                steps.append(Step(speed, hz if _finite(hz) else math.nan, "no-data", why=why))
                continue
            lag = ev.get("release_lag_ms")
            steps.append(judge_step(speed, hz, deadline, latencies, spec, record.where(ev), lag))
        out.append(Sustained(stage, steps))
    return out


def spec_in(record: Record) -> SweepSpec | None:
    """The scenario's `sweep:` as its record's condition line states it; None when it asks
    for none; a block that does not validate there is a located `Malformed` record."""
    block = record.scenario.get("sweep")
    if block is None:
        return None
    try:
        return SweepSpec.model_validate(block)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        raise Malformed(f"{record.path}:1: condition line: sweep.{field}: {err['msg']}") from None


def not_replayed(record: Record) -> list[float]:
    """The rates the driver left out once every judged stage had stopped holding."""
    return [v for ev in record.select("sweep", "skipped") for v in ev.get("speeds") or []]


def check(record: Record) -> GateResult:
    spec = spec_in(record)
    if spec is None:
        return GateResult("n/a", "the scenario asks for no sweep")
    result = judge(sweeps_of(record, spec), spec)
    if skipped := not_replayed(record):  # in each stage's figures, beside its steps
        rates = ", ".join(f"{v:g}x" for v in skipped)
        reason = f"{result.reason}; not replayed: {rates} (settled below)"
        metrics = {stage: {**m, "not_replayed": skipped} for stage, m in result.metrics.items()}
        result = replace(result, reason=reason, metrics=metrics)
    return result
