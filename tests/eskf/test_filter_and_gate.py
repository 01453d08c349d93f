"""The ESKF on the stand-in: consistent under nominal oracle noise, and the D-triggers fire."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.clip import ClipRef, Segment, load_clip
from harness.gates.eskf import EskfDivergenceSpec, triggers
from harness.record import json_ready
from harness.reference.eskf.filter import Eskf
from harness.reference.eskf.stage import replay
from harness.run.stage import Fix
from harness.scenario.model import EskfSpec
from harness.synth.spec import SynthSpec

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clip():
    return load_clip(
        ClipRef(synth=SynthSpec(preset="derkachi-60s", seed=7)), Segment(), REPO / ".cache"
    )


def _events(clip, fixes: list[Fix], spec: EskfSpec | None = None) -> dict[str, list[dict]]:
    """The ESKF stage's replay over the clip; its events by type, as the record holds them."""
    events: dict[str, list[dict]] = {"state": [], "fix": [], "reset": []}

    def emit(stage: str, type: str, **fields: object) -> None:
        if stage == "eskf":
            events[type].append(json_ready(fields))

    replay(clip, fixes, spec or EskfSpec(), emit)
    return events


def _run(clip, fixes: list[Fix], spec: EskfSpec | None = None) -> tuple[list[dict], list[dict]]:
    events = _events(clip, fixes, spec)
    return events["state"], events["fix"]


def _oracle(clip, seed: int, sigma: float = 25.0, offset=None) -> list[Fix]:
    rng = np.random.default_rng(seed)
    fixes = []
    for t in np.arange(1.0, clip.duration_s, 1.0):
        z = np.array([np.interp(t, clip.truth.t_s, clip.truth.p_ned_m[:, k]) for k in (0, 1)])
        z = z + rng.normal(0, sigma, 2) + (offset(t) if offset else 0.0)
        fixes.append(Fix(float(t), (float(z[0]), float(z[1])), sigma, "oracle"))
    return fixes


def _nees(states: list[dict], after_s: float = 20.0) -> np.ndarray:
    out = []
    for st in states:
        if st["t_s"] >= after_s:
            e = np.subtract(st["p_ned_m"][:2], st["truth_p_ned_m"][:2])
            out.append(e @ np.linalg.solve(np.asarray(st["P_hh"]), e))
    return np.array(out)


def test_monte_carlo_nees_is_consistent_and_nothing_fires(clip) -> None:
    """20 seeded oracle runs at nominal noise: time-averaged NEES inside its chi2 bounds."""
    runs = 20
    per_run = []
    for seed in range(runs):
        states, logs = _run(clip, _oracle(clip, seed))
        assert triggers(states, logs, EskfDivergenceSpec()) == []
        per_run.append(_nees(states))
    avg = np.mean(per_run, axis=0)  # per epoch, over runs: chi2(2 * runs) / runs if consistent
    lo, hi = 1.22, 2.97  # chi2(40) / 20, two-sided 95 %
    assert lo <= float(avg.mean()) <= hi, f"time-averaged NEES {avg.mean():.2f} not in [{lo}, {hi}]"
    inside = float(np.mean((avg >= lo) & (avg <= hi)))
    assert inside >= 0.85, f"only {inside:.0%} of epochs inside the 95 % bounds"


def test_held_offset_is_confidently_wrong_d1(clip) -> None:
    fixes = _oracle(
        clip, 1, sigma=58.0, offset=lambda t: np.array([200.0, 0.0]) if 25 <= t < 35 else 0.0
    )
    states, logs = _run(clip, fixes)
    fired = triggers(states, logs, EskfDivergenceSpec(sigma_vpr_m=58.0))
    assert fired and fired[0].id == "D1" and 25 <= fired[0].t_s <= 40


def test_a_heading_error_the_filter_is_sure_of_is_d1_on_heading(clip) -> None:
    """Position tracks (gentle turns hide heading from fixes); the heading block does not."""
    sure_but_wrong = EskfSpec(init_yaw_error_deg=20, init_sigma_yaw_deg=1)
    states, logs = _run(clip, _oracle(clip, 1), sure_but_wrong)
    fired = triggers(states, logs, EskfDivergenceSpec())
    assert [tr.id for tr in fired] == ["D1"] and "heading" in fired[0].evidence
    honest = EskfSpec(init_yaw_error_deg=20, init_sigma_yaw_deg=20)
    assert triggers(*_run(clip, _oracle(clip, 1), honest), EskfDivergenceSpec()) == []


def test_covariance_every_sample_or_composed_agree(clip) -> None:
    """Predicting P over 4 composed samples matches predicting it every sample (1e-4)."""
    filters = [
        Eskf(clip.truth.p_ned_m[0], clip.truth.v_ned_m_s[0], clip.truth.q_wxyz[0], cov_every=n)
        for n in (1, 4)
    ]
    t, gyro, acc = clip.imu.t_s, clip.imu.gyro_rad_s, clip.imu.accel_m_s2
    for k in range(1, 2001):
        for f in filters:
            f.propagate(gyro[k], acc[k], t[k] - t[k - 1])
    every, composed = (np.sqrt(np.diag(f.P)) for f in filters)
    np.testing.assert_allclose(composed, every, rtol=1e-4)


def test_dropout_coasts_into_d3_and_nan_is_d0(clip) -> None:
    fixes = [f for f in _oracle(clip, 2) if not 20 <= f.t_s < 60]
    states, logs = _run(clip, fixes)
    ids = [tr.id for tr in triggers(states, logs, EskfDivergenceSpec())]
    assert "D3" in ids or "D2" in ids
    logs_nan = [*logs[:5], {**logs[5], "z_ne_m": [None, None]}]
    assert triggers(states, logs_nan, EskfDivergenceSpec())[0].id == "D0"


def test_aliasing_bursts_with_resets_are_a_reset_storm_d5(clip) -> None:
    """10 s of good fixes, 10 s of a repeated wrong tile 400 m away, and so on: a filter that
    resets to fixes after 7 s without an accepted one snaps back and forth."""
    resetting = EskfSpec(reset_after_s=7)
    assert _events(clip, _oracle(clip, 3), resetting)["reset"] == []  # healthy fixes: none
    aliased = _oracle(clip, 3, offset=lambda t: np.array([400.0, 0.0]) * (int(t - 1) // 10 % 2))
    ev = _events(clip, aliased, resetting)
    assert len(ev["reset"]) >= 4
    fired = triggers(ev["state"], ev["fix"], EskfDivergenceSpec(), ev["reset"])
    assert "D5" in [tr.id for tr in fired]
    three = triggers(ev["state"], ev["fix"], EskfDivergenceSpec(), ev["reset"][:3])
    assert three == [tr for tr in fired if tr.id != "D5"]


def test_d4_innovation_collapse_on_synthetic_logs() -> None:
    states = [
        {
            "t_s": float(t),
            "p_ned_m": [0.0, 0.0, 0.0],
            "P_hh": [[100.0, 0], [0, 100.0]],
            "eph_m": 14.1,
            "truth_p_ned_m": [0.0, 0.0, 0.0],
        }
        for t in range(30)
    ]
    fixes = [
        {"t_s": float(t), "z_ne_m": [10.0, 0.0], "accepted": t < 5, "truth_ne_m": [0.0, 0.0]}
        for t in range(20)
    ]
    fired = triggers(states, fixes, EskfDivergenceSpec())
    assert [tr.id for tr in fired] == ["D4"]
