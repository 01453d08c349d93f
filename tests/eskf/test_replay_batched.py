"""The stage's replay propagates runs of samples in one call; its events are those of the
plain per-sample loop (`Eskf.propagate` once per sample, baro then state log as they fall due)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from harness.clip import ClipRef, Segment, load_clip
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


@pytest.mark.parametrize("baro_rate_hz", [1.0, 7.0, None])
def test_batched_replay_emits_what_the_per_sample_loop_does(baro_rate_hz, monkeypatch) -> None:
    ref = ClipRef.model_validate({"synth": {"preset": "derkachi-10s", "seed": 5}})
    clip = load_clip(ref, Segment(), REPO / ".cache")
    truth = clip.truth
    fixes = [  # off-grid times, a 300 m jump that the gate rejects, a NaN fix
        Fix(float(t), tuple((truth.p_ned_m[truth.index_at(t), :2] + off).tolist()), 25.0, "t")
        for t, off in zip(
            np.arange(0.53, clip.duration_s, 0.7), [0, 0, 0, 0, 300, 0] * 3, strict=False
        )
    ]
    fixes[7] = Fix(fixes[7].t_s, (math.nan, 0.0), 25.0, "t")
    spec = EskfSpec(baro_rate_hz=baro_rate_hz)
    batched = _events(clip, fixes, spec)
    monkeypatch.setattr(replay_module, "Replay", PerSample)
    monkeypatch.setattr("harness.reference.eskf.navigate.Replay", PerSample)
    reference = _events(clip, fixes, spec)
    assert [kind for kind, _ in batched] == [kind for kind, _ in reference]
    assert sum(kind == "eskf/state" for kind, _ in batched) >= 90  # 10 Hz over ~9.5 s
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
