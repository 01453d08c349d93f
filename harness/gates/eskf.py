"""The eskf-divergence gate: triggers D0-D5 (the reference's proposal), then the PASS criterion
on horizontal error. Each trigger reports its id, first time and evidence.

D1 ("confidently wrong") is judged on the two blocks truth covers: horizontal position, as
proposed, and heading. Position fixes see a heading error only under horizontal acceleration,
so on gentle flight a wrong heading the filter is sure of never shows in position; it is the
same failure, caught where it is.

D7 ("confidently wrong while coasting", harness.gates.coast) is ours too: during a stretch
of at least `coast_min_s` without a fused fix the error is the IMU's alone, so NEES above the
D1 limit for the D1 window there means the covariance no longer bounds it, however small the
error; `coast_max_error_m`, when a scenario states it, is the drift budget of every coast.
This judges the filter against truth independently of how its fixes were made.

D6 ("coasting") is ours: a filter that rejects most of the fixes it is given is not
navigating on VPR, whatever its error happens to be. The reference plans for 10-40 %
outliers; more than half of the fixes rejected over a 30 s window (at least 5 fixes) means the
filter runs on its IMU alone for that long (0.05 m/s^2 of accel bias alone is 22 m after 30 s)
and trusts its prediction over every measurement. It catches a held VPR offset that the NIS
gate keeps rejecting, where D4 (rejected fixes that were near truth) does not fire.

Evidence before PASS: without ground truth a run is "unverified" (no-data); states must cover
the judged span (a record cut short is no-data, never a pass on the part that was kept), truth
must be finite over it, and at least `min_fixes` fixes must have been fused. The judged span
starts where the clip's truth starts (the driver's `truth/span`) or at the first fix, whichever
is later (a real log's GNSS locks seconds after boot: nothing before can be judged, and the
verdict says from when it judged), and ends where the clip's truth ends; warm-up counts from
its start. States must still reach the clip's end.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from harness.gates.answers import Expected
from harness.gates.coast import coasts, figures, inside
from harness.gates.fields import Malformed, array, flag, number
from harness.gates.result import GateResult, GateSpec, spec_of
from harness.gates.span import coverage, imu_dropouts, judged_from, truth_span
from harness.gates.truth import EDGE_S, TruthTrack, nan_spans
from harness.record import Record

CHI2_2_999 = 13.82
CHI2_2_99 = 9.21
CHI2_1_999 = 10.83


class EskfDivergenceSpec(GateSpec):
    sigma_vpr_m: float = Field(25.0, gt=0)
    warmup_s: float = Field(20.0, ge=0)
    min_states: int = Field(50, ge=1)
    min_fixes: int = Field(10, ge=1)  # fused (accepted) fixes: fewer is no-data
    max_gap_s: float = Field(2.0, gt=0)  # states must cover the clip without longer gaps
    d1_nees: float = Field(CHI2_2_999, gt=0)  # confidently wrong: NEES above this ...
    d1_window_s: float = Field(5.0, gt=0)  # ... and error > 2 sigma, for this long
    d1_yaw_nees: float = Field(CHI2_1_999, gt=0)  # confidently wrong heading: NEES above ...
    d1_yaw_deg: float = Field(10.0, gt=0)  # ... and heading error above this (2x 5 deg sigma)
    d2_window_s: float = Field(10.0, gt=0)  # lost: error > 6 sigma for this long
    d3_window_s: float = Field(10.0, gt=0)  # covariance runaway: eph > 4 sigma for this long
    d4_last_fixes: int = Field(20, ge=2)  # innovation collapse window (needs half of it)
    d5_resets: int = Field(3, ge=0)  # reset storm: more position resets than this ...
    d5_window_s: float = Field(60.0, gt=0)  # ... within this long
    d6_window_s: float = Field(30.0, gt=0)  # coasting: over any window this long ...
    d6_min_fixes: int = Field(5, ge=1)  # ... holding at least this many fixes ...
    d6_max_rejected: float = Field(0.5, ge=0, lt=1)  # ... more than this share rejected
    coast_min_s: float = Field(5.0, gt=0)  # no fused fix for this long: a coast (D7)
    coast_max_error_m: float | None = Field(None, gt=0)  # the drift budget of every coast


@dataclass(frozen=True)
class Trigger:
    id: str
    t_s: float
    evidence: str


@dataclass(frozen=True)
class States:
    """The filter's recorded states as arrays (NaN where the record holds null)."""

    t: np.ndarray
    p: np.ndarray  # (N, 3)
    P_hh: np.ndarray  # (N, 2, 2)
    eph: np.ndarray
    q: np.ndarray  # (N, 4)
    sigma_yaw_deg: np.ndarray
    numerical: list[str | None]

    @classmethod
    def of(cls, record: Record, events: list[dict[str, Any]]) -> States:
        def problem(ev: dict[str, Any]) -> str | None:
            v = ev.get("numerical")
            if v in (None, False, ""):
                return None
            return v if isinstance(v, str) else f"numerical problem {v!r}"

        return cls(
            np.array([number(record, e, "t_s") for e in events]),
            np.stack([array(record, e, "p_ned_m", (3,)) for e in events]),
            np.stack([array(record, e, "P_hh", (2, 2)) for e in events]),
            np.array([number(record, e, "eph_m", null_ok=True) for e in events]),
            np.stack([array(record, e, "q_wxyz", (4,)) for e in events]),
            np.array([number(record, e, "sigma_yaw_deg", null_ok=True) for e in events]),
            [problem(e) for e in events],
        )


