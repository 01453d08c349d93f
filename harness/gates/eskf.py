"""The eskf-divergence gate: triggers D0-D5 (the reference's proposal), then the PASS criterion
on horizontal error. Each trigger reports its id, first time and evidence.

D1 ("confidently wrong") is judged on the two blocks truth covers: horizontal position, as
proposed, and heading. Position fixes see a heading error only under horizontal acceleration,
so on gentle flight a wrong heading the filter is sure of never shows in position; it is the
same failure, caught where it is.

Without ground truth a run is "unverified": no-data, never a pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import Field

from harness.gates.result import GateResult, GateSpec, spec_of
from harness.record import Record

CHI2_2_999 = 13.82
CHI2_2_99 = 9.21
CHI2_1_999 = 10.83


class EskfDivergenceSpec(GateSpec):
    sigma_vpr_m: float = Field(25.0, gt=0)
    warmup_s: float = Field(20.0, ge=0)
    min_states: int = Field(50, ge=1)
    d1_nees: float = Field(CHI2_2_999, gt=0)  # confidently wrong: NEES above this ...
    d1_window_s: float = Field(5.0, ge=0)  # ... and error > 2 sigma, for this long
    d1_yaw_nees: float = Field(CHI2_1_999, gt=0)  # confidently wrong heading: NEES above this ...
    d1_yaw_deg: float = Field(10.0, gt=0, le=180)  # ... and heading error above this
    d2_window_s: float = Field(10.0, ge=0)  # lost: error > 6 sigma for this long
    d3_window_s: float = Field(10.0, ge=0)  # covariance runaway: eph > 4 sigma for this long
    d4_last_fixes: int = Field(20, ge=2)  # innovation collapse window (needs half of it)
    d5_resets: int = Field(3, ge=0)  # reset storm: more position resets than this ...
    d5_window_s: float = Field(60.0, gt=0)  # ... within this long


@dataclass(frozen=True)
class Trigger:
    id: str
    t_s: float
    evidence: str


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


def heading_error_deg(q_wxyz, truth_q_wxyz) -> float:
    """Estimated minus true heading (yaw of body->world NED, w-first), wrapped to +-180."""

    def yaw(q) -> float:
        w, x, y, z = q
        return math.degrees(math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))

    return (yaw(q_wxyz) - yaw(truth_q_wxyz) + 180.0) % 360.0 - 180.0


def triggers(
    states: list[dict],
    fixes: list[dict],
    spec: EskfDivergenceSpec,
    resets: Sequence[dict] = (),
) -> list[Trigger]:
    out: list[Trigger] = []
    s = spec.sigma_vpr_m
    for st in states:
        if st.get("numerical") or st["p_ned_m"] is None or None in st["p_ned_m"]:
            out.append(Trigger("D0", st["t_s"], st.get("numerical") or "non-finite state"))
            break
    for fx in fixes:
        if None in fx["z_ne_m"]:
            out.append(Trigger("D0", fx["t_s"], "a non-finite fix reached the filter"))
            break
    if out:
        return out
    t = np.array([st["t_s"] for st in states])
    est = np.array([st["p_ned_m"][:2] for st in states], dtype=float)
    truth = np.array([st["truth_p_ned_m"][:2] for st in states], dtype=float)
    err_v = est - truth
    err = np.linalg.norm(err_v, axis=1)
    eph = np.array([st["eph_m"] for st in states])
    nees = np.array(
        [
            e @ np.linalg.solve(np.asarray(st["P_hh"]), e)
            for e, st in zip(err_v, states, strict=True)
        ]
    )
    checks = [
        (
            "D1",
            (nees > spec.d1_nees) & (err > 2 * s),
            spec.d1_window_s,
            f"NEES > {spec.d1_nees:g} and error > {2 * s:g} m",
        ),
        ("D2", err > 6 * s, spec.d2_window_s, f"error > {6 * s:g} m"),
        ("D3", eph > 4 * s, spec.d3_window_s, f"eph > {4 * s:g} m"),
    ]
    if all(st.get("truth_q_wxyz") is not None for st in states):
        yaw_err = np.array([heading_error_deg(st["q_wxyz"], st["truth_q_wxyz"]) for st in states])
        sigma = np.array([st["sigma_yaw_deg"] for st in states])
        wrong = ((yaw_err / sigma) ** 2 > spec.d1_yaw_nees) & (np.abs(yaw_err) > spec.d1_yaw_deg)
        what = f"heading NEES > {spec.d1_yaw_nees:g} and heading error > {spec.d1_yaw_deg:g} deg"
        checks.append(("D1", wrong, spec.d1_window_s, what))
    for tid, mask, window, what in checks:
        start = _first_run(t, mask, window)
        if start is not None:
            out.append(Trigger(tid, start, f"{what} for >= {window:g} s"))
    last = fixes[-spec.d4_last_fixes :]
    if len(last) >= spec.d4_last_fixes // 2:
        rejected = [f for f in last if not f["accepted"]]
        good = [
            f
            for f in rejected
            if np.linalg.norm(np.subtract(f["z_ne_m"], f["truth_ne_m"])) <= 3 * s
        ]
        if len(rejected) > len(last) / 2 and len(good) >= 0.8 * len(rejected):
            out.append(
                Trigger(
                    "D4",
                    last[0]["t_s"],
                    f"{len(rejected)}/{len(last)} fixes rejected, "
                    f"{len(good)} of them within {3 * s:g} m of truth",
                )
            )
    times = [r["t_s"] for r in resets]
    for i, start in enumerate(times):
        within = [t for t in times[i:] if t - start <= spec.d5_window_s]
        if len(within) > spec.d5_resets:
            what = f"{len(within)} position resets within {spec.d5_window_s:g} s"
            out.append(Trigger("D5", start, what))
            break
    return sorted(out, key=lambda tr: tr.t_s)


def check(record: Record) -> GateResult:
    spec = spec_of(record.scenario, "eskf_divergence", EskfDivergenceSpec)
    states = list(record.select("eskf", "state"))
    fixes = list(record.select("eskf", "fix"))
    resets = list(record.select("eskf", "reset"))
    if not states:
        return GateResult("no-data", "the filter recorded no states")
    if any(st.get("truth_p_ned_m") is None for st in states):
        return GateResult("no-data", "unverified: the clip has no ground truth to judge against")
    fired = triggers(states, fixes, spec, resets)
    judged = [st for st in states if st["t_s"] >= spec.warmup_s]
    metrics: dict = {
        "triggers": [f"{tr.id}@{tr.t_s:.1f}s" for tr in fired],
        "fixes": len(fixes),
        "accepted": sum(bool(f["accepted"]) for f in fixes),
        "resets": len(resets),
    }
    if fired:
        first = fired[0]
        return GateResult("fail", f"{first.id} from t={first.t_s:.1f} s: {first.evidence}", metrics)
    if len(judged) < spec.min_states:
        return GateResult(
            "no-data", f"{len(judged)} states after warm-up < {spec.min_states}", metrics
        )
    est = np.array([st["p_ned_m"][:2] for st in judged], dtype=float)
    truth = np.array([st["truth_p_ned_m"][:2] for st in judged], dtype=float)
    err_v = est - truth
    err = np.linalg.norm(err_v, axis=1)
    nees = np.array(
        [
            e @ np.linalg.solve(np.asarray(st["P_hh"]), e)
            for e, st in zip(err_v, judged, strict=True)
        ]
    )
    s = spec.sigma_vpr_m
    metrics |= {
        "rmse_m": float(np.sqrt(np.mean(err**2))),
        "p95_m": float(np.percentile(err, 95)),
        "final_m": float(err[-1]),
        "mean_nees": float(nees.mean()),
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
