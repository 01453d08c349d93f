"""The ESKF on the stand-in: consistent under nominal oracle noise, and the D-triggers fire."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from harness.clip import ClipRef, Segment, load_clip
from harness.gates.eskf import EskfDivergenceSpec, Evidence, nees_h, triggers
from harness.record import Record, RecordWriter, read_record
from harness.reference.eskf.filter import Eskf
from harness.reference.eskf.navigate import replay
from harness.reference.settings import EskfSpec
from harness.run.driver import truth_samples
from harness.run.stage import Fix
from harness.synth.spec import SynthSpec

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clip():
    return load_clip(
        ClipRef(synth=SynthSpec(preset="derkachi-60s", seed=7)), Segment(), REPO / ".cache"
    )


def recorded(path: Path, clip, fixes: list[Fix], spec: EskfSpec | None = None) -> Record:
    """The record the run driver writes for the ESKF stage's replay over the clip: the
    stage's own events (the stage sees no truth), then the driver's truth lines, then the end
    line."""
    with RecordWriter(path) as w:
        w.condition({"name": "eskf"}, {}, {"clip_duration_s": clip.duration_s})
        replay(replace(clip, truth=None), fixes, spec or EskfSpec(), w.event)
        for sample in truth_samples(clip.truth):
            w.event("truth", "sample", **sample)
        w.end()
    return read_record(path)


@pytest.fixture
def run(clip, tmp_path: Path):
    """`run(fixes, spec)` -> the evidence the gate judges, from a freshly written record."""
    count = iter(range(10_000))

    def _run(fixes: list[Fix], spec: EskfSpec | None = None) -> Evidence:
        return Evidence.of(recorded(tmp_path / f"r{next(count)}.jsonl", clip, fixes, spec))

    return _run


def _oracle(clip, seed: int, sigma: float = 25.0, offset=None) -> list[Fix]:
    rng = np.random.default_rng(seed)
    fixes = []
    for t in np.arange(1.0, clip.duration_s, 1.0):
        z = np.array([np.interp(t, clip.truth.t_s, clip.truth.p_ned_m[:, k]) for k in (0, 1)])
        z = z + rng.normal(0, sigma, 2) + (offset(t) if offset else 0.0)
        fixes.append(Fix(float(t), (float(z[0]), float(z[1])), sigma, "oracle"))
    return fixes


def _nees(ev: Evidence, after_s: float = 20.0) -> np.ndarray:
    st = ev.states
    after = st.t >= after_s
    return nees_h(st.p[after, :2] - ev.truth.position_ne(st.t[after]), st.P_hh[after])


def test_monte_carlo_nees_is_consistent_and_nothing_fires(clip, run) -> None:
    """20 seeded oracle runs at nominal noise: time-averaged NEES inside its chi2 bounds."""
    runs = 20
    per_run = []
    for seed in range(runs):
        ev = run(_oracle(clip, seed))
        assert triggers(ev, EskfDivergenceSpec()) == []
        per_run.append(_nees(ev))
    avg = np.mean(per_run, axis=0)  # per epoch, over runs: chi2(2 * runs) / runs if consistent
    lo, hi = 1.22, 2.97  # chi2(40) / 20, two-sided 95 %
    assert lo <= float(avg.mean()) <= hi, f"time-averaged NEES {avg.mean():.2f} not in [{lo}, {hi}]"
    inside = float(np.mean((avg >= lo) & (avg <= hi)))
    assert inside >= 0.85, f"only {inside:.0%} of epochs inside the 95 % bounds"


def test_held_offset_is_confidently_wrong_d1(clip, run) -> None:
    fixes = _oracle(
        clip, 1, sigma=58.0, offset=lambda t: np.array([200.0, 0.0]) if 25 <= t < 35 else 0.0
    )
    fired = triggers(run(fixes), EskfDivergenceSpec(sigma_vpr_m=58.0))
    # Started from the first fix (not the true state) the filter is still wide at 25 s and
    # takes some offset fixes, then rejects the true ones: D6 (coasting) fires too.
    d1 = [tr for tr in fired if tr.id == "D1"]
    assert d1 and 25 <= d1[0].t_s <= 40, fired


def test_a_heading_error_the_filter_is_sure_of_is_d1_on_heading(clip, run) -> None:
    """Position tracks (gentle turns hide heading from fixes); the heading block does not."""
    sure_but_wrong = EskfSpec(init_yaw_error_deg=20, init_sigma_yaw_deg=1)
    fired = triggers(run(_oracle(clip, 1), sure_but_wrong), EskfDivergenceSpec())
    assert [tr.id for tr in fired] == ["D1"] and "heading" in fired[0].evidence
    honest = EskfSpec(init_yaw_error_deg=20, init_sigma_yaw_deg=20)
    assert triggers(run(_oracle(clip, 1), honest), EskfDivergenceSpec()) == []


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


def test_dropout_coasts_into_d3_and_nan_is_d0(clip, run) -> None:
    fixes = [f for f in _oracle(clip, 2) if not 20 <= f.t_s < 60]
    ids = [tr.id for tr in triggers(run(fixes), EskfDivergenceSpec())]
    assert "D3" in ids or "D2" in ids
    nan = [*fixes[:5], Fix(fixes[5].t_s, (float("nan"), float("nan")), 25.0, "oracle")]
    assert triggers(run(nan), EskfDivergenceSpec())[0].id == "D0"


def test_aliasing_bursts_with_resets_are_a_reset_storm_d5(clip, run) -> None:
    """10 s of good fixes, 10 s of a repeated wrong tile 400 m away, and so on: a filter that
    resets to fixes after 7 s without an accepted one snaps back and forth."""
    resetting = EskfSpec(reset_after_s=7)
    assert run(_oracle(clip, 3), resetting).resets == []  # healthy fixes: none
    aliased = _oracle(clip, 3, offset=lambda t: np.array([400.0, 0.0]) * (int(t - 1) // 10 % 2))
    ev = run(aliased, resetting)
    assert len(ev.resets) >= 4
    fired = triggers(ev, EskfDivergenceSpec())
    assert "D5" in [tr.id for tr in fired]
    three = triggers(replace(ev, resets=ev.resets[:3]), EskfDivergenceSpec())
    assert three == [tr for tr in fired if tr.id != "D5"]


def test_a_gate_too_tight_for_good_fixes_is_innovation_collapse_d4(clip, run) -> None:
    """A filter whose NIS gate refuses fixes that were near truth: D4 names it."""
    fired = triggers(run(_oracle(clip, 4), EskfSpec(gate_nis=0.05)), EskfDivergenceSpec())
    d4 = [tr for tr in fired if tr.id == "D4"]
    assert d4 and "within 75 m of truth" in d4[0].evidence


def test_a_held_300m_offset_the_gate_keeps_rejecting_is_coasting_d6(clip, run) -> None:
    """From 10 s on every fix is 300 m off: the NIS gate rejects nearly all of them and the
    filter coasts on its IMU, its error small for a while; D6 fires, D4 cannot (the rejected
    fixes were far from truth)."""
    offset = _oracle(clip, 5, offset=lambda t: np.array([300.0, 0.0]) if t >= 10 else 0.0)
    ev = run(offset)
    fired = triggers(ev, EskfDivergenceSpec())
    assert fired and fired[0].id == "D6" and "coasting" in fired[0].evidence
    assert 0 < fired[0].t_s <= 20
    assert "D4" not in [tr.id for tr in fired]
    assert triggers(run(_oracle(clip, 5)), EskfDivergenceSpec()) == []  # the same, healthy