@dataclass(frozen=True)
class Fixes:
    t: np.ndarray
    z: np.ndarray  # (N, 2)
    accepted: np.ndarray  # bool

    @classmethod
    def of(cls, record: Record, events: list[dict[str, Any]]) -> Fixes:
        return cls(
            np.array([number(record, e, "t_s") for e in events], dtype=float),
            np.array([array(record, e, "z_ne_m", (2,)) for e in events], dtype=float).reshape(
                -1, 2
            ),
            np.array([flag(record, e, "accepted") for e in events], dtype=bool),
        )


def _first_run(t: np.ndarray, mask: np.ndarray, window_s: float) -> float | None:
    """Start time of the first stretch where `mask` holds continuously for `window_s`."""
    start = None
    for ti, m in zip(t, mask, strict=True):
        if not m:
            start = None
            continue
        start = ti if start is None else start
        if ti - start >= window_s:
            return float(start)
    return None


def yaw_deg(q: np.ndarray) -> np.ndarray:
    """Heading (yaw of body->world NED, w-first) of each quaternion row, in degrees."""
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.degrees(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


def heading_error_deg(q_wxyz, truth_q_wxyz) -> np.ndarray:
    """Estimated minus true heading, wrapped to +-180 (NaN where either is NaN)."""
    diff = yaw_deg(np.asarray(q_wxyz, float)) - yaw_deg(np.asarray(truth_q_wxyz, float))
    return (diff + 180.0) % 360.0 - 180.0


def nees_h(err: np.ndarray, P_hh: np.ndarray) -> np.ndarray:
    """e^T P^-1 e per epoch; NaN where P is singular or non-finite."""
    out = np.full(len(err), np.nan)
    for i, (e, P) in enumerate(zip(err, P_hh, strict=True)):
        if np.all(np.isfinite(P)) and np.all(np.isfinite(e)):
            with contextlib.suppress(np.linalg.LinAlgError):
                out[i] = float(e @ np.linalg.solve(P, e))
    return out


def d0(states: States, fixes: Fixes) -> Trigger | None:
    """Numerical failure: a non-finite state, covariance or eph, a heading given in part
    (`q_wxyz` and `sigma_yaw_deg` are judged together or not at all), or a non-finite fix."""
    for i, t in enumerate(states.t):
        if states.numerical[i]:
            return Trigger("D0", float(t), states.numerical[i])
        if not (np.all(np.isfinite(states.p[i])) and np.all(np.isfinite(states.P_hh[i]))):
            return Trigger("D0", float(t), "non-finite state or covariance")
        if not np.isfinite(states.eph[i]):
            return Trigger("D0", float(t), f"eph_m is {states.eph[i]}, not finite")
        heading = np.append(states.q[i], states.sigma_yaw_deg[i])
        if not np.all(np.isnan(heading)) and not np.all(np.isfinite(heading)):
            return Trigger("D0", float(t), "heading (q_wxyz, sigma_yaw_deg) not finite")
    bad = ~np.all(np.isfinite(fixes.z), axis=1)
    if bad.any():
        return Trigger("D0", float(fixes.t[bad][0]), "a non-finite fix reached the filter")
    return None


@dataclass(frozen=True)
class Evidence:
    """What the gate judges: the stack's states, fixes and resets, and the recorded truth."""

    states: States
    fixes: Fixes
    resets: list[float]
    truth: TruthTrack | None
    missing: np.ndarray  # times of the expected query frames the stack gave no fix for

    @classmethod
    def of(cls, record: Record) -> Evidence:
        fixes = list(record.select("eskf", "fix"))
        expect = Expected.of(record)
        answers = expect.answers(fixes) if expect is not None else []
        missing = (
            []
            if expect is None
            else [t for t, fix in zip(expect.t_s, answers, strict=True) if fix is None]
        )
        return cls(
            States.of(record, list(record.select("eskf", "state"))),
            Fixes.of(record, fixes),
            [number(record, r, "t_s") for r in record.select("eskf", "reset")],
            TruthTrack.of(record),
            np.asarray(missing, dtype=float),
        )


def triggers(ev: Evidence, spec: EskfDivergenceSpec) -> list[Trigger]:
    """Every divergence trigger that fires, in time order (D0 alone when it fires)."""
    states, fixes, truth, resets = ev.states, ev.fixes, ev.truth, ev.resets
    if (numerical := d0(states, fixes)) is not None:
        return [numerical]
    out: list[Trigger] = []
    s, t = spec.sigma_vpr_m, states.t
    err_v = states.p[:, :2] - truth.position_ne(t)
    err = np.linalg.norm(err_v, axis=1)
    nees = nees_h(err_v, states.P_hh)
    with np.errstate(invalid="ignore"):
        checks = [
            (
                "D1",
                (nees > spec.d1_nees) & (err > 2 * s),
                spec.d1_window_s,
                f"NEES > {spec.d1_nees:g} and error > {2 * s:g} m",
            ),
            ("D2", err > 6 * s, spec.d2_window_s, f"error > {6 * s:g} m"),
            ("D3", states.eph > 4 * s, spec.d3_window_s, f"eph > {4 * s:g} m"),
        ]
        yaw_err = heading_error_deg(states.q, truth.attitude(t))
        yaw_nees = (yaw_err / states.sigma_yaw_deg) ** 2
        wrong = (yaw_nees > spec.d1_yaw_nees) & (np.abs(yaw_err) > spec.d1_yaw_deg)
    what = f"heading NEES > {spec.d1_yaw_nees:g} and heading error > {spec.d1_yaw_deg:g} deg"
    checks.append(("D1", wrong, spec.d1_window_s, what))
    for tid, mask, window, why in checks:
        start = _first_run(t, mask, window)
        if start is not None:
            out.append(Trigger(tid, start, f"{why} for >= {window:g} s"))
    d6 = _d6(fixes, ev.missing, spec)
    out += [tr for tr in (_d4(fixes, truth, spec), _d5(resets, spec), d6) if tr]
    if (d7 := _d7(t, nees, fixes, spec)) is not None:
        out.append(d7)
    return sorted(out, key=lambda tr: tr.t_s)


def _d4(fixes: Fixes, truth: TruthTrack, spec: EskfDivergenceSpec) -> Trigger | None:
    """Innovation collapse: most recent fixes rejected although they were near truth."""
    n = spec.d4_last_fixes
    last = slice(max(0, len(fixes.t) - n), len(fixes.t))
    if len(fixes.t[last]) < n // 2:
        return None
    rejected = ~fixes.accepted[last]
    off = np.linalg.norm(fixes.z[last] - truth.position_ne(fixes.t[last]), axis=1)
    with np.errstate(invalid="ignore"):
        good = rejected & (off <= 3 * spec.sigma_vpr_m)
    if rejected.sum() > len(off) / 2 and good.sum() >= 0.8 * rejected.sum():
        what = (
            f"{rejected.sum()}/{len(off)} fixes rejected, {good.sum()} of them within "
            f"{3 * spec.sigma_vpr_m:g} m of truth"
        )
        return Trigger("D4", float(fixes.t[last][0]), what)
    return None


def _d5(resets: Sequence[float], spec: EskfDivergenceSpec) -> Trigger | None:
    times = sorted(resets)
    for i, start in enumerate(times):
        within = [t for t in times[i:] if t - start <= spec.d5_window_s]
        if len(within) > spec.d5_resets:
            what = f"{len(within)} position resets within {spec.d5_window_s:g} s"
            return Trigger("D5", start, what)
    return None


def _d6(fixes: Fixes, missing: np.ndarray, spec: EskfDivergenceSpec) -> Trigger | None:
    """Coasting: over a window, most fixes rejected (the filter runs on its IMU alone). An
    expected fix the stack never gave counts as one not fused."""
    t = np.concatenate([fixes.t, missing])
    accepted = np.concatenate([fixes.accepted, np.zeros(len(missing), dtype=bool)])
    order = np.argsort(t, kind="stable")
    t, accepted = t[order], accepted[order]
    gone = " or missing" if len(missing) else ""
    for start in t:
        inside = (t >= start) & (t <= start + spec.d6_window_s)
        n = int(inside.sum())
        if n < spec.d6_min_fixes:
            continue
        rejected = int((~accepted[inside]).sum())
        if rejected > spec.d6_max_rejected * n:
            what = (
                f"{rejected}/{n} fixes rejected{gone} within {spec.d6_window_s:g} s "
                f"(> {spec.d6_max_rejected:.0%}): the filter is coasting on its IMU"
            )
            return Trigger("D6", float(start), what)
    return None


def _d7(t: np.ndarray, nees: np.ndarray, fixes: Fixes, spec: EskfDivergenceSpec):
    """Confidently wrong while coasting: NEES above the D1 limit for the D1 window in a coast."""
    spans = coasts(fixes.t[fixes.accepted], float(t[-1]) if len(t) else 0.0, spec.coast_min_s)
    with np.errstate(invalid="ignore"):
        high = (nees > spec.d1_nees) & inside(t, spans)
    start = _first_run(t, high, spec.d1_window_s)
    if start is None:
        return None
    a, b = next((a, b) for a, b in spans if a < start <= b)
    what = (
        f"NEES > {spec.d1_nees:g} for >= {spec.d1_window_s:g} s while coasting on the IMU "
        f"(no fix fused from {a:.1f} to {b:.1f} s): the covariance does not bound the error"
    )
    return Trigger("D7", start, what)


def check(record: Record) -> GateResult:
    spec = spec_of(record, "eskf_divergence", EskfDivergenceSpec)
    if not any(True for _ in record.select("eskf", "state")):
        return GateResult("no-data", "the filter recorded no states")
    ev = Evidence.of(record)
    states, fixes, truth = ev.states, ev.fixes, ev.truth
    if truth is None:
        return GateResult("no-data", "unverified: the clip has no ground truth to judge against")
    fired = triggers(ev, spec)
    metrics: dict = {
        "triggers": [f"{tr.id}@{tr.t_s:.1f}s" for tr in fired],
        "fixes": len(fixes.t),
        "accepted": int(fixes.accepted.sum()),
        "missing_fixes": len(ev.missing),
        "resets": len(ev.resets),
    }
    spans = coasts(fixes.t[fixes.accepted], float(states.t[-1]), spec.coast_min_s)
    if spans:
        err_v = states.p[:, :2] - truth.position_ne(states.t)
        err = np.linalg.norm(err_v, axis=1)
        metrics["coasts"] = figures(states.t, err, states.eph, nees_h(err_v, states.P_hh), spans)
    if fired:
        first = fired[0]
        return GateResult("fail", f"{first.id} from t={first.t_s:.1f} s: {first.evidence}", metrics)
    duration = record.provenance.get("clip_duration_s")
    known = isinstance(duration, (int, float)) and not isinstance(duration, bool)
    duration = float(duration) if known and math.isfinite(duration) else None
    truth_start, truth_end = truth_span(record)
    start = judged_from(truth_start, fixes.t)
    if start > spec.max_gap_s:  # said on every outcome: nothing before it was judged
        metrics["judged_from_s"] = round(start, 3)
        metrics["judged_from"] = (
            f"the clip's truth starts at {truth_start:.1f} s, the first fix at "
            f"{np.min(fixes.t) if len(fixes.t) else float('nan'):.1f} s: nothing before is judged"
        )
    if duration is not None and duration - truth_end > spec.max_gap_s:
        metrics["judged_until_s"] = round(truth_end, 3)  # the clip's truth ends early
    if gaps := imu_dropouts(record):
        metrics["imu_dropouts"] = gaps
    if (short := coverage(states.t, duration, spec.max_gap_s, start)) is not None:
        return GateResult("no-data", short, metrics)
    if metrics["accepted"] < spec.min_fixes:
        why = f"{metrics['accepted']} fixes fused (of {len(fixes.t)}) < min_fixes {spec.min_fixes}"
        return GateResult("no-data", why, metrics)
    # The triggers ran over every state: truth must be finite at all of them from the judged
    # start on, or a trigger could have been missed where it was not.
    err_all = states.p[:, :2] - truth.position_ne(states.t)
    inside = (states.t >= truth_start) & (states.t <= truth_end + EDGE_S)
    missing = ~np.all(np.isfinite(err_all), axis=1) & inside
    if missing.any():
        spans = ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in nan_spans(states.t, missing)[:3])
        return GateResult("no-data", f"no finite ground truth over {spans}", metrics)
    # Heading is judged where truth has attitude and the stack gave one (D0 took half-given).
    no_heading = ~np.all(np.isfinite(truth.attitude(states.t)), axis=1)
    no_heading |= np.isnan(states.sigma_yaw_deg)
    if no_heading.any():
        spans = nan_spans(states.t, no_heading)[:3]
        metrics["heading_unjudged"] = [f"{a:.1f}-{b:.1f} s" for a, b in spans]
    judged = (states.t >= start + spec.warmup_s) & inside
    if judged.sum() < spec.min_states:
        why = f"{int(judged.sum())} states after warm-up < {spec.min_states}"
        return GateResult("no-data", why, metrics)
    budget = spec.coast_max_error_m
    over = [c for c in metrics.get("coasts", []) if budget and c["max_error_m"] > budget]
    if over:
        c = over[0]
        why = (
            f"coast {c['from_s']:.1f}-{c['to_s']:.1f} s on the IMU alone: error "
            f"{c['max_error_m']:.1f} m > coast_max_error_m {budget:g}"
        )
        return GateResult("fail", why, metrics)
    err_v = err_all[judged]
    return _budget(err_v, nees_h(err_v, states.P_hh[judged]), spec, metrics)


