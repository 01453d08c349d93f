"""The stage's replay propagates runs of samples in one call and judges their state logs
together; its events are those of the plain per-sample loop (`Eskf.propagate` once per sample,
baro then state log as they fall due, each state judged alone) to 1e-9, with faults in the
fixes (rejected, NaN, a dropout with resets, a held offset), in the IMU (a gyro bias step,
dropouts, a NaN sample: D0 named at the same states) and several baro rates."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from harness.clip import ClipRef, Segment, load_clip
from harness.clip.model import ImuStream
from harness.record import json_ready
from harness.reference.eskf import filter_replay as replay_module
from harness.reference.eskf.navigate import replay
from harness.reference.settings import EskfSpec
from harness.run.stage import Fix

REPO = Path(__file__).resolve().parents[2]


class PerSample(replay_module.Replay):
    """The reference: one `propagate` per IMU sample."""

    def advance(self, t_until: float) -> None:
        self._release(t_until)
        filt, t = self.filt, self.t
        if filt is None:
            return
        baro_dt = 1.0 / self.spec.baro_rate_hz if self.spec.baro_rate_hz else math.inf
        while self.k + 1 < len(t) and t[self.k + 1] < t_until:
            k = self.k = self.k + 1
            tk = float(t[k])
            filt.propagate(self.gyro[k], self.accel[k], tk - float(t[k - 1]))
            if tk >= self.next_baro:
                self._baro(tk)
                self.next_baro += baro_dt
            if tk >= self.next_state:
                self._state(tk)
                self.next_state += 1.0 / replay_module.STATE_RATE_HZ


def _events(clip, fixes: list[Fix], spec: EskfSpec) -> list[tuple[str, dict]]:
    events: list[tuple[str, dict]] = []

    def emit(stage: str, type: str, **fields: object) -> None:
        if type not in ("throughput",) and stage != "latency":  # timings differ
            events.append((f"{stage}/{type}", json_ready(fields)))

    replay(clip, fixes, spec, emit)
    return events


def _clip(faults: list | None = None):
    synth = {"preset": "derkachi-10s", "seed": 5} | ({"faults": faults} if faults else {})
    return load_clip(ClipRef.model_validate({"synth": synth}), Segment(), REPO / ".cache")


def _fixes(clip, times, offsets=None, nan_at=()) -> list[Fix]:
    truth = clip.truth
    offsets = offsets or {}
    fixes = []
    for n, t in enumerate(times):
        z = truth.p_ned_m[truth.index_at(t), :2] + offsets.get(n, 0.0)
        fixes.append(
            Fix(float(t), (math.nan, 0.0) if n in nan_at else tuple(z.tolist()), 25.0, "t")
        )
    return fixes


def _thinned(clip, keep):
    imu = clip.imu
    return replace(clip, imu=ImuStream(imu.t_s[keep], imu.gyro_rad_s[keep], imu.accel_m_s2[keep]))


def _with_nan_gyro(clip, at_s: float):
    gyro = clip.imu.gyro_rad_s.copy()
    gyro[np.searchsorted(clip.imu.t_s, at_s)] = math.nan
    return replace(clip, imu=replace(clip.imu, gyro_rad_s=gyro))


def _case(name: str):
    """(clip, fixes, spec) for each case: faults in the fixes, the IMU and the filter."""
    clip = _clip()
    every = np.arange(0.53, clip.duration_s, 0.7)  # off the IMU's and the state log's grid
    if name == "rejected-and-nan-fix":  # a 300 m jump the gate rejects, a NaN fix
        return clip, _fixes(clip, every, {4: 300.0, 10: 300.0, 16: 300.0}, nan_at={7}), {}
    if name == "fix-dropout-and-reset":  # no fixes 3-7 s; the filter resets after 2 s
        times = [t for t in np.arange(1.0, clip.duration_s, 1.0) if not 3 <= t < 7]
        return clip, _fixes(clip, times, {n: 400.0 for n in (2,)}), {"reset_after_s": 2.0}
    if name == "held-offset":  # 200 m for four fixes at a wide sigma
        return clip, _fixes(clip, every, {n: 200.0 for n in range(5, 9)}), {"gate_nis": 30.0}
    if name == "gyro-bias-step":
        stepped = _clip([{"kind": "imu_bias_step", "at_s": 4.0, "gyro_rad_s": [0.05, 0, 0]}])
        return stepped, _fixes(stepped, every), {}
    if name == "imu-dropouts":  # gaps in the IMU: short runs, runs across a gap
        t = clip.imu.t_s
        keep = ~(((t > 2.0) & (t < 2.6)) | ((t > 5.51) & (t < 5.53)))
        return _thinned(clip, keep), _fixes(clip, every), {"baro_rate_hz": 3.0}
    if name == "nan-gyro-sample":  # the covariance turns non-finite mid-run: D0 where it does
        return _with_nan_gyro(clip, 4.27), _fixes(clip, every), {}
    raise AssertionError(name)


CASES = [
    "rejected-and-nan-fix",
    "fix-dropout-and-reset",
    "held-offset",
    "gyro-bias-step",
    "imu-dropouts",
    "nan-gyro-sample",
]


def _same_events(clip, fixes: list[Fix], spec: EskfSpec, monkeypatch) -> list:
    batched = _events(clip, fixes, spec)
    with monkeypatch.context() as patched:
        patched.setattr(replay_module, "Replay", PerSample)
        patched.setattr("harness.reference.eskf.navigate.Replay", PerSample)
        reference = _events(clip, fixes, spec)
    assert [kind for kind, _ in batched] == [kind for kind, _ in reference]
    for (kind, got), (_, want) in zip(batched, reference, strict=True):
        assert got.keys() == want.keys(), kind
        for key, value in want.items():
            if isinstance(value, (int, float, list)) and not isinstance(value, bool):
                np.testing.assert_allclose(
                    np.asarray(got[key], float), np.asarray(value, float), rtol=1e-9, atol=1e-9,
                    err_msg=f"{kind} {key}",
                )  # fmt: skip
            else:
                assert got[key] == value, (kind, key)
    return batched


@pytest.mark.parametrize("baro_rate_hz", [1.0, 7.0, None])
def test_batched_replay_emits_what_the_per_sample_loop_does(baro_rate_hz, monkeypatch) -> None:
    clip, fixes, _ = _case("rejected-and-nan-fix")
    events = _same_events(clip, fixes, EskfSpec(baro_rate_hz=baro_rate_hz), monkeypatch)
    assert sum(kind == "eskf/state" for kind, _ in events) >= 90  # 10 Hz over ~9.5 s


@pytest.mark.parametrize("name", CASES)
def test_batched_replay_emits_what_the_per_sample_loop_does_under_faults(name, monkeypatch) -> None:
    clip, fixes, spec = _case(name)
    events = _same_events(clip, fixes, EskfSpec(**spec), monkeypatch)
    kinds = [kind for kind, _ in events]
    states = [e for kind, e in events if kind == "eskf/state"]
    assert len(states) >= 90
    if name == "fix-dropout-and-reset":
        assert "eskf/reset" in kinds
    if name == "imu-dropouts":
        assert kinds.count("eskf/imu-dropout") == 2
    if name == "nan-gyro-sample":  # caught at the first state after the sample, and on
        bad = [s["t_s"] for s in states if s["numerical"] is not None]
        assert bad and 4.27 <= bad[0] < 4.4
        assert all(
            s["numerical"] == "non-finite state or covariance" for s in states if s["t_s"] >= bad[0]
        )