def _budget(
    err_v: np.ndarray, nees: np.ndarray, spec: EskfDivergenceSpec, metrics: dict
) -> GateResult:
    """The PASS criterion on horizontal error, with the consistency warnings."""
    err = np.linalg.norm(err_v, axis=1)
    s = spec.sigma_vpr_m
    metrics |= {
        "rmse_m": float(np.sqrt(np.mean(err**2))),
        "p95_m": float(np.percentile(err, 95)),
        "final_m": float(err[-1]),
        "mean_nees": float(np.nanmean(nees)),
        "nees_over_9_21": float(np.mean(nees > CHI2_2_99)),
    }
    warnings = []
    if metrics["nees_over_9_21"] > 0.10:
        warnings.append("over-confident")
    if not 0.5 <= metrics["mean_nees"] <= 6.0:
        warnings.append("mis-tuned")
    metrics["warnings"] = warnings
    over = [
        f"RMSE {metrics['rmse_m']:.1f} m > {s:g}" if metrics["rmse_m"] > s else "",
        f"p95 {metrics['p95_m']:.1f} m > {2.5 * s:g}" if metrics["p95_m"] > 2.5 * s else "",
        f"final {metrics['final_m']:.1f} m > {2 * s:g}" if metrics["final_m"] > 2 * s else "",
    ]
    over = [o for o in over if o]
    if over:
        return GateResult("fail", "error budget: " + ", ".join(over), metrics)
    return GateResult("pass", metrics=metrics)


__all__ = ["EskfDivergenceSpec", "Evidence", "Malformed", "check", "heading_error_deg", "triggers"]
